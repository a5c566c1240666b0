"""chmd: the Catalyst Health Monitor daemon."""

__version__ = "0.1.0"
