"""SshCollector against Debian's OpenSSH (harness fixture `sshd`) playing a Cisco IOS device.

The server's forced command answers with real recordings from tests/fixtures/cli (the
harness picks: `show version` is a Catalyst 9500 on IOS-XE 16.12.4, `show interfaces` four
TwentyFiveGigE ports).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from chmd.collect.ssh.client import record_host_key
from chmd.collect.ssh.collector import SshCollector
from chmd.collect.ssh.settings import SshCollectorSettings
from chmd.inventory.schema import Device
from chmd.model import PollResult

pytestmark = pytest.mark.integration


def device(sshd: Any, **ssh: Any) -> Device:
    access: dict[str, Any] = {
        "port": sshd.port,
        "user": sshd.user,
        "password": sshd.password,
        "known_hosts": str(sshd.known_hosts),
        "command_timeout": "20s",
    }
    access.update(ssh)
    return Device.model_validate(
        {"name": "c9500", "host": "127.0.0.1", "timeout": "60s", "ssh": access}
    )


@pytest.fixture
async def collector(tmp_path: Path) -> AsyncIterator[SshCollector]:
    coll = SshCollector(state_dir=tmp_path)
    yield coll
    await coll.aclose()


def reasons(result: PollResult) -> dict[str, str]:
    return {e.step: e.reason for e in result.errors}


def system(result: PollResult) -> dict[str, Any]:
    (sample,) = [s for s in result.samples if s.measurement == "system"]
    return dict(sample.fields)


async def test_password_login(sshd: Any, collector: SshCollector) -> None:
    """Password login; every built-in IOS command answers and becomes samples."""
    result = await collector.poll(device(sshd))
    assert result.errors == ()
    assert system(result)["version"] == "16.12.4"
    assert system(result)["model"] == "C9500-48Y4C"
    names = sorted(s.tags["ifName"] for s in result.samples if s.measurement == "interface")
    assert names == ["Twe2/0/32", "Twe2/0/33", "Twe2/0/34", "Twe2/0/35"]


async def test_key_login(sshd: Any, collector: SshCollector) -> None:
    """Public-key login with the harness client key and no password."""
    result = await collector.poll(device(sshd, password=None, key_file=str(sshd.client_key)))
    assert result.errors == ()
    assert system(result)["hostname"] == "Switch-Hostname"


async def test_wrong_password(sshd: Any, collector: SshCollector) -> None:
    """OpenSSH rejecting the password is reason `auth` at the `connect` step."""
    result = await collector.poll(device(sshd, password="not-the-password"))
    assert reasons(result) == {"connect": "auth"}


async def test_unknown_host_refused(sshd: Any, collector: SshCollector, tmp_path: Path) -> None:
    """Strict checking refuses the server when known_hosts lacks its key."""
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    result = await collector.poll(device(sshd, known_hosts=str(empty)))
    assert reasons(result) == {"connect": "host_key"}
    assert "unknown" in result.errors[0].message


async def test_changed_host_key_refused(sshd: Any, collector: SshCollector, tmp_path: Path) -> None:
    """A different recorded key for the server's host:port is refused as CHANGED."""
    other = tmp_path / "known_hosts"
    record_host_key(other, "127.0.0.1", sshd.port, asyncssh.generate_private_key("ssh-ed25519"))
    result = await collector.poll(device(sshd, known_hosts=str(other)))
    assert reasons(result) == {"connect": "host_key"}
    assert "CHANGED" in result.errors[0].message


def _own_set(tmp_path: Path, session: str, extra: str = "") -> Path:
    path = tmp_path / f"ios_{session}.yaml"
    path.write_text(
        f"platform: cisco_ios\nntc_platform: cisco_ios\nsession: {session}\n"
        "pagination: terminal length 0\ncommands:\n"
        "  - command: show version\n    samples:\n"
        "      - measurement: system\n"
        "        fields: {version: version, uptime: 'uptime | uptime_s'}\n"
        "  - command: show interfaces\n    parser: template\n"
        "    template: cisco_ios_show_interfaces.textfsm\n    samples:\n"
        "      - measurement: interface\n        tags: {ifDescr: '{interface}'}\n"
        "        fields: {ifMtu: 'mtu | int', ifHCInOctets: 'input_bytes | int'}\n" + extra
    )
    return path


