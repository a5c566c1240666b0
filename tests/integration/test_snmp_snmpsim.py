"""SnmpCollector against snmpsim serving every real recording (and its live variants)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from harness.aio import run_sync
from harness.snmp import LIVE_RATES, recordings, write_data_dir
from helpers import poll_once

from chmd.collect.snmp import ber
from chmd.collect.snmp.client import FastClient, SnmpTarget
from chmd.collect.snmp.collector import SnmpCollector
from chmd.collect.snmp.profiles import load_profiles
from chmd.collect.snmp.pysnmp_client import PysnmpClient, new_pysnmp_engine
from chmd.collect.snmp.snmprec import read_snmprec
from chmd.collect.snmp.transport import UdpEngine
from chmd.inventory.schema import Device
from chmd.model import PollResult, Sample

pytestmark = pytest.mark.integration
SNMPREC = Path(__file__).resolve().parents[1] / "fixtures" / "snmprec"
PROFILES = load_profiles()
EXPECTED_OS = {
    "arista_eos": ("arista", "eos"),
    "ios": ("cisco", "ios"),
    "ios_2960x": ("cisco", "ios"),
    "ios_c3560": ("cisco", "ios"),
    "ios_ie32008t2s-ios17-12": ("cisco", "ios"),
    "ios_stp-vlans": ("cisco", "ios"),
    "iosxe": ("cisco", "iosxe"),
    "iosxe_c9300": ("cisco", "iosxe"),
    "iosxe_isr4321": ("cisco", "iosxe"),
    "junos": ("juniper", "junos"),
    "linux": ("net-snmp", "linux"),
    "nxos_n3k-3064pq": ("cisco", "nxos"),
}
IF_NAME, IF_ALIAS, IF_OPER = (
    (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1),
    (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 18),
    (1, 3, 6, 1, 2, 1, 2, 2, 1, 8),
)


def device(agent: Any, community: str, **snmp: Any) -> Device:
    return Device.model_validate(
        {
            "name": community,
            "host": agent.host,
            "timeout": 30,
            "snmp": {
                "community": community,
                "port": agent.port,
                "timeout": 3,
                "retries": 2,
                **snmp,
            },
        }
    )


def by_index(result: PollResult) -> dict[str, Sample]:
    return {s.tags["ifIndex"]: s for s in result.samples if s.measurement == "interface"}


def recorded_column(name: str, column: ber.OID) -> dict[str, Any]:
    n = len(column)
    return {
        ber.format_oid(oid[n:]): value
        for oid, _, value in read_snmprec(SNMPREC / f"{name}.snmprec")
        if oid[:n] == column
    }


@pytest.mark.parametrize("name", sorted(EXPECTED_OS))
def test_every_recording_is_classified_and_its_interfaces_read_as_recorded(
    snmpsim: Any, name: str
) -> None:
    """Vendor/OS classification, and ifName/ifAlias/ifOperStatus per index exactly as recorded."""
    assert name in recordings()
    result = poll_once(SnmpCollector(PROFILES), device(snmpsim, name))
    assert [e for e in result.errors if e.reason != "no_such_object"] == []
    system = next(s for s in result.samples if s.measurement == "system")
    assert (system.fields["vendor"], system.fields["os"]) == EXPECTED_OS[name]
    interfaces = by_index(result)
    for column, tag in ((IF_NAME, "ifName"), (IF_ALIAS, "ifAlias")):
        for index, value in recorded_column(name, column).items():
            text = value.decode("utf-8", "replace").strip()
            if text:
                assert interfaces[index].tags[tag] == text
    for index, value in recorded_column(name, IF_OPER).items():
        assert interfaces[index].fields["ifOperStatus"] == value


def test_cisco_cpu_memory_temperature_as_recorded(snmpsim: Any) -> None:
    """ios_2960x: CPU 5-min 53 %, Processor pool used 50661572 B, switch 1 temperature 44 °C."""
    result = poll_once(SnmpCollector(PROFILES), device(snmpsim, "ios_2960x"))
    cpu = next(s for s in result.samples if s.measurement == "cpu")
    assert cpu.fields["usage"] == 53
    pool = next(
        s for s in result.samples if s.measurement == "memory" and s.tags["name"] == "Processor"
    )
    assert pool.fields["used"] == 50661572
    temp = next(
        s
        for s in result.samples
        if s.measurement == "sensor" and s.tags.get("name") == "SW#1, Sensor#1, GREEN"
    )
    assert temp.fields["value"] == 44


def test_fast_client_and_pysnmp_read_the_same_varbinds(snmpsim: Any) -> None:
    """Differential: a multi-column GETBULK walk and a packed GET agree between both clients."""
    target = SnmpTarget(
        host=snmpsim.host, port=snmpsim.port, community=None, timeout_s=3, retries=2
    )
    from chmd.configtypes import Secret

    target = SnmpTarget(
        host=snmpsim.host,
        port=snmpsim.port,
        community=Secret("nxos_n3k-3064pq"),
        timeout_s=3,
        retries=2,
    )
    columns = [(1, 3, 6, 1, 2, 1, 2, 2, 1, c) for c in (2, 7, 8)] + [
        (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, c) for c in (1, 6, 18)
    ]
    scalars = [(1, 3, 6, 1, 2, 1, 1, c, 0) for c in (1, 2, 3, 5)] + [(1, 3, 6, 1, 2, 1, 1, 99, 0)]

    async def both() -> tuple[Any, Any]:
        engine = UdpEngine()
        fast = FastClient(target, engine)
        snmp_engine = new_pysnmp_engine()
        ref = PysnmpClient(target, snmp_engine)
        try:
            return (await fast.walk(columns), await fast.get(scalars)), (
                await ref.walk(columns),
                await ref.get(scalars),
            )
        finally:
            engine.close()
            snmp_engine.close_dispatcher()

    ours, theirs = run_sync(both())
    assert ours == theirs
    assert sum(len(v) for v in ours[0].values()) > 200
    assert ours[1][-1][1] in (ber.NO_SUCH_OBJECT, ber.NO_SUCH_INSTANCE)


def rate_poll(collector: SnmpCollector, dev: Device, gap_s: float) -> PollResult:
    poll_once(collector, dev)
    time.sleep(gap_s)
    return poll_once(collector, dev)


def test_live_rates_within_one_percent(snmpsim: Any) -> None:
    """iosxe_c9300-live: HC and 32-bit octet rates within 1 % of the agent's configured rates."""
    # 8 s apart: snmpsim computes each value while it builds a slow response, so on a loaded
    # 2-core machine its own scheduling delays (tens of ms) must stay well under 1 % of the gap
    result = rate_poll(SnmpCollector(PROFILES), device(snmpsim, "iosxe_c9300-live"), 8.0)
    rows = by_index(result).values()
    hc = [s.fields["ifHCInOctets_rate"] for s in rows if "ifHCInOctets_rate" in s.fields]
    low = [s.fields["ifInOctets_rate"] for s in rows if "ifInOctets_rate" in s.fields]
    assert hc
    assert low
    for rate in hc:
        assert rate == pytest.approx(LIVE_RATES["ifHCInOctets"], rel=0.01)
    for rate in low:
        assert rate == pytest.approx(LIVE_RATES["ifInOctets"], rel=0.01)


