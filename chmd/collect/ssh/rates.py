"""Per-second rates and utilisation for interface counters read over SSH. Pure.

`show interfaces` gives the same counters SNMP does (bytes, packets, errors, discards), so an
SSH-only device gets the same derived fields as an SNMP one — `<counter>_rate`,
`in_octets_rate`, `out_octets_rate`, `in_utilization`, `out_utilization` — and the interface
rules and dashboards work for it. The maths is the SNMP collector's `RateTracker`: CLI
counters are 64-bit, so one that went down was cleared (`clear counters`) or the device
reloaded: no rate for that interval (counted as `reset`); a rate above the interface's
bandwidth is never written (`over_speed`).
"""

from __future__ import annotations

from collections.abc import Iterable

from chmd.collect.snmp.counters import RateTracker, octet_rates_into
from chmd.model import FieldValue, Sample

# counters the built-in command sets write for `interface` (IF-MIB names, plus CLI extras)
COUNTERS = (
    "ifHCInOctets",
    "ifHCOutOctets",
    "ifInErrors",
    "ifOutErrors",
    "ifInDiscards",
    "ifOutDiscards",
    "in_packets",
    "out_packets",
    "crc_errors",
)
_OCTETS = frozenset({"ifHCInOctets", "ifHCOutOctets"})  # bounded by the link speed


def with_rates(samples: Iterable[Sample], tracker: RateTracker, now: float) -> list[Sample]:
    """`samples` with rate fields added to each `interface` sample that has a baseline in
    `tracker` (fed here: the first reading of a counter gives no rate)."""
    out = []
    for sample in samples:
        if sample.measurement == "interface":
            sample = _interface_rates(sample, tracker, now)
        out.append(sample)
    return out


def _interface_rates(sample: Sample, tracker: RateTracker, now: float) -> Sample:
    row = sample.tags.get("ifName") or sample.tags.get("ifDescr")
    if not row:
        return sample
    fields: dict[str, FieldValue] = dict(sample.fields)
    high = fields.get("ifHighSpeed")
    speed_bps = high * 1_000_000.0 if isinstance(high, int) and high > 0 else None
    for name in COUNTERS:
        value = fields.get(name)
        if type(value) is not int:  # absent, or not a counter (bool is an int subclass)
            continue
        bound = speed_bps / 8.0 if speed_bps and name in _OCTETS else None
        per_s = tracker.rate((row, name), value, 64, now, bound)
        if per_s is not None:
            fields[f"{name}_rate"] = per_s
    octet_rates_into(fields, speed_bps)
    return Sample(sample.measurement, sample.tags, fields, sample.time_ns)
