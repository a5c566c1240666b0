"""Walked columns → rows → Samples, with rates and the derived fields. Pure (takes `now`).

A row is keyed by its index (the OID suffix after the column), so tables whose index column
is not readable (most recordings lack ifIndex) are indexed from any column present.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import itemgetter

from chmd.collect.fieldtypes import field_type, typed_fields
from chmd.collect.snmp import ber
from chmd.collect.snmp.ber import OID, VarBind
from chmd.collect.snmp.counters import RateTracker, octet_rates_into
from chmd.collect.snmp.profiles import Column, Scalars, Table
from chmd.model import FieldValue, Sample

Index = tuple[int, ...]
Row = dict[str, VarBind]  # column name → the varbind that carried it (OID, BER tag, raw value)
Fields = dict[str, FieldValue]
ReadTimes = dict[str, dict[Index, float]]  # counter column → index → when it was read


@dataclass(frozen=True, slots=True)
class Context:
    """Per-poll inputs: who, when (wall ns for samples, monotonic s for rates)."""

    device: str
    agent_host: str
    extra_tags: Mapping[str, str]
    time_ns: int
    now: float


def index_rows(
    columns: tuple[Column, ...],
    walked: Mapping[OID, list[VarBind]],
    times: Mapping[OID, list[float]] | None = None,
) -> tuple[dict[Index, Row], ReadTimes]:
    """Group varbinds of several columns by index (the union of the indexes seen), and when
    each counter was read, per column and index (columns drift apart in a walk).

    `times` are the walk's `row_times` (one stamp per varbind of a timed column)."""
    rows: dict[Index, Row] = {}
    read_at: ReadTimes = {}
    exceptions = ber.EXCEPTIONS
    # rows made by the first column, in its order: a column with the same indexes (nearly
    # every column of a table) fills them without looking each one up
    aligned: list[Row] = []
    aligned_indexes: list[Index] | None = None
    for column in columns:
        n = len(column.oid)
        name = column.name
        vbs = walked.get(column.oid, ())
        indexes = [vb[0][n:] for vb in vbs]
        stamps = times.get(column.oid) if times else None
        if stamps:
            read_at[name] = dict(zip(indexes, stamps, strict=False))
        if exceptions.isdisjoint(map(_tag_of, vbs)):
            if not rows:
                aligned = [{name: vb} for vb in vbs]
                rows = dict(zip(indexes, aligned, strict=True))
                aligned_indexes = indexes if len(rows) == len(aligned) else None
                continue
            if indexes == aligned_indexes:
                for cells, vb in zip(aligned, vbs, strict=True):
                    cells[name] = vb
                continue
        for index, vb in zip(indexes, vbs, strict=True):
            if vb[1] in exceptions:
                continue
            row = rows.get(index)
            if row is None:
                rows[index] = {name: vb}
            else:
                row[name] = vb
    return rows, read_at


_tag_of = itemgetter(1)


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


# How `table_samples` turns one raw value into a field (worked out once per column):
_PLAIN, _TO_FLOAT, _SCALED, _ENUM, _STRING = range(5)


@dataclass(frozen=True, slots=True)
class _FieldPlan:
    mode: int
    scale: float = 1.0
    wanted: type[int] | type[float] | None = None  # the field's one type (fieldtypes.py)
    values: Mapping[int, str] | None = None  # enum texts


@dataclass(frozen=True, slots=True)
class _Layout:
    """What `table_samples` needs of a table, worked out once per table (not per row)."""

    plans: dict[str, _FieldPlan]
    counters: tuple[tuple[str, str, bool], ...]  # (column, rate field, bounded by speed)
    derive: Callable[[Fields, Row, dict[str, str]], None] | None
    typed_after: bool  # fields coerced by `typed_fields` after derive (else per column)
    interface: bool
    all_plain: bool  # every column is kept as its raw integer (the interface table)


_LAYOUTS: dict[int, tuple[Table, _Layout]] = {}


