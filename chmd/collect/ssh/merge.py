"""A field collected over both SNMP and SSH is written once. Pure.

Samples of one device from the two collectors describe the same series when they share
the measurement and the series' identifying tags (`SERIES_KEYS`). The preferred collector
(SNMP by default, per device `fields_from`) keeps its fields; the other one's samples lose
those fields, and a sample left with none is dropped. The daemon remembers the preferred
collector's last `covered_fields` per device and applies `drop_covered` to the other's
PollResult samples before storing them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from chmd.model import PollResult, Sample

SERIES_KEYS: Mapping[str, tuple[str, ...]] = {
    "interface": ("device", "ifName"),
    "system": ("device",),
    "cpu": ("device", "name"),
    "memory": ("device", "name"),
    "sensor": ("device", "class", "name"),
}
"""Which tags identify one series of a measurement, whichever collector made it."""

SeriesKey = tuple[str, tuple[str, ...]]


def series_key(sample: Sample) -> SeriesKey | None:
    """(measurement, identifying tag values), or None for measurements only one side makes."""
    keys = SERIES_KEYS.get(sample.measurement)
    if keys is None:
        return None
    return sample.measurement, tuple(sample.tags.get(k, "") for k in keys)


def covered_fields(samples: Iterable[Sample]) -> dict[SeriesKey, frozenset[str]]:
    """Which fields the preferred collector wrote, per series."""
    covered: dict[SeriesKey, set[str]] = {}
    for sample in samples:
        key = series_key(sample)
        if key is not None:
            covered.setdefault(key, set()).update(sample.fields)
    return {k: frozenset(v) for k, v in covered.items()}


def drop_covered(
    samples: Iterable[Sample], covered: Mapping[SeriesKey, frozenset[str]]
) -> tuple[Sample, ...]:
    """The samples without the fields `covered` already has for their series."""
    out = []
    for sample in samples:
        key = series_key(sample)
        taken = covered.get(key, frozenset()) if key is not None else frozenset()
        if not taken:
            out.append(sample)
            continue
        fields = {k: v for k, v in sample.fields.items() if k not in taken}
        if fields:
            out.append(Sample(sample.measurement, sample.tags, fields, sample.time_ns))
    return tuple(out)


def merge(
    snmp: Iterable[Sample], ssh: Iterable[Sample], prefer: str = "snmp"
) -> tuple[Sample, ...]:
    """Both collectors' samples of one device with every field written once (`prefer` wins)."""
    first, second = (tuple(snmp), tuple(ssh))
    if prefer == "ssh":
        first, second = second, first
    elif prefer != "snmp":
        raise ValueError(f"prefer must be 'snmp' or 'ssh', not {prefer!r}")
    return first + drop_covered(second, covered_fields(first))


def dedupe_result(
    result: PollResult, covered: Mapping[SeriesKey, frozenset[str]], prefer: str | None
) -> PollResult:
    """The daemon's step: a non-preferred collector's PollResult without the fields the
    preferred one last wrote (`covered`, from `covered_fields` of its last PollResult).

    `prefer` is the device's `fields_from` (None → snmp); the preferred collector's own
    results pass unchanged.
    """
    if result.collector == (prefer or "snmp"):
        return result
    return replace(result, samples=drop_covered(result.samples, covered))
