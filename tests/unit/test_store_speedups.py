"""The C line-protocol writer (chmd/store/_speedups.c) against the Python one it stands in for:
the same bytes for every sample it writes, None (Python's turn) for every sample it must not.
Floats are printed by its own Ryū, so its digits are checked against repr across the doubles."""

from __future__ import annotations

import math
import os
import random
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chmd.model import Sample
from chmd.store import lineproto

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import gen_ryu_tables  # noqa: E402

_speedups = pytest.importorskip(
    "chmd.store._speedups", reason="not built (make native); test_native says whether it must be"
)
native_line = _speedups.line
native_series = _speedups.series
format_float = _speedups.format_float

# repr's edges: the shortest digits, positional or exponent form, subnormals, ties.
EDGE_FLOATS = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.1,
    0.2,
    0.3,
    0.1 + 0.2,
    1 / 3,
    2 / 3,
    100.0,
    1e15,
    1e16,
    1e17,
    9999999999999998.0,
    1234567890123456.0,
    0.0001,
    0.00001,
    1.5e-7,
    1e22,
    1e23,
    1e100,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    2.225073858507201e-308,
    1.7976931348623157e308,
    2.0**53,
    2.0**53 + 2,
    2.0**63,
    2.0**64,
    9007199254740993.0,
    123456789012345680.0,
    0.5,
    1e-5,
    9.999999999999999e-5,
    1e-4,
    4.35,
    0.3000000000000001,
    5e-310,
    1.0000000000000002,
]


def random_double(rng: random.Random) -> float:
    return float(struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0])


def test_the_committed_ryu_tables_are_the_generators_output() -> None:
    header = ROOT / "chmd" / "store" / "_ryu_tables.h"
    assert header.read_text() == gen_ryu_tables.render()


def test_floats_print_as_repr_at_the_edges_and_every_power_of_two_and_ten() -> None:
    values = [*EDGE_FLOATS, *(2.0**e for e in range(-1074, 1024))]
    for k in range(-323, 309):
        for digits in (1, 2, 5, 7, 9, 123, 999, 12345678901234567):
            with_exponent = float(f"{digits}e{k}")
            if math.isfinite(with_exponent):
                values.append(with_exponent)
    for x in values:
        assert format_float(x) == repr(x), x.hex()
        assert format_float(-x) == repr(-x), (-x).hex()


def test_floats_print_as_repr_over_random_bit_patterns_and_decimals() -> None:
    """200,000 doubles from every exponent (CHMD_FLOAT_CHECK=N for N of them: run 20,000,000
    after editing the C), and values shaped like rates and percentages."""
    rng = random.Random(20261126)  # noqa: S311 (test data)
    for _ in range(int(os.environ.get("CHMD_FLOAT_CHECK", "200000"))):
        x = random_double(rng)
        if math.isfinite(x):
            assert format_float(x) == repr(x), x.hex()
    for _ in range(50_000):
        rate = rng.randrange(10**12) / (rng.random() * 300 + 1e-3)
        percent = round(rng.random() * 100, rng.randrange(0, 10))
        assert format_float(rate) == repr(rate), rate.hex()
        assert format_float(percent) == repr(percent), percent.hex()


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_print_as_repr(x: float) -> None:
    assert format_float(x) == repr(x)


def test_format_float_refuses_what_line_protocol_cannot_hold() -> None:
    for x in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="not a finite float"):
            format_float(x)


# Values a device or chmd can put in a field: plain and odd ints, floats, and the rest.
field_values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=2**63, max_value=2**70),  # a Counter64 above int64
    st.integers(min_value=-(2**70), max_value=-(2**63) - 1),
    st.floats(),  # NaN and ±inf too
    st.booleans(),
    st.text(max_size=8),
)
field_keys = st.one_of(
    st.sampled_from(["ifHCInOctets", "in_rate", "cpu 5s", "a,b", "k=v", 'q"x', "é", "\\", ""]),
    st.text(min_size=0, max_size=6),
)