def test_counter32_wrap_gives_the_right_rate(snmpsim_factory: Any, tmp_path: Path) -> None:
    """Counter32 ifInOctets wrapping between polls still yields the configured rate."""
    wrap_s = 20.0  # after the agent starts: room for a slow warm-up on a loaded machine
    write_data_dir(tmp_path, ["iosxe_c9300"], wrap_after_s=wrap_s)
    agent = snmpsim_factory(data_dir=tmp_path)
    started = time.monotonic()  # the agent started a little earlier: it already answers
    collector = SnmpCollector(PROFILES)
    dev = device(agent, "iosxe_c9300-live")
    poll_once(collector, dev)  # warm-up: a fresh agent answers its first walk slowly
    # poll 5 s before and after the wrap, whatever the warm-up took: ~10 s apart keeps the
    # agent's own timing jitter well inside 1 %
    time.sleep(max(0.0, started + wrap_s - 5.0 - time.monotonic()))
    first = by_index(poll_once(collector, dev))
    time.sleep(max(0.0, started + wrap_s + 5.0 - time.monotonic()))
    second = by_index(poll_once(collector, dev))
    wrapped = [
        i
        for i in second
        if "ifInOctets" in second[i].fields
        and second[i].fields["ifInOctets"] < first[i].fields["ifInOctets"]
    ]  # type: ignore[operator]
    assert wrapped
    for index in wrapped:
        assert second[index].fields["ifInOctets_rate"] == pytest.approx(
            LIVE_RATES["ifInOctets"], rel=0.01
        )
    assert collector.state(dev.name).tracker.stats["wrap"] >= len(wrapped)


def test_agent_restart_produces_no_spike(snmpsim_factory: Any, tmp_path: Path) -> None:
    """After the agent restarts (uptime and counters start over), no rate is written that poll."""
    write_data_dir(tmp_path, ["iosxe_c9300"])
    agent = snmpsim_factory(data_dir=tmp_path)
    collector = SnmpCollector(PROFILES)
    dev = device(agent, "iosxe_c9300-live")
    poll_once(collector, dev)
    time.sleep(3.0)
    poll_once(collector, dev)
    agent.restart()
    result = poll_once(collector, dev)
    assert not [k for s in result.samples for k in s.fields if k.endswith("_rate")]
    assert collector.state(dev.name).tracker.stats["restart"] == 1


def test_v3_auth_priv_against_snmpsim(snmpsim: Any) -> None:
    """SNMPv3 SHA/AES with the recording as context reads the recorded sysObjectID."""
    dev = Device.model_validate(
        {
            "name": "v3",
            "host": snmpsim.host,
            "snmp": {
                "version": "3",
                "port": snmpsim.port,
                "user": "netmonv3",
                "auth_protocol": "SHA",
                "auth_key": "authpass123",
                "priv_protocol": "AES",
                "priv_key": "privpass123",
                "context": "iosxe_c9300",
                "timeout": 3,
            },
        }
    )
    result = poll_once(SnmpCollector(PROFILES), dev)
    system = next(s for s in result.samples if s.measurement == "system")
    assert system.fields["sysObjectID"] == "1.3.6.1.4.1.9.1.2494"
    assert len(by_index(result)) == 76
