"""Walked columns → rows → Samples, with rates and the derived fields. Pure (takes `now`).

A row is keyed by its index (the OID suffix after the column), so tables whose index column
is not readable (most recordings lack ifIndex) are indexed from any column present.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chmd.collect.fieldtypes import typed_fields
from chmd.collect.snmp import ber
from chmd.collect.snmp.ber import OID, VarBind
from chmd.collect.snmp.counters import RateTracker, utilisation_percent
from chmd.collect.snmp.profiles import Column, Scalars, Table
from chmd.model import FieldValue, Sample

Index = tuple[int, ...]
Row = dict[str, tuple[int, object]]  # column name → (BER tag, raw value)
Fields = dict[str, FieldValue]


@dataclass(frozen=True, slots=True)
class Context:
    """Per-poll inputs: who, when (wall ns for samples, monotonic s for rates)."""

    device: str
    agent_host: str
    extra_tags: Mapping[str, str]
    time_ns: int
    now: float


def index_rows(
    columns: tuple[Column, ...], walked: Mapping[OID, list[VarBind]]
) -> dict[Index, Row]:
    """Group varbinds of several columns by index (the union of the indexes seen)."""
    rows: dict[Index, Row] = {}
    for column in columns:
        n = len(column.oid)
        for oid, tag, value in walked.get(column.oid, ()):
            if tag in ber.EXCEPTIONS:
                continue
            rows.setdefault(oid[n:], {})[column.name] = (tag, value)
    return rows


def row_times(
    columns: tuple[Column, ...],
    walked: Mapping[OID, list[VarBind]],
    times: Mapping[OID, list[float]],
) -> dict[str, dict[Index, float]]:
    """When each counter was read, per column and index (columns drift apart in a walk)."""
    out: dict[str, dict[Index, float]] = {}
    for column in columns:
        stamps = times.get(column.oid)
        if stamps:
            n = len(column.oid)
            out[column.name] = {
                vb[0][n:]: at for vb, at in zip(walked.get(column.oid, ()), stamps, strict=False)
            }
    return out


def text(value: object) -> str:
    """An SNMP value as text: OCTET STRING decoded as UTF-8 (replacement on bad bytes)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").replace("\x00", "").strip()
    if isinstance(value, tuple):
        return ber.format_oid(value)
    return str(value)


def convert(column: Column, tag: int, value: object) -> FieldValue | None:
    """A raw value as the field the profile declares (None when it cannot be that kind)."""
    if column.kind == "string":
        return text(value)
    if not isinstance(value, int):
        return None
    if column.kind == "enum" and column.values:
        return column.enum(value)
    if column.scale != 1.0:
        return value * column.scale
    return value


def _tag_value(
    spec_name: str,
    index: Index,
    labels: Mapping[str, Mapping[Index, str]],
) -> str:
    return labels.get(spec_name, {}).get(index, "")


def table_samples(
    table: Table,
    rows: Mapping[Index, Row],
    labels: Mapping[str, Mapping[Index, str]],
    ctx: Context,
    tracker: RateTracker,
    read_at: Mapping[str, Mapping[Index, float]] | None = None,
) -> list[Sample]:
    """One Sample per row: index/label/static tags, converted fields, rates, derived fields."""
    samples = []
    base = {**ctx.extra_tags, "device": ctx.device, "agent_host": ctx.agent_host}
    base.update(table.static_tags)
    derive = DERIVES.get(table.derive or "")
    by_name = {c.name: c for c in (*table.fields, *table.fallbacks)}
    counters = [
        (c.name, f"{c.name}_rate", "Octets" in c.name)
        for c in (*table.fields, *table.fallbacks)
        if c.kind == "counter"
    ]
    for index, row in rows.items():
        tags = dict(base)
        _index_tags(table, index, tags)
        for tag_spec in table.tags:
            value = _tag_value(tag_spec.name, index, labels)
            if not value and tag_spec.default:
                value = tag_spec.default.format(index=ber.format_oid(index))
            if value:
                tags[tag_spec.name] = value
        if table.keep and not all(rx.search(tags.get(t, "")) for t, rx in table.keep):
            continue
        fields: Fields = {}
        for name, (tag, raw) in row.items():
            column = by_name.get(name)
            if column is not None and (converted := convert(column, tag, raw)) is not None:
                fields[name] = converted
        if derive is not None:
            derive(fields, row, tags)
        _rates(table, counters, index, row, fields, tracker, ctx.now, read_at or {})
        if fields:
            typed_fields(table.measurement, fields)
            samples.append(Sample(table.measurement, tags, fields, ctx.time_ns))
    return samples


def _index_tags(table: Table, index: Index, tags: dict[str, str]) -> None:
    names = table.index_tags
    if not names:
        tags["index"] = ber.format_oid(index)
    elif len(names) == len(index):
        tags.update(zip(names, map(str, index), strict=True))
    else:
        tags[names[0]] = ber.format_oid(index)