def python_line(sample: Sample) -> tuple[str | None, dict[str, int], int]:
    """The Python path's line and skip counts for `sample` (the C path switched off)."""
    skipped = lineproto.SkipCounts()
    line = lineproto.encode_python(sample, lineproto.series_key(sample), skipped)
    return line, skipped.fields, skipped.samples


def storable(value: object) -> bool:
    """What the C path writes itself: plain ints in int64 and finite floats."""
    if type(value) is int:
        return -(2**63) <= value <= 2**63 - 1
    return type(value) is float and math.isfinite(value)


@settings(max_examples=400)
@given(
    st.dictionaries(field_keys, field_values, max_size=12),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=4),
    st.integers(min_value=0, max_value=2**63 - 1),
)
def test_a_line_is_the_python_paths_or_none(
    fields: dict[str, object], tags: dict[str, str], time_ns: int
) -> None:
    """Whatever the fields, the C path writes exactly the Python path's bytes, or leaves the
    sample to it (None): for a key it has not learned yet, an unstorable key or value, a
    string or a bool. Once the keys are learned, every sample of plain values is its."""
    sample = Sample("m", {"device": "d", **tags}, fields, time_ns)  # type: ignore[arg-type]
    key = lineproto.series_key(sample)
    expected, _, _ = python_line(sample)  # also learns the keys
    got = native_line(key, sample.fields, lineproto.field_prefixes, time_ns)
    if got is not None:
        assert got == expected
    plain = bool(fields) and all(
        storable(v) and lineproto.escape_field_key(k) for k, v in fields.items()
    )
    assert (got is not None) == plain


names = st.one_of(
    st.sampled_from(["ifName", "Gi1/0/1", "access port 5", "a,b", "k=v", 'q"x', "é", "#x", ""]),
    st.text(max_size=8),  # backslashes, newlines, tabs, unicode
)


@settings(max_examples=400)
@given(names, st.dictionaries(names, names, max_size=8))
def test_a_series_key_is_the_python_paths_or_none(measurement: str, tags: dict[str, str]) -> None:
    """The C series key equals the Python one, and is None exactly when a name holds what
    stored_text rewrites (a backslash, newline, carriage return; a measurement's tab) or the
    measurement is empty or starts with #."""
    got = native_series(measurement, tags)
    if got is not None:
        assert got == lineproto._series_key(Sample(measurement, tags, {}, 0))
    kept = [name for pair in tags.items() if all(pair) for name in pair]  # empty tags: left out
    rewritten = any(c in "\\\n\r" for name in (measurement, *kept) for c in name)
    left = rewritten or "\t" in measurement or not measurement or measurement[0] == "#"
    assert (got is None) == left