def _layout(table: Table) -> _Layout:
    cached = _LAYOUTS.get(id(table))
    if cached is not None and cached[0] is table:
        return cached[1]
    columns = {c.name: c for c in (*table.fields, *table.fallbacks)}
    # A derive that reads or reshapes fields sees them uncoerced, as `typed_fields` ran last;
    # the interface derive only reads the speed columns, so it can take coerced fields when
    # those are plain integers either way.
    interface = table.derive == "interface"
    typed_after = table.derive is not None and not (
        interface and all(_plain(columns[n]) for n in ("ifHighSpeed", "ifSpeed") if n in columns)
    )
    plans = {
        name: _plan(column, None if typed_after else field_type(table.measurement, name))
        for name, column in columns.items()
    }
    counters = tuple(
        (c.name, f"{c.name}_rate", "Octets" in c.name)
        for c in columns.values()
        if c.kind == "counter"
    )
    layout = _Layout(
        plans,
        counters,
        None if interface else DERIVES.get(table.derive or ""),  # its fields come in `_RatePlan`
        typed_after,
        interface,
        all(plan.mode == _PLAIN for plan in plans.values()),
    )
    if len(_LAYOUTS) > 10_000:  # profiles are loaded once; reloads make new tables
        _LAYOUTS.clear()
    _LAYOUTS[id(table)] = (table, layout)
    return layout


def _plain(column: Column) -> bool:
    """Converted to the raw integer, unchanged (what `typed_fields` leaves alone too)."""
    kind = column.kind
    return column.scale == 1.0 and (
        kind in ("gauge", "counter") or (kind == "enum" and not column.values)
    )


def _plan(column: Column, wanted: type[int] | type[float] | None) -> _FieldPlan:
    if column.kind == "string":
        return _FieldPlan(_STRING)
    if column.kind == "enum" and column.values:
        return _FieldPlan(_ENUM, values=dict(column.values))
    if column.scale != 1.0:
        return _FieldPlan(_SCALED, column.scale, wanted)
    return _FieldPlan(_TO_FLOAT if wanted is float else _PLAIN)


def _converted(plan: _FieldPlan, value: object) -> FieldValue | None:
    """`convert` with the field's declared type applied (as `typed_fields` would)."""
    mode = plan.mode
    if mode == _STRING:
        return text(value)
    if not isinstance(value, int):
        return None
    if mode == _PLAIN:
        return value
    if mode == _TO_FLOAT:
        return float(value)
    if mode == _ENUM:
        assert plan.values is not None  # noqa: S101 - set for _ENUM
        return plan.values.get(value, str(value))
    scaled = value * plan.scale
    if plan.wanted is int:
        return round(scaled) if math.isfinite(scaled) else None
    return scaled


def table_samples(
    table: Table,
    rows: Mapping[Index, Row],
    labels: Mapping[str, Mapping[Index, str]],
    ctx: Context,
    tracker: RateTracker,
    read_at: Mapping[str, Mapping[Index, float]] | None = None,
) -> list[Sample]:
    """One Sample per row: index/label/static tags, converted fields, rates, derived fields."""
    layout = _layout(table)
    samples = []
    base = {**ctx.extra_tags, "device": ctx.device, "agent_host": ctx.agent_host}
    base.update(table.static_tags)
    tag_specs = [(spec.name, labels.get(spec.name, {}), spec.default) for spec in table.tags]
    plans = layout.plans
    derive = layout.derive
    measurement = table.measurement
    time_ns = ctx.time_ns
    rates = _RatePlan(layout, read_at or {}, tracker, ctx.now)
    one_index = table.index_tags[0] if len(table.index_tags) == 1 else ""
    for index, row in rows.items():
        tags = base.copy()
        if one_index and len(index) == 1:  # the common case of `_index_tags`, inline
            tags[one_index] = str(index[0])
        else:
            _index_tags(table, index, tags)
        for tag_name, values, default in tag_specs:
            label = values.get(index, "")
            if not label and default:
                label = default.format(index=ber.format_oid(index))
            if label:
                tags[tag_name] = label
        if table.keep and not all(rx.search(tags.get(t, "")) for t, rx in table.keep):
            continue
        fields: Fields
        if layout.all_plain:  # raw integers as read, in one comprehension
            fields = {name: vb[2] for name, vb in row.items() if isinstance(vb[2], int)}
        else:
            fields = {}
            for name, vb in row.items():
                plan = plans.get(name)
                if plan is not None and (converted := _converted(plan, vb[2])) is not None:
                    fields[name] = converted
        if derive is not None:
            derive(fields, row, tags)
        rates.add(table.name, index, row, fields)
        if fields:
            if layout.typed_after:
                typed_fields(measurement, fields)
            samples.append(Sample(measurement, tags, fields, time_ns))
    if table.derive == "hr_storage" and (memory := host_memory(samples)) is not None:
        samples.append(memory)
    return samples


