"""SnmpCollector over in-memory agents built from the real recordings (no sockets)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from harness.aio import run_sync

from chmd.collect.snmp import ber
from chmd.collect.snmp.client import ProtocolError, SnmpTarget
from chmd.collect.snmp.collector import SnmpCollector
from chmd.collect.snmp.memory import MemoryAgent, MemoryClient
from chmd.collect.snmp.profiles import load_profiles
from chmd.collect.snmp.snmprec import read_snmprec
from chmd.inventory.schema import Device
from chmd.model import PollResult, Sample

SNMPREC = Path(__file__).resolve().parents[1] / "fixtures" / "snmprec"
if not SNMPREC.is_dir():
    SNMPREC = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "snmprec"
PROFILES = load_profiles()
UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
HC_IN_1 = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 10101)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def setup(name: str, clock: Clock | None = None) -> tuple[SnmpCollector, Device, MemoryAgent]:
    device = Device.model_validate(
        {"name": "sw1", "host": "192.0.2.1", "timeout": 5, "snmp": {"community": "x"}}
    )
    collector = SnmpCollector(PROFILES, monotonic=clock or Clock(), wall_ns=lambda: 1)
    agent = MemoryAgent(read_snmprec(SNMPREC / f"{name}.snmprec"))
    state = collector.state("sw1")
    state.target = SnmpTarget.of(device)
    state.client = MemoryClient(agent, state.target)
    return collector, device, agent


def poll(collector: SnmpCollector, device: Device) -> PollResult:
    return run_sync(collector.poll(device))


def find(result: PollResult, measurement: str, **tags: str) -> Sample:
    for sample in result.samples:
        if sample.measurement == measurement and all(
            sample.tags.get(k) == v for k, v in tags.items()
        ):
            return sample
    raise AssertionError(f"no {measurement} {tags}")


def test_interfaces_are_indexed_without_the_ifindex_column() -> None:
    """ios_2960x has no ifIndex column: all 146 interfaces come from the other columns."""
    collector, device, _ = setup("ios_2960x")
    result = poll(collector, device)
    assert result.errors == ()
    interfaces = [s for s in result.samples if s.measurement == "interface"]
    assert len(interfaces) == 146
    vl99 = find(result, "interface", ifIndex="99")
    assert vl99.tags["ifName"] == "Vl99"
    assert vl99.tags["ifAlias"] == "*** mgmt ***"
    assert vl99.fields["ifHCOutOctets"] == 34023044714


def test_32bit_fallback_where_hc_counters_are_missing() -> None:
    """iosxe_c9300's Gi0/0 has only 32-bit octets: they are written under their own names."""
    collector, device, _ = setup("iosxe_c9300")
    gi = find(poll(collector, device), "interface", ifName="Gi0/0")
    assert gi.fields["ifInOctets"] == 236040956
    assert "ifHCInOctets" not in gi.fields


def test_cisco_memory_pool_used_percent() -> None:
    """CISCO-MEMORY-POOL-MIB Processor pool of ios_c3560: used/free as recorded, total and %."""
    collector, device, _ = setup("ios_c3560")
    pool = find(poll(collector, device), "memory", name="Processor")
    assert pool.fields["used"] == 20103300
    assert pool.fields["free"] == 55248600
    assert pool.fields["total"] == 20103300 + 55248600
    assert pool.fields["used_percent"] == pytest.approx(20103300 * 100 / 75351900)


def test_cisco_temperature_as_recorded() -> None:
    """CISCO-ENVMON-MIB temperature of ios_2960x switch 1: 44 °C, normal."""
    collector, device, _ = setup("ios_2960x")
    temp = find(poll(collector, device), "sensor", name="SW#1, Sensor#1, GREEN")
    assert temp.tags["class"] == "temperature"
    assert temp.fields["value"] == 44
    assert temp.fields["status"] == "normal"


def test_cpu_five_minute_average() -> None:
    """CISCO-PROCESS-MIB cpmCPUTotal5minRev of iosxe is written as cpu usage."""
    collector, device, _ = setup("iosxe")
    cpu = find(poll(collector, device), "cpu")
    assert cpu.fields["usage"] == 2


