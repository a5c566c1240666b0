"""Command-set YAML: validated and compiled once; scheduling of per-command intervals."""

from __future__ import annotations

from pathlib import Path

import pytest

from chmd.collect.ssh.collector import is_due
from chmd.collect.ssh.commandset import builtin_command_set, load_command_set_file
from chmd.errors import ConfigError


def test_cisco_xe_uses_the_ios_set() -> None:
    """IOS-XE speaks IOS's CLI: `cisco_xe` gets the cisco_ios command set."""
    assert builtin_command_set("cisco_xe") == builtin_command_set("cisco_ios")


def test_builtin_sets_have_the_issue_commands() -> None:
    """Both platforms run version, cpu, memory, environment, interfaces, inventory, ip brief."""
    ios = {c.command for c in builtin_command_set("cisco_ios").commands if c.enabled}
    assert {"show version", "show processes cpu", "show processes memory sorted",
            "show environment temperature", "show interfaces", "show inventory",
            "show ip interface brief", "show logging"} <= ios  # fmt: skip
    nxos = {c.command for c in builtin_command_set("cisco_nxos").commands if c.enabled}
    assert {"show version", "show processes cpu", "show system resources", "show environment",
            "show interface", "show inventory", "show ip interface brief"} <= nxos  # fmt: skip


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "set.yaml"
    path.write_text("platform: x\nntc_platform: cisco_ios\ncommands:\n" + body)
    return path


def test_unknown_converter_names_the_command(tmp_path: Path) -> None:
    """A typo in a converter fails at load, naming the command, the field and the choices."""
    body = "      - measurement: system\n        fields: {uptime: 'uptime | secs'}\n"
    path = write(tmp_path, "  - command: show version\n    samples:\n" + body)
    with pytest.raises(
        ConfigError, match=r"show version.*fields\.uptime: unknown converter 'secs'"
    ):
        load_command_set_file(path)


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    """An unknown key in a command is an error with its location."""
    path = write(tmp_path, "  - command: show version\n    intervall: 5m\n    samples: []\n")
    with pytest.raises(ConfigError, match=r"commands\.0\.intervall"):
        load_command_set_file(path)


def test_missing_template_file(tmp_path: Path) -> None:
    """`parser: template` with a template chmd does not ship fails at load."""
    path = write(tmp_path, "  - command: show x\n    parser: template\n    template: nope.textfsm\n"
                 "    samples: []\n")  # fmt: skip
    with pytest.raises(ConfigError, match=r"no template 'nope\.textfsm'"):
        load_command_set_file(path)


def test_interval_scheduling() -> None:
    """A 5m command on a 60s device runs on the first poll, then once every 5 polls."""
    last: float | None = None
    ran = []
    for poll in range(11):
        now = poll * 60.0 + (0.3 if poll % 2 else -0.3)  # polls drift a little
        if is_due(last, 300.0, 60.0, now):
            ran.append(poll)
            last = now
    assert ran == [0, 5, 10]
    assert is_due(0.0, None, 60.0, 1.0)


def test_ntc_command_without_template(tmp_path: Path) -> None:
    """`parser: ntc` for a command ntc-templates cannot parse fails at load, not at poll."""
    path = write(tmp_path, "  - command: show frobnicator\n    samples: []\n")
    with pytest.raises(ConfigError, match="no cisco_ios template for this command"):
        load_command_set_file(path)
