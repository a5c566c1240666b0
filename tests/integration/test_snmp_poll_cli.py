"""`chmd poll` as users run it (click runner in-process) against snmpsim."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import invoke_cli

pytestmark = pytest.mark.integration


def run(*args: str) -> Any:
    return invoke_cli(["poll", *args])


def adhoc(snmpsim: Any, community: str, *args: str) -> Any:
    """`chmd poll --host/--port` of the shared snmpsim with `community` (a recording)."""
    return run("--host", snmpsim.host, "--port", str(snmpsim.port), "--community", community, *args)


def test_adhoc_lp_is_line_protocol_with_the_recorded_values(snmpsim: Any) -> None:
    """--format lp prints interface lines tagged with the recorded ifName and values."""
    result = adhoc(snmpsim, "ios_c3560", "--name", "sw3560")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("system,agent_host=127.0.0.1,device=sw3560 sysDescr=")
    assert 'vendor="cisco"' in result.stdout  # sysDescr holds newlines, so the line continues
    memory = next(line for line in lines if line.startswith("memory,") and "name=Processor" in line)
    assert "used=20103300i" in memory
    interfaces = [line for line in lines if line.startswith("interface,")]
    assert len(interfaces) == 58
    assert all(",device=sw3560," in line for line in interfaces)


def test_json_format_and_rates(snmpsim: Any) -> None:
    """--format json --rates prints samples of the second poll, carrying rate fields."""
    result = adhoc(snmpsim, "iosxe_c9300-live", "--format", "json", "--rates", "--wait", "2")
    assert result.exit_code == 0, result.output
    samples = json.loads(result.stdout)
    rates = [
        s for s in samples if s["measurement"] == "interface" and "in_octets_rate" in s["fields"]
    ]
    assert rates


def test_dead_target_exits_1_with_the_step_and_reason(snmpsim: Any) -> None:
    """A wrong community: nothing printed on stdout, exit 1, `get system: timeout` on stderr."""
    result = adhoc(snmpsim, "no-such-recording", "--timeout", "0.3", "--retries", "0")
    assert result.exit_code == 1
    assert "get system: timeout" in result.stderr
    assert "no-such-recording" not in result.stderr


def test_inventory_device(snmpsim: Any, tmp_path: Path) -> None:
    """`chmd poll DEVICE` polls a device from the inventory of -c chmd.yaml."""
    (tmp_path / "chmd.yaml").write_text("inventory:\n  files: [devices.yaml]\nstate_dir: state\n")
    (tmp_path / "devices.yaml").write_text(
        "devices:\n"
        "  edge1:\n"
        f"    host: {snmpsim.host}\n"
        f"    snmp: {{port: {snmpsim.port}, community: env:CHMD_TEST_COMMUNITY}}\n"
    )
    result = invoke_cli(
        ["poll", "-c", str(tmp_path / "chmd.yaml"), "edge1", "--format", "table"],
        env={"CHMD_TEST_COMMUNITY": "junos"},
    )
    assert result.exit_code == 0, result.output
    assert "vendor=juniper" in result.stdout


def test_unknown_inventory_device_is_a_config_error(tmp_path: Path) -> None:
    """A DEVICE not in the inventory exits 78 naming it."""
    (tmp_path / "chmd.yaml").write_text("inventory:\n  files: [devices.yaml]\nstate_dir: state\n")
    (tmp_path / "devices.yaml").write_text("devices:\n  a:\n    host: 127.0.0.1\n")
    result = run("-c", str(tmp_path / "chmd.yaml"), "nope")
    assert result.exit_code == 78
    assert "no device 'nope'" in result.stderr