# hrStorage rows of main memory and of what the kernel can give back: net-snmp on Linux,
# then Arista EOS (which names them after the Linux kernel's buffers and page cache)
_RAM = ("physical memory", "ram")
_RECLAIMABLE = (("memory buffers", "ram (buffers)"), ("cached memory", "ram (cache)"))


def host_memory(storage: list[Sample]) -> Sample | None:
    """A `memory` sample (name = the RAM row's name) from hrStorage rows, with buffers and
    page cache not counted as used: hrStorage's RAM row counts them, so on a healthy Linux
    host or Arista switch it reads 95 %+ (the arista_eos recording: 97.6 % used, 34.3 % net
    of buffers and cache). None when the agent has no RAM row."""
    by_name = {s.tags.get("name", "").lower(): s for s in storage}
    ram = next((by_name[n] for n in _RAM if n in by_name), None)
    if ram is None:
        return None
    total, used = ram.fields.get("total"), ram.fields.get("used")
    if not isinstance(total, int) or not isinstance(used, int) or total <= 0:
        return None
    for names in _RECLAIMABLE:
        row = next((by_name[n] for n in names if n in by_name), None)
        given_back = row.fields.get("used") if row is not None else None
        if isinstance(given_back, int):
            used -= given_back
    used = max(0, min(used, total))
    tags = {k: v for k, v in ram.tags.items() if k != "hrStorageIndex"}
    fields: Fields = {
        "used": used,
        "free": total - used,
        "total": total,
        "used_percent": used * 100.0 / total,
    }
    return Sample("memory", tags, fields, ram.time_ns)


def _index_tags(table: Table, index: Index, tags: dict[str, str]) -> None:
    names = table.index_tags
    if not names:
        tags["index"] = ber.format_oid(index)
    elif len(names) == len(index):
        if len(index) == 1:
            tags[names[0]] = str(index[0])
        else:
            tags.update(zip(names, map(str, index), strict=True))
    else:
        tags[names[0]] = ber.format_oid(index)


class _RatePlan:
    """The rate fields of one table's rows in one poll: `<counter>_rate` for every counter,
    bounded by the interface speed for octets, then in/out octet rates and utilisation."""

    __slots__ = ("counters", "interface", "now", "times", "tracker")

    def __init__(
        self,
        layout: _Layout,
        read_at: Mapping[str, Mapping[Index, float]],
        tracker: RateTracker,
        now: float,
    ) -> None:
        self.tracker = tracker
        self.now = now
        self.interface = layout.interface
        timed = [read_at.get(name) for name, _, _ in layout.counters]
        # every counter of a row read by the same request (no column drifted): one time per row
        first = next((t for t in timed if t), None)
        self.times = first if first and all(t == first for t in timed) else None
        self.counters = [
            (name, rate_name, bounded, None if self.times else times)
            for (name, rate_name, bounded), times in zip(layout.counters, timed, strict=True)
        ]

    def add(self, table: str, index: Index, row: Row, fields: Fields) -> None:
        row_key = (table, index)
        tracker = self.tracker
        discontinuity = row.get("ifCounterDiscontinuityTime")
        if discontinuity is not None:
            value = discontinuity[2]
            tracker.observe_discontinuity(row_key, value if isinstance(value, int) else None)
        now = self.times.get(index, self.now) if self.times else self.now
        if not self.interface:
            tracker.row_rates(row_key, self.counters, row, index, now, None, fields)
            return
        speed_bps = _speed_bps(fields)
        bound = speed_bps / 8.0 if speed_bps else None
        tracker.row_rates(row_key, self.counters, row, index, now, bound, fields)
        octet_rates_into(fields, speed_bps)


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
