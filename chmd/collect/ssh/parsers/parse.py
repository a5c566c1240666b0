"""CLI output → TextFSM records, with the device's own error messages recognised. Pure."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import textfsm
from ntc_templates.parse import parse_output

from chmd.collect.ssh.commandset import Command
from chmd.collect.ssh.errors import UnsupportedCommand
from chmd.errors import ParseError

Record = dict[str, Any]
"""One TextFSM row: lower-case value names → str (or list[str] for List values)."""

_CLI_ERROR = re.compile(
    r"^\s*% ?(Invalid input|Invalid command|Incomplete command|Ambiguous command|"
    r"Unknown command|Unrecognized command|Permission denied)",
    re.MULTILINE,
)
_TEMPLATES: dict[Path, Any] = {}  # compiled TextFSM per own template (asyncio: one user)


def check_cli_error(device: str, command: str, text: str) -> None:
    """Raise UnsupportedCommand when the device rejected the command (`% Invalid input …`)."""
    match = _CLI_ERROR.search(text)
    if match:
        raise UnsupportedCommand(
            f"{device}: {command!r} rejected by the device ({match.group(1)})", step=command
        )


def _parse_template(path: Path, text: str) -> list[Record]:
    """Parse with one of chmd's own templates, compiled once and reset per use."""
    fsm = _TEMPLATES.get(path)
    if fsm is None:
        fsm = _TEMPLATES[path] = textfsm.TextFSM(io.StringIO(path.read_text(encoding="utf-8")))
    fsm.Reset()
    return [{k.lower(): v for k, v in row.items()} for row in fsm.ParseTextToDicts(text)]


def parse_records(device: str, command: Command, text: str) -> list[Record]:
    """CLI text → TextFSM records; raises UnsupportedCommand or ParseError (device, command)."""
    check_cli_error(device, command.command, text)
    try:
        if command.template_path is not None:
            records = _parse_template(command.template_path, text)
        else:
            records = parse_output(
                platform=command.ntc_platform, command=command.command, data=text
            )
    except Exception as exc:  # textfsm/clitable raise many types: one boundary
        raise ParseError(
            f"{device}: cannot parse {command.command!r}: {type(exc).__name__}",
            step=command.command,
        ) from exc
    if not records and not command.allow_empty:
        first = next((line for line in text.splitlines() if line.strip()), "")[:80]
        raise ParseError(
            f"{device}: {command.command!r} output did not match the template "
            f"({len(text)} chars, first line {first!r})",
            step=command.command,
        )
    return list(records)