@settings(max_examples=200)
@given(st.dictionaries(field_keys, field_values, max_size=10))
def test_encode_writes_and_counts_the_same_with_and_without_the_c_path(
    fields: dict[str, object],
) -> None:
    sample = Sample("if", {"device": "sw1", "ifName": "Gi1/0/1"}, fields, 1)  # type: ignore[arg-type]
    skipped = lineproto.SkipCounts()
    for _ in range(2):  # the first call learns the keys
        line = lineproto.encode(sample, skipped)
    expected, skipped_fields, skipped_samples = python_line(sample)
    assert line == expected
    assert {k: v // 2 for k, v in skipped.fields.items()} == skipped_fields
    assert skipped.samples // 2 == skipped_samples


def test_non_ascii_names_and_a_long_row() -> None:
    """UTF-8 in the series and keys comes back as the same str; a row longer than the C
    buffer's stack part (2 KiB) grows it."""
    fields: dict[str, object] = {f"température_{i}": i * 1.1 for i in range(300)}
    fields["Ünits"] = 7
    sample = Sample("env", {"device": "Zürich-1", "sensor": "µ"}, fields, 5)  # type: ignore[arg-type]
    lineproto.learn_keys(sample)
    line = native_line(lineproto.series_key(sample), fields, lineproto.field_prefixes, 5)
    assert line is not None
    assert len(line.encode()) > 2048
    assert line == python_line(sample)[0]


def test_a_time_outside_int64_or_other_mappings_are_left_to_python() -> None:
    prefixes = {"a": "a="}
    assert native_line("m", {"a": 1}, prefixes, 2**63) is None
    assert native_line("m", {"a": 1}, prefixes, -1) == "m a=1i -1"
    assert native_line("m", {}, prefixes, 1) is None
    with pytest.raises(TypeError, match="line"):
        native_line("m", {"a": 1}, prefixes)
    assert native_series("m", {"a", "b"}) is None  # type: ignore[arg-type]
    assert native_series("m", {"a": 1}) is None  # type: ignore[dict-item]
    assert native_series("m", {f"t{i}": "v" for i in range(65)}) is None  # over 64 tags


mixed_samples = st.lists(
    st.builds(
        Sample,
        st.sampled_from(["if", "cpu load", "#c", ""]),
        st.dictionaries(names, names, max_size=3),
        st.dictionaries(field_keys, field_values, max_size=5),
        st.integers(min_value=0, max_value=2**63 - 1),
    ),
    max_size=12,
)


@settings(max_examples=300)
@given(mixed_samples, st.integers(min_value=0, max_value=14))
def test_append_lines_writes_the_python_lines_until_the_limit_or_a_python_sample(
    samples: list[Sample], limit: int
) -> None:
    """append_lines appends `line\\n` for each sample the C path can write, exactly as Python
    writes it, stops at the first it cannot (or at `limit` lines), and reports the time range
    of what it wrote."""
    expected = [python_line(sample)[0] for sample in samples]  # also learns the keys
    out = bytearray(b"earlier\n")
    stop, lo, hi = _speedups.append_lines(out, samples, 0, limit, lineproto.field_prefixes)
    writable = [
        native_series(s.measurement, s.tags) is not None
        and native_line("m", s.fields, lineproto.field_prefixes, s.time_ns) is not None
        for s in samples
    ]
    first_python = writable.index(False) if False in writable else len(samples)
    assert stop == min(first_python, limit)
    assert out.decode() == "earlier\n" + "".join(f"{line}\n" for line in expected[:stop])
    times = [s.time_ns for s in samples[:stop]]
    assert (lo, hi) == ((min(times), max(times)) if times else (2**63 - 1, -(2**63)))


def test_append_lines_starts_where_it_is_told() -> None:
    samples = [Sample("m", {"d": "x"}, {"v": i}, i) for i in range(5)]
    lineproto.learn_keys(samples[0])
    out = bytearray()
    assert _speedups.append_lines(out, samples, 3, 10, lineproto.field_prefixes) == (5, 3, 4)
    assert out == b"m,d=x v=3i 3\nm,d=x v=4i 4\n"


def test_ints_at_every_digit_count_and_the_int64_ends() -> None:
    """The digit count comes from a bit length and a table: check each side of every power of
    ten, zero and both int64 ends."""
    prefixes = {"v": "v="}
    values = [0, 2**63 - 1, -(2**63)]
    for k in range(19):
        values += [10**k - 1, 10**k, 10**k + 1, -(10**k)]
    for value in values:
        assert native_line("m", {"v": value}, prefixes, value) == f"m v={value}i {value}"


# --- rollups ---------------------------------------------------------------------------------
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 0.0, -0.0, 1, 1.0, 2**53, 2.0**53]),  # equal values of both types
)


def typed(aggs: dict[str, list[object]]) -> dict[str, list[tuple[type, object]]]:
    """Aggregates with each value's type: 1 and 1.0 compare equal but are not the same."""
    return {name: [(type(v), v) for v in agg] for name, agg in aggs.items()}