def test_rates_and_utilisation_between_two_polls() -> None:
    """1,250,000 octets more over 10 s: rate 125000 B/s and utilisation against ifHighSpeed."""
    clock = Clock()
    collector, device, agent = setup("ios_2960x", clock)
    poll(collector, device)
    vbs = {vb[0]: vb for vb in read_snmprec(SNMPREC / "ios_2960x.snmprec")}
    old = vbs[HC_IN_1][2]
    assert isinstance(old, int)
    vbs[HC_IN_1] = (HC_IN_1, ber.COUNTER64, old + 1_250_000)
    vbs[UPTIME] = (UPTIME, ber.TIMETICKS, 718475737 + 1000)
    agent.load(list(vbs.values()))
    clock.t += 10
    sample = find(poll(collector, device), "interface", ifIndex="10101")
    assert sample.fields["ifHCInOctets_rate"] == pytest.approx(125000)
    speed_bps = sample.fields["ifHighSpeed"] * 1e6  # type: ignore[operator]
    assert sample.fields["in_utilization"] == pytest.approx(125000 * 8 * 100 / speed_bps)


def test_restart_gives_no_rate() -> None:
    """After sysUpTime went backwards, the next poll writes no rate field."""
    clock = Clock()
    collector, device, agent = setup("ios_2960x", clock)
    poll(collector, device)
    vbs = {vb[0]: vb for vb in read_snmprec(SNMPREC / "ios_2960x.snmprec")}
    vbs[UPTIME] = (UPTIME, ber.TIMETICKS, 500)
    vbs[HC_IN_1] = (HC_IN_1, ber.COUNTER64, 10)
    agent.load(list(vbs.values()))
    clock.t += 10
    result = poll(collector, device)
    assert not any(k.endswith("_rate") for s in result.samples for k in s.fields)
    assert collector.state("sw1").tracker.stats["restart"] == 1


def test_labels_are_cached_between_polls() -> None:
    """The second poll does not re-walk ifName/ifDescr/ifAlias: fewer requests."""
    collector, device, agent = setup("ios_c3560")
    poll(collector, device)
    first = agent.requests
    poll(collector, device)
    second = agent.requests - first
    assert second < first


def test_deadline_names_the_slow_step() -> None:
    """A poll past Device.timeout is abandoned with reason deadline naming its step."""

    class Slow(MemoryClient):
        async def walk(self, prefixes, timed=()):  # type: ignore[no-untyped-def]
            await asyncio.sleep(10)
            return {}

    collector, device, agent = setup("ios_c3560")
    device = device.model_copy(update={"timeout": 0.05})
    state = collector.state("sw1")
    state.client = Slow(agent, state.target)
    result = poll(collector, device)
    assert [(e.reason, e.step) for e in result.errors] == [
        ("deadline", "walk labels interfaces")
    ] or [e.reason for e in result.errors] == ["deadline"]
    assert result.errors[0].step.startswith("walk")


def test_non_increasing_oids_are_refused() -> None:
    """An agent answering GETBULK with a non-increasing OID gives a protocol error, not a loop."""

    class Looping(MemoryClient):
        async def _request(self, pdu, oids, max_repetitions=0):  # type: ignore[no-untyped-def]
            return 0, 0, [((*oids[0], 1), ber.INTEGER, 1)] * 2

    client = Looping(MemoryAgent([]))
    with pytest.raises(ProtocolError, match="non-increasing"):
        run_sync(client.walk([(1, 3, 6, 1, 2, 1, 2, 2, 1, 2)]))


def test_walk_matches_recording_for_every_column() -> None:
    """A GETBULK walk of ifDescr returns exactly the recorded rows in order."""
    vbs = read_snmprec(SNMPREC / "nxos_n3k-3064pq.snmprec")
    prefix = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
    want = [vb for vb in vbs if vb[0][:10] == prefix]
    got = run_sync(MemoryClient(MemoryAgent(vbs)).walk([prefix]))
    assert got[prefix] == want


