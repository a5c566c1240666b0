"""One Python (hence InfluxDB) type per (measurement, field) across every device and collector."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from harness.aio import run_sync
from ssh_fixtures import command_for, recordings

from chmd.collect.fieldtypes import typed_fields
from chmd.collect.snmp.client import SnmpTarget
from chmd.collect.snmp.collector import SnmpCollector
from chmd.collect.snmp.memory import MemoryAgent, MemoryClient
from chmd.collect.snmp.profiles import load_profiles
from chmd.collect.snmp.snmprec import read_snmprec
from chmd.collect.ssh.parsers.parse import parse_records
from chmd.collect.ssh.parsers.samples import base_tags, to_samples
from chmd.inventory.schema import Device
from chmd.model import Sample

SNMPREC = Path(__file__).resolve().parents[1] / "fixtures" / "snmprec"
Seen = dict[tuple[str, str], dict[str, set[str]]]


def _snmp_samples(recording: Path) -> list[Sample]:
    """Two polls (the second has rates) of one recording through the in-memory agent."""
    clock = [1000.0]
    device = Device.model_validate(
        {"name": "sw1", "host": "192.0.2.1", "timeout": 5, "snmp": {"community": "x"}}
    )
    collector = SnmpCollector(load_profiles(), monotonic=lambda: clock[0], wall_ns=lambda: 1)
    state = collector.state("sw1")
    state.target = SnmpTarget.of(device)
    state.client = MemoryClient(MemoryAgent(read_snmprec(recording)), state.target)
    samples: list[Sample] = []
    for _ in range(2):
        result = run_sync(collector.poll(device))
        assert result.errors == (), result.errors
        samples.extend(result.samples)
        clock[0] += 60.0
    return samples


def _record(seen: Seen, source: str, samples: list[Sample]) -> None:
    for sample in samples:
        for name, value in sample.fields.items():
            seen[(sample.measurement, name)].setdefault(type(value).__name__, set()).add(source)


def test_every_field_has_one_type_across_recordings_and_collectors() -> None:
    """Every snmprec recording polled over SNMP and every CLI recording parsed over SSH: for each
    (measurement, field) all values are of one type (bool, int, float or str), so InfluxDB never
    rejects a later point with "field type conflict"."""
    seen: Seen = defaultdict(dict)
    recorded = sorted(SNMPREC.glob("*.snmprec"))
    assert len(recorded) >= 12
    for path in recorded:
        _record(seen, f"snmp:{path.stem}", _snmp_samples(path))
    parsed = 0
    for rec in recordings():
        command = command_for(rec)
        samples = to_samples(
            command, parse_records("dev1", command, rec.text()), base_tags("d", "h", {}), 0
        )
        _record(seen, f"ssh:{rec.id}", samples)
        parsed += 1
    assert parsed > 0
    conflicts = {
        key: {kind: sorted(sources)[:3] for kind, sources in kinds.items()}
        for key, kinds in seen.items()
        if len(kinds) > 1
    }
    assert conflicts == {}
    # the fields the bug report named really were seen, with the decided types
    for key, kind in {
        ("memory", "used"): "int",
        ("memory", "free"): "int",
        ("memory", "total"): "int",
        ("memory", "used_percent"): "float",
        ("sensor", "value"): "float",
        ("cpu", "usage"): "float",
        ("system", "uptime"): "float",
        ("interface", "ifHCInOctets"): "int",
        ("interface", "ifHCInOctets_rate"): "float",
        ("interface", "ifOperStatus"): "int",
    }.items():
        assert set(seen[key]) == {kind}, key


def test_typed_fields_coerces_declared_fields_and_leaves_others() -> None:
    """Declared int fields are rounded from floats (non-finite dropped), declared float fields
    and `*_rate` names become floats; text, booleans and undeclared fields are untouched."""
    fields = typed_fields(
        "memory",
        {"used": 1024.0, "free": float("nan"), "used_percent": 50, "name": "x", "flag": True},
    )
    assert fields == {"used": 1024, "used_percent": 50.0, "name": "x", "flag": True}
    assert type(fields["used"]) is int
    assert type(fields["used_percent"]) is float
    assert typed_fields("interface", {"x_rate": 3, "ifInErrors": 2}) == {
        "x_rate": 3.0,
        "ifInErrors": 2,
    }
    assert type(typed_fields("interface", {"x_rate": 3})["x_rate"]) is float