@settings(max_examples=400)
@given(
    st.integers(min_value=1, max_value=4).flatmap(
        lambda width: st.tuples(
            st.lists(st.tuples(*[numbers] * width), min_size=1, max_size=6),
            st.lists(
                st.one_of(st.none(), st.lists(numbers, min_size=4, max_size=4)),
                min_size=width,
                max_size=width,
            ),
        )
    ),
    st.integers(min_value=-1, max_value=5),
)
def test_fold_rows_is_the_python_fold(
    rows_and_aggs: tuple[list[tuple[object, ...]], list[list[object] | None]], last_row: int
) -> None:
    """The C fold leaves the same aggregates, value for value and type for type, as
    rollup._fold's Python: sums in the same order, the first of equal minima and maxima."""
    from chmd.store import rollup

    rows, earlier = rows_and_aggs
    width = len(rows[0])
    names = tuple(f"f{i}" for i in range(width))
    plan = rollup._Plan(names, tuple(i % 2 for i in range(width)), lambda values: values)
    last_row = min(last_row, len(rows) - 1)
    start = {n: [2.0, *agg] for n, agg in zip(names, earlier, strict=True) if agg is not None}

    def folded(native: object) -> tuple[dict[str, list[object]], dict[str, int]]:
        window = rollup._Window(0, "m", {}, aggs={k: list(v) for k, v in start.items()})
        window.kinds = {n: 0 for n in start}
        window.plan, window.rows, window.last_row = plan, list(rows), last_row
        saved = rollup.native_fold
        rollup.native_fold = native  # type: ignore[assignment]
        try:
            rollup._fold(window)
        finally:
            rollup.native_fold = saved
        return window.aggs, window.kinds

    answers: list[bool] = []

    def fold_rows(*args: Any) -> bool:
        answers.append(_speedups.fold_rows(*args))
        return answers[-1]

    c_aggs, c_kinds = folded(fold_rows)
    assert answers == [True]  # the C fold did the work
    py_aggs, py_kinds = folded(None)
    assert typed(c_aggs) == typed(py_aggs)
    assert c_kinds == py_kinds


def test_fold_rows_leaves_what_it_cannot_fold_untouched() -> None:
    aggs: dict[str, list[object]] = {"a": [1.0, 1, 1, 1, 1]}
    for rows in ([(1, "x")], [(1,)], [[1, 2]]):  # a string, a short row, a list
        assert _speedups.fold_rows(aggs, {}, ("a", "b"), (0, 0), rows, -1) is False
    assert aggs == {"a": [1.0, 1, 1, 1, 1]}


@settings(max_examples=200)
@given(
    st.lists(st.tuples(field_keys, st.floats()), max_size=8, unique_by=lambda kv: kv[0]),
)
def test_float_fields_is_the_python_paths_or_none(pairs: list[tuple[str, float]]) -> None:
    names = tuple(k for k, _ in pairs)
    values = [v for _, v in pairs]
    skipped = lineproto.SkipCounts()
    saved = lineproto.native_float_fields
    lineproto.native_float_fields = None
    try:
        expected = lineproto.float_fields(names, values, skipped)
    finally:
        lineproto.native_float_fields = saved
    for name in names:
        lineproto.escape_field_key(name)
        if name not in lineproto.field_prefixes:
            lineproto._prefix(name)
    got = _speedups.float_fields(names, values, lineproto.field_prefixes)
    if got is not None:
        assert got == expected
    plain = bool(names) and all(math.isfinite(v) and lineproto.field_prefixes[k] for k, v in pairs)
    assert (got is not None) == plain


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.one_of(st.sampled_from(["in_rate", 'q"x', "a\\b", "é", "\n"]), st.text(max_size=6)),
        st.lists(st.one_of(numbers, st.floats()), min_size=5, max_size=5),
        max_size=6,
    )
)
def test_aggs_json_is_json_dumps_or_none(aggs: dict[str, list[object]]) -> None:
    """The snapshot's aggregates: C text that reads back as json.dumps' (the same floats by
    repr, the same ints), or None for a name JSON must escape, a big int or a NaN."""
    import json

    got = _speedups.aggs_json(aggs)
    plain = all(
        name.isascii()
        and not any(c in '"\\' or ord(c) < 0x20 for c in name)
        and all(map(storable, values))
        for name, values in aggs.items()
    )
    assert (got is not None) == plain
    if got is not None:
        assert got == json.dumps(aggs, separators=(",", ":"))