def test_withheld_rates_are_counted_in_metrics() -> None:
    """A restart increments chmd_collect_rates_withheld_total{collector="snmp",
    reason="restart"} once."""
    from prometheus_client import CollectorRegistry

    from chmd.collect.metrics import CollectMetrics

    registry = CollectorRegistry()
    clock = Clock()
    collector, device, agent = setup("ios_2960x", clock)
    collector._metrics = CollectMetrics(registry)
    poll(collector, device)
    vbs = {vb[0]: vb for vb in read_snmprec(SNMPREC / "ios_2960x.snmprec")}
    vbs[UPTIME] = (UPTIME, ber.TIMETICKS, 500)
    agent.load(list(vbs.values()))
    clock.t += 10
    poll(collector, device)
    poll(collector, device)
    value = registry.get_sample_value(
        "chmd_collect_rates_withheld_total", {"collector": "snmp", "reason": "restart"}
    )
    assert value == 1


def test_pinned_profiles_replace_the_automatic_choice() -> None:
    """A device pinning [interfaces] gets system + interfaces only, nothing Cisco-specific."""
    collector, device, _ = setup("ios_2960x")
    device = device.model_copy(update={"profiles": ["interfaces"]})
    result = poll(collector, device)
    assert {s.measurement for s in result.samples} == {"system", "interface"}


def test_unknown_pinned_profile_is_an_error_naming_it() -> None:
    """Pinning a profile that does not exist gives one error naming it, not a crash."""
    collector, device, _ = setup("ios_2960x")
    device = device.model_copy(update={"profiles": ["nope"]})
    result = poll(collector, device)
    assert [e.step for e in result.errors] == ["select profiles"]
    assert "nope" in result.errors[0].message


def test_malformed_value_types_are_skipped() -> None:
    """An OCTET STRING where a gauge is expected is left out; the rest of the row stays.

    (ios_c3560 records only ifDescr, ifType and ifOperStatus of this ifTable row.)
    """
    vbs = read_snmprec(SNMPREC / "ios_c3560.snmprec")
    oper = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 10101)
    vbs = [(oid, ber.OCTET_STRING, b"up") if oid == oper else (oid, t, v) for oid, t, v in vbs]
    collector, device, agent = setup("ios_c3560")
    agent.load(vbs)
    sample = find(poll(collector, device), "interface", ifIndex="10101")
    assert "ifOperStatus" not in sample.fields
    assert sample.fields == {"ifType": 6}


def test_labels_are_re_read_when_if_table_last_change_moves() -> None:
    """A new ifAlias shows up on the next poll once ifTableLastChange changed (not before TTL
    otherwise)."""
    alias = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 18, 10101)
    marker = (1, 3, 6, 1, 2, 1, 31, 1, 5, 0)
    collector, device, agent = setup("ios_c3560")
    vbs = {vb[0]: vb for vb in read_snmprec(SNMPREC / "ios_c3560.snmprec")}
    vbs[marker] = (marker, ber.TIMETICKS, 100)
    agent.load(list(vbs.values()))
    poll(collector, device)
    vbs[alias] = (alias, ber.OCTET_STRING, b"to core")
    agent.load(list(vbs.values()))
    unchanged = find(poll(collector, device), "interface", ifIndex="10101")
    vbs[marker] = (marker, ber.TIMETICKS, 200)
    agent.load(list(vbs.values()))
    changed = find(poll(collector, device), "interface", ifIndex="10101")
    assert unchanged.tags.get("ifAlias") != "to core"
    assert changed.tags["ifAlias"] == "to core"


def test_entity_names_are_re_read_when_ent_last_change_time_moves() -> None:
    """A CPU named from entPhysicalName gets its new name on the next poll once the agent's
    entLastChangeTime moved (a module swapped); before that, the cached name stays (TTL)."""
    name = (1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 7, 22)
    marker = (1, 3, 6, 1, 2, 1, 47, 1, 4, 1, 0)
    collector, device, agent = setup("nxos_n3k-3064pq")
    vbs = {vb[0]: vb for vb in read_snmprec(SNMPREC / "nxos_n3k-3064pq.snmprec")}
    vbs[marker] = (marker, ber.TIMETICKS, 100)
    agent.load(list(vbs.values()))
    first = find(poll(collector, device), "cpu")
    vbs[name] = (name, ber.OCTET_STRING, b"Module-1 replacement Supervisor")
    agent.load(list(vbs.values()))
    unchanged = find(poll(collector, device), "cpu")
    vbs[marker] = (marker, ber.TIMETICKS, 200)
    agent.load(list(vbs.values()))
    changed = find(poll(collector, device), "cpu")
    assert first.tags["name"] == unchanged.tags["name"] == "Module-1 48x10GE + 4x40G Supervisor"
    assert changed.tags["name"] == "Module-1 replacement Supervisor"