def _rates(
    table: Table,
    counters: list[tuple[str, str, bool]],
    index: Index,
    row: Row,
    fields: Fields,
    tracker: RateTracker,
    now: float,
    read_at: Mapping[str, Mapping[Index, float]],
) -> None:
    """`<counter>_rate` for every counter of the row (name, rate name, bounded by speed)."""
    row_key = (table.name, index)
    if "ifCounterDiscontinuityTime" in row:
        value = row["ifCounterDiscontinuityTime"][1]
        tracker.observe_discontinuity(row_key, value if isinstance(value, int) else None)
    speed_bps = _speed_bps(fields) if table.derive == "interface" else None
    octet_bound = speed_bps / 8.0 if speed_bps else None
    for name, rate_name, octets_column in counters:
        cell = row.get(name)
        if cell is None or not isinstance(cell[1], int):
            continue
        times = read_at.get(name)
        at = times.get(index, now) if times else now
        bits = 32 if cell[0] == ber.COUNTER32 else 64
        bound = octet_bound if octets_column else None
        rate = tracker.rate((row_key, name), cell[1], bits, at, bound)
        if rate is not None:
            fields[rate_name] = rate
    if table.derive == "interface":
        for direction, hc, low in (
            ("in", "ifHCInOctets", "ifInOctets"),
            ("out", "ifHCOutOctets", "ifOutOctets"),
        ):
            octets: FieldValue | None = fields.get(f"{hc}_rate", fields.get(f"{low}_rate"))
            if isinstance(octets, float):
                fields[f"{direction}_octets_rate"] = octets
                if (pct := utilisation_percent(octets, speed_bps)) is not None:
                    fields[f"{direction}_utilization"] = pct


def _speed_bps(fields: Fields) -> float | None:
    high = fields.get("ifHighSpeed")
    if isinstance(high, int) and high > 0:
        return high * 1_000_000.0
    low = fields.get("ifSpeed")
    if isinstance(low, int) and 0 < low < 0xFFFFFFFF:
        return float(low)
    return None


def scalar_samples(scalars: Scalars, values: Mapping[OID, VarBind], ctx: Context) -> Sample | None:
    fields: Fields = {}
    for column in scalars.fields:
        vb = values.get(column.oid)
        if vb is None or vb[1] in ber.EXCEPTIONS:
            continue
        if (converted := convert(column, vb[1], vb[2])) is not None:
            fields[column.name] = converted
    if not fields:
        return None
    tags = {**ctx.extra_tags, "device": ctx.device, "agent_host": ctx.agent_host}
    return Sample(scalars.measurement, tags, typed_fields(scalars.measurement, fields), ctx.time_ns)


# ---------------------------------------------------------------- derived fields (pure)


def _memory(fields: Fields, row: Row, tags: dict[str, str]) -> None:
    for name in ("used", "free"):  # the 32-bit fallback takes the canonical name
        if name not in fields and f"{name}32" in fields:
            fields[name] = fields.pop(f"{name}32")
        fields.pop(f"{name}32", None)
    used, free = fields.get("used"), fields.get("free")
    if isinstance(used, int | float) and isinstance(free, int | float):
        total = used + free
        fields["total"] = total
        if total > 0:
            fields["used_percent"] = used * 100.0 / total


_SENSOR_CLASS = {
    3: "voltage",
    4: "voltage",
    5: "current",
    6: "power",
    7: "frequency",
    8: "temperature",
    9: "humidity",
    10: "fan",
    11: "airflow",
    12: "state",
    13: "state",
    14: "dbm",
}


def _entity_sensor(fields: Fields, row: Row, tags: dict[str, str]) -> None:
    """value * 10^(3*(scale-9)) / 10^precision, class from the sensor type (both sensor MIBs)."""
    kind, scale, precision = (
        fields.pop("type", None),
        fields.pop("scale", 9),
        fields.pop("precision", 0),
    )
    tags["class"] = _SENSOR_CLASS.get(kind if isinstance(kind, int) else 0, "other")
    value = fields.get("value")
    if isinstance(value, int) and isinstance(scale, int) and isinstance(precision, int):
        fields["value"] = value * 10.0 ** (3 * (scale - 9)) / 10.0**precision


def _hr_storage(fields: Fields, row: Row, tags: dict[str, str]) -> None:
    units = fields.pop("units", 1)
    size, used = fields.pop("size", None), fields.pop("used", None)
    if isinstance(units, int) and isinstance(size, int) and isinstance(used, int):
        fields["total"] = size * units
        fields["used"] = used * units
        fields["free"] = (size - used) * units
        if size > 0:
            fields["used_percent"] = used * 100.0 / size


def _inventory(fields: Fields, row: Row, tags: dict[str, str]) -> None:
    for key in [k for k, v in fields.items() if v == ""]:
        del fields[key]
    if set(fields) <= {"class", "descr"}:  # nothing to inventory in containers and ports
        fields.clear()


def _interface(fields: Fields, row: Row, tags: dict[str, str]) -> None:
    return None  # rates and utilisation are added in `_rates`, which knows the tracker


DERIVES: dict[str, Callable[[Fields, Row, dict[str, str]], None]] = {
    "memory": _memory,
    "entity_sensor": _entity_sensor,
    "hr_storage": _hr_storage,
    "inventory": _inventory,
    "interface": _interface,
}
