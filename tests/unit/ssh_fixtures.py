"""Shared helpers for the SSH unit tests: the real CLI recordings and the command they belong to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chmd.collect.ssh.commandset import Command, builtin_command_set

CLI_ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "cli"
GOLDEN_ROOT = Path(__file__).resolve().parent / "golden" / "ssh"


@dataclass(frozen=True)
class Recording:
    platform: str
    command: str  # as the device was asked, e.g. "show interfaces"
    raw: Path

    @property
    def id(self) -> str:
        return self.raw.stem

    def text(self) -> str:
        return self.raw.read_text(encoding="utf-8")

    def expected(self) -> list[dict[str, Any]]:
        """ntc-templates' expected parse of the recording (`parsed_sample`)."""
        data = yaml.safe_load(self.raw.with_suffix(".yml").read_text(encoding="utf-8"))
        return list(data["parsed_sample"])


def recordings() -> list[Recording]:
    """Every `.raw` under tests/fixtures/cli/<platform>/<command_with_underscores>/."""
    found = [
        Recording(raw.parent.parent.name, raw.parent.name.replace("_", " "), raw)
        for raw in sorted(CLI_ROOT.glob("*/*/*.raw"))
    ]
    assert found, f"no CLI recordings under {CLI_ROOT}"
    return found


def command_for(rec: Recording) -> Command:
    """The built-in command (enabled or not) that reads this recording's output."""
    for command in builtin_command_set(rec.platform).commands:
        if command.command == rec.command:
            return command
    raise LookupError(f"{rec.platform} has no built-in command {rec.command!r}")
