"""SnmpCollector against net-snmp snmpd: v3 authPriv, wrong keys, dead port, wrong community."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from harness.aio import run_sync
from helpers import poll_once

from chmd.collect.snmp.collector import SnmpCollector
from chmd.collect.snmp.profiles import load_profiles
from chmd.inventory.schema import Device
from chmd.model import PollResult

pytestmark = pytest.mark.integration
PROFILES = load_profiles()


def poll(snmp: dict[str, Any], host: str = "127.0.0.1") -> PollResult:
    dev = Device.model_validate(
        {"name": "r1", "host": host, "timeout": 20, "snmp": {"timeout": 1, "retries": 1, **snmp}}
    )
    return poll_once(SnmpCollector(PROFILES), dev)


def v3(agent: Any, user: str, auth: str, auth_key: str = "authpass123") -> dict[str, Any]:
    return {
        "version": "3",
        "port": agent.port,
        "user": user,
        "auth_protocol": auth,
        "auth_key": auth_key,
        "priv_protocol": "AES",
        "priv_key": "privpass123",
    }


@pytest.mark.parametrize(("user", "auth"), [("netmonv3", "SHA"), ("netmonv3s256", "SHA256")])
def test_v3_auth_priv_polls(snmpd: Any, user: str, auth: str) -> None:
    """SHA/AES and SHA-256/AES users read the system group and the interfaces."""
    result = poll(v3(snmpd, user, auth))
    assert result.errors == ()
    assert any(s.measurement == "interface" for s in result.samples)
    system = next(s for s in result.samples if s.measurement == "system")
    assert system.fields["vendor"] == "net-snmp"


def test_v3_wrong_key_is_an_auth_failure_not_a_timeout(snmpd: Any) -> None:
    """A wrong auth key gives reason `auth` (usmStats report), in step `get system`."""
    result = poll(v3(snmpd, "netmonv3", "SHA", auth_key="wrong-pass-123"))
    assert [(e.reason, e.step) for e in result.errors] == [("auth", "get system")]
    assert "authentication failed" in result.errors[0].message
    assert "wrong-pass-123" not in result.errors[0].message


def test_v2c_fast_path_polls(snmpd: Any) -> None:
    """v2c `public` through the fast codec reads interfaces and host resources."""
    result = poll({"community": "public", "port": snmpd.port})
    assert result.errors == ()
    assert {"system", "interface"} <= {s.measurement for s in result.samples}


def test_host_memory_does_not_count_buffers_and_cache(snmpd: Any) -> None:
    """net-snmp on this Linux host: the `memory` sample "Physical memory" is hrStorage's RAM
    row minus "Memory buffers" and "Cached memory" (what the kernel gives back), in bytes."""
    result = poll({"community": "public", "port": snmpd.port})
    assert result.errors == ()
    storage = {s.tags["name"]: s.fields for s in result.samples if s.measurement == "storage"}
    memory = next(
        s
        for s in result.samples
        if s.measurement == "memory" and s.tags["name"] == "Physical memory"
    )
    ram = storage["Physical memory"]
    given_back = storage["Memory buffers"]["used"] + storage["Cached memory"]["used"]
    assert given_back > 0  # a running Linux host always has some page cache
    assert memory.fields["total"] == ram["total"]
    assert memory.fields["used"] == max(0, ram["used"] - given_back)
    assert memory.fields["used_percent"] < ram["used_percent"]


def test_wrong_community_times_out(snmpd: Any) -> None:
    """snmpd ignores a wrong community: the poll fails with reason timeout naming the step."""
    result = poll({"community": "nope", "port": snmpd.port})
    assert not result.ok
    assert [(e.reason, e.step) for e in result.errors] == [("timeout", "get system")]


def test_unreachable_port_times_out() -> None:
    """Nothing listening on the port: reason timeout, not a crash."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = poll({"community": "public", "port": port})
    assert [e.reason for e in result.errors] == ["timeout"]


def test_v1_polls_with_getnext_walks(snmpd: Any) -> None:
    """SNMPv1 (no GETBULK; noSuchName at the end of the MIB) reads the same interfaces as v2c."""
    v1 = poll({"version": "1", "community": "public", "port": snmpd.port})
    v2 = poll({"community": "public", "port": snmpd.port})
    assert v1.errors == ()
    names_v1 = sorted(s.tags.get("ifDescr", "") for s in v1.samples if s.measurement == "interface")
    names_v2 = sorted(s.tags.get("ifDescr", "") for s in v2.samples if s.measurement == "interface")
    assert names_v1 == names_v2
    assert names_v1


def test_v3_polls_again_without_spurious_errors(snmpd: Any) -> None:
    """Three v3 polls in a row on one collector (engine discovered once) all succeed."""
    dev = Device.model_validate(
        {"name": "r1", "host": "127.0.0.1", "snmp": {"timeout": 2, **v3(snmpd, "netmonv3", "SHA")}}
    )
    collector = SnmpCollector(PROFILES)

    async def three() -> list[PollResult]:
        try:
            return [await collector.poll(dev) for _ in range(3)]
        finally:
            await collector.aclose()

    results = run_sync(three())
    assert [r.errors for r in results] == [(), (), ()]
    assert all(r.ok for r in results)


@pytest.mark.parametrize(("change", "value"), [("priv_key", "wrong-priv-123"), ("user", "nobody")])
def test_v3_wrong_priv_key_or_user_is_an_auth_failure(snmpd: Any, change: str, value: str) -> None:
    """A wrong privacy key or an unknown user also gives reason `auth`, not `timeout`."""
    result = poll({**v3(snmpd, "netmonv3", "SHA"), change: value})
    assert [(e.reason, e.step) for e in result.errors] == [("auth", "get system")]