async def _poll_with(sshd: Any, path: Path, state: Path) -> PollResult:
    settings = SshCollectorSettings(command_sets={"cisco_ios": str(path)})
    coll = SshCollector(settings, state_dir=state)
    try:
        return await coll.poll(device(sshd))
    finally:
        await coll.aclose()


async def test_interactive_session_with_pagination_off(sshd: Any, tmp_path: Path) -> None:
    """An interactive shell (pty) that first sends `terminal length 0` reads the same samples
    as exec channels."""
    shell = await _poll_with(sshd, _own_set(tmp_path, "interactive"), tmp_path)
    execd = await _poll_with(sshd, _own_set(tmp_path, "exec"), tmp_path)
    assert shell.errors == ()
    assert [(s.measurement, dict(s.tags), dict(s.fields)) for s in shell.samples] == [
        (s.measurement, dict(s.tags), dict(s.fields)) for s in execd.samples
    ]
    assert len(shell.samples) == 5


@pytest.mark.parametrize("session", ["exec", "interactive"])
async def test_unsupported_command(sshd: Any, tmp_path: Path, session: str) -> None:
    """A command the device rejects (`% Invalid input`) fails alone with reason `unsupported`."""
    bogus = (
        "  - command: show platform frobnicator\n    parser: template\n"
        "    template: cisco_ios_show_interfaces.textfsm\n    samples:\n"
        "      - measurement: x\n        fields: {y: z}\n"
    )
    result = await _poll_with(sshd, _own_set(tmp_path, session, bogus), tmp_path)
    assert reasons(result) == {"show platform frobnicator": "unsupported"}
    assert {s.measurement for s in result.samples} == {"system", "interface"}


async def test_interface_rates_from_two_polls(sshd_factory: Any, collector: SshCollector) -> None:
    """An SSH-only device gets SNMP's derived interface fields: between two polls the
    recording's Twe2/0/32 input bytes go 0 → 1,500,000, so its ifHCInOctets_rate and
    in_octets_rate are positive and in_utilization is that rate against BW 25 Gbit/s; then
    `clear counters` (bytes back down) gives no rate for that poll."""
    server = await asyncio.to_thread(sshd_factory)
    dev = device(server)
    interfaces_file = server.base / "cli" / "outputs" / "show_interfaces.txt"
    recorded = interfaces_file.read_text()
    first_input = "     0 packets input, 0 bytes,"

    def interface(result: PollResult, name: str) -> dict[str, Any]:
        (sample,) = [
            s for s in result.samples if s.measurement == "interface" and s.tags["ifName"] == name
        ]
        return dict(sample.fields)

    baseline = await collector.poll(dev, run_all=True)
    assert baseline.errors == ()
    assert "ifHCInOctets_rate" not in interface(baseline, "Twe2/0/32")
    interfaces_file.write_text(
        recorded.replace(first_input, "     1000 packets input, 1500000 bytes,", 1)
    )
    moved = await collector.poll(dev, run_all=True)
    fields = interface(moved, "Twe2/0/32")
    assert fields["ifHCInOctets"] == 1_500_000
    assert fields["ifHCInOctets_rate"] > 0
    assert fields["in_octets_rate"] == fields["ifHCInOctets_rate"]
    assert fields["in_utilization"] == pytest.approx(
        fields["in_octets_rate"] * 8 * 100 / 25_000_000_000
    )
    assert interface(moved, "Twe2/0/33")["ifHCInOctets_rate"] == 0.0
    interfaces_file.write_text(
        recorded.replace(first_input, "     10 packets input, 600 bytes,", 1)
    )
    cleared = await collector.poll(dev, run_all=True)
    assert "ifHCInOctets_rate" not in interface(cleared, "Twe2/0/32")
    assert collector.rate_stats("c9500")["reset"] >= 1
