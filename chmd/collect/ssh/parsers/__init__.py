"""Pure parsing of CLI output: converters, TextFSM records, records → samples."""