def test_arista_memory_net_of_buffers_and_cache() -> None:
    """arista_eos hrStorage: RAM 3,963,672 KiB, 3,866,596 used (97.6 %), of which 215,080 are
    buffers and 2,291,752 page cache: `memory` RAM is 1,359,764 KiB used (34.3 %)."""
    collector, device, _ = setup("arista_eos")
    result = poll(collector, device)
    memory = find(result, "memory", name="RAM")
    assert memory.fields["total"] == 3963672 * 1024
    assert memory.fields["used"] == 1359764 * 1024
    assert memory.fields["free"] == (3963672 - 1359764) * 1024
    assert memory.fields["used_percent"] == pytest.approx(34.305, abs=0.001)
    assert "hrStorageIndex" not in memory.tags
    assert find(result, "storage", name="RAM").fields["used_percent"] == pytest.approx(97.55, 0.01)


def test_endless_table_is_capped() -> None:
    """An agent inventing ever-increasing rows stops at MAX_ROWS with a protocol error."""
    from chmd.collect.snmp.client import MAX_ROWS

    class Endless(MemoryClient):
        async def _request(self, pdu, oids, max_repetitions=0):  # type: ignore[no-untyped-def]
            last = oids[0] if len(oids[0]) > 10 else (*oids[0], 0)
            return (
                0,
                0,
                [((*last[:-1], last[-1] + i + 1), ber.INTEGER, 1) for i in range(max_repetitions)],
            )

    client = Endless(MemoryAgent([]))
    with pytest.raises(ProtocolError, match=f"exceeds {MAX_ROWS} rows"):
        run_sync(client.walk([(1, 3, 6, 1, 2, 1, 2, 2, 1, 2)]))


def test_too_big_halves_max_repetitions() -> None:
    """tooBig answers make the walk ask for fewer rows until the agent can answer."""

    agent = MemoryAgent(read_snmprec(SNMPREC / "ios_c3560.snmprec"))
    asked: list[int] = []

    class Small(MemoryClient):
        async def _request(self, pdu, oids, max_repetitions=0):  # type: ignore[no-untyped-def]
            asked.append(max_repetitions)
            if max_repetitions > 5:
                return 1, 0, []
            return await super()._request(pdu, oids, max_repetitions)

    prefix = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
    rows = run_sync(Small(agent).walk([prefix]))[prefix]
    assert len(rows) == 58
    assert asked[:3] == [25, 12, 6]
    assert max(asked[3:]) <= 5


def test_junos_routing_engine_cpu_and_temperature() -> None:
    """jnxOperatingTable: Routing Engine 0 at 2 % CPU and 32 °C; fans and supplies left out."""
    collector, device, _ = setup("junos")
    result = poll(collector, device)
    assert find(result, "cpu", name="Routing Engine 0").fields["usage"] == 2
    assert find(result, "sensor", name="Routing Engine 0").fields["value"] == 32
    assert not [s for s in result.samples if s.tags.get("name", "").startswith("FAN")]


def test_nxos_cpu_named_by_entity_and_hc_memory() -> None:
    """NX-OS: CPU named from entPhysicalName, enhanced mempool read from the HC columns."""
    collector, device, _ = setup("nxos_n3k-3064pq")
    result = poll(collector, device)
    cpu = find(result, "cpu", name="Module-1 48x10GE + 4x40G Supervisor")
    assert cpu.fields["usage"] == 14
    memory = find(result, "memory", name="Processor")
    assert memory.fields["used"] == 2589782016
    assert memory.fields["free"] == 1406861312


def test_arista_entity_sensor_scaled_and_named_from_descr() -> None:
    """Arista ENTITY-SENSOR-MIB: 533 at precision 1 is 53.3 °C, named from entPhysicalDescr."""
    collector, device, _ = setup("arista_eos")
    sensor = find(poll(collector, device), "sensor", name="Cpu temp sensor")
    assert sensor.tags["class"] == "temperature"
    assert sensor.fields["value"] == pytest.approx(53.3)
    assert sensor.fields["status"] == "ok"
