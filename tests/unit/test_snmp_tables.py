"""Walked columns → rows and fields: the precomputed fast paths give what the plain
definitions give (rows grouped by index, read times, values converted and typed)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chmd.collect.fieldtypes import typed_fields
from chmd.collect.snmp import ber
from chmd.collect.snmp.ber import OID, VarBind
from chmd.collect.snmp.profiles import Column, Table
from chmd.collect.snmp.tables import (
    _converted,
    _layout,
    convert,
    index_rows,
)

COLUMNS = (
    Column("ifType", (1, 3, 6, 1, 2, 1, 2, 2, 1, 3), "gauge"),
    Column("ifInErrors", (1, 3, 6, 1, 2, 1, 2, 2, 1, 14), "counter"),
    Column("ifOutErrors", (1, 3, 6, 1, 2, 1, 2, 2, 1, 20), "counter"),
)


def reference_rows(
    columns: tuple[Column, ...],
    walked: dict[OID, list[VarBind]],
    times: dict[OID, list[float]],
) -> tuple[dict[tuple[int, ...], dict[str, VarBind]], dict[str, dict[tuple[int, ...], float]]]:
    """Rows and read times by their definition: one varbind at a time."""
    rows: dict[tuple[int, ...], dict[str, VarBind]] = {}
    read_at: dict[str, dict[tuple[int, ...], float]] = {}
    for column in columns:
        n = len(column.oid)
        stamps = times.get(column.oid) or []
        if stamps:
            read_at[column.name] = {}
        for i, vb in enumerate(walked.get(column.oid, [])):
            if i < len(stamps):
                read_at[column.name][vb[0][n:]] = stamps[i]
            if vb[1] not in ber.EXCEPTIONS:
                rows.setdefault(vb[0][n:], {})[column.name] = vb
    return rows, read_at


column_rows = st.lists(
    st.tuples(
        st.integers(1, 8),  # index
        st.sampled_from([ber.COUNTER32, ber.COUNTER32, ber.INTEGER, ber.NO_SUCH_INSTANCE]),
    ),
    max_size=8,
)


@given(
    st.lists(column_rows, min_size=3, max_size=3),
    st.booleans(),
    st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_rows_and_read_times_are_those_of_the_definition(
    cells: list[list[tuple[int, int]]], aligned: bool, timed: list[bool]
) -> None:
    """Columns with the same indexes (the fast path) or not, with exception varbinds or
    without, timed or not: the same rows, in the same order, and the same read times."""
    if aligned:  # every column with the first column's indexes and tags
        cells = [cells[0]] * 3
    walked = {
        c.oid: [((*c.oid, index), tag, index * 10) for index, tag in sorted(dict(col).items())]
        for c, col in zip(COLUMNS, cells, strict=True)
    }
    times = {
        c.oid: [float(i) for i in range(len(walked[c.oid]))]
        for c, on in zip(COLUMNS, timed, strict=True)
        if on
    }
    rows, read_at = index_rows(COLUMNS, walked, times)
    want_rows, want_times = reference_rows(COLUMNS, walked, times)
    assert list(rows.items()) == list(want_rows.items())
    assert [list(r) for r in rows.values()] == [list(r) for r in want_rows.values()]
    assert read_at == {k: v for k, v in want_times.items() if v}


def table(measurement: str, *columns: Column) -> Table:
    return Table("t", measurement, (), (), (), columns, (), None, None, None)


values = st.one_of(
    st.integers(-(2**63), 2**64),
    st.binary(max_size=8),
    st.tuples(st.integers(0, 2), st.integers(0, 39)),
    st.just("10.0.0.1"),
)


@given(
    st.sampled_from(["cpu", "memory", "interface", "other"]),
    st.sampled_from(["usage", "used", "ifType", "x_rate", "plain"]),
    st.sampled_from(["gauge", "counter", "enum", "string"]),
    st.sampled_from([1.0, 0.5, 1024.0, 1e300]),
    st.booleans(),
    values,
)
def test_field_conversion_applies_the_declared_type_like_typed_fields(
    measurement: str, name: str, kind: str, scale: float, enum: bool, value: object
) -> None:
    """A column's value converted with its precomputed plan is what `convert` then
    `typed_fields` make of it: same value, same Python type, or no field."""
    column = Column(name, (1, 3, 6, 1, 9), kind, scale, ((1, "up"), (2, "down")) if enum else ())  # type: ignore[arg-type]
    plan = _layout(table(measurement, column)).plans[name]
    converted = convert(column, ber.INTEGER, value)
    want = typed_fields(measurement, {name: converted} if converted is not None else {})
    got = _converted(plan, value)
    assert ({name: got} if got is not None else {}) == want
    if got is not None:
        assert type(got) is type(want[name])
