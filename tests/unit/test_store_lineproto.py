"""Line protocol serialisation (pure)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from chmd.model import FieldValue, Sample
from chmd.store import lineproto as lp


def enc(sample: Sample) -> tuple[str | None, lp.SkipCounts]:
    skipped = lp.SkipCounts()
    return lp.encode(sample, skipped), skipped


def test_types_and_sorted_tags() -> None:
    """Ints get `i`, bools true/false, floats repr, strings quoted; tags sorted; ns timestamp."""
    line, _ = enc(Sample("if", {"z": "1", "a": "2"}, {"i": 5, "f": 0.5, "b": False, "s": "x"}, 7))
    assert line == 'if,a=2,z=1 i=5i,f=0.5,b=false,s="x" 7'


def test_escaping() -> None:
    """Spaces, commas, equals and quotes are escaped per element; string values escape \\ and "."""
    sample = Sample('my m,="', {"k y": "v,1=2"}, {'f "k"=': 'a\\b "c"'}, 1)
    line, _ = enc(sample)
    assert line == 'my\\ m\\,\\=\\",k\\ y=v\\,1\\=2 f\\ \\"k\\"\\==' + '"a\\\\b \\"c\\"" 1'


def test_newlines_and_trailing_backslash_in_names() -> None:
    """Newlines in names become spaces; a backslash at the end of a name becomes `/`."""
    line, _ = enc(Sample("m", {"t": "a\nb\\"}, {"v": 1}, 1))
    assert line == "m,t=a\\ b/ v=1i 1"
    assert lp.stored_text("a\nb\\") == "a b/"
    assert lp.stored_text("C:\\ x") == "C:/ x"
    assert lp.stored_text("a\\b") == "a\\b"


def test_unstorable_fields_skipped_and_counted() -> None:
    """NaN/inf floats and ints beyond int64 are left out and counted; an empty sample is skipped."""
    line, skipped = enc(Sample("m", {}, {"a": math.nan, "b": math.inf, "c": 2**64 - 1, "d": 1}, 1))
    assert line == "m d=1i 1"
    assert skipped.fields == {"nan": 2, "int_range": 1}
    line, skipped = enc(Sample("m", {}, {"a": math.nan}, 1))
    assert line is None
    assert skipped.samples == 1


def test_empty_tags_dropped() -> None:
    """A tag with an empty value is left out (InfluxDB has no empty tags)."""
    line, _ = enc(Sample("m", {"a": "", "b": "x"}, {"v": 1.0}, 1))
    assert line == "m,b=x v=1.0 1"


def test_split_lines_keeps_newlines_inside_strings() -> None:
    """split_lines cuts a batch like InfluxDB does: not at a newline inside a string value."""
    body = b'm,t=a s="x\ny" 1\nm v=1i 2\nm,t=q\\"r s="a\n" 3'
    assert lp.split_lines(body) == [b'm,t=a s="x\ny" 1', b"m v=1i 2", b'm,t=q\\"r s="a\n" 3']


_field_values = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e16, 1e-5, 2.0**63, -(2.0**63), 1.7e308]),
    st.booleans(),
    st.text(max_size=5),
)


@given(
    st.lists(
        st.tuples(st.text(alphabet='ab%= ,"\\\n\t', max_size=4), _field_values),
        max_size=8,
    ),
    st.integers(min_value=1, max_value=3),
)
def test_field_set_fast_path_equals_per_field(
    items: list[tuple[str, FieldValue]], repeat: int
) -> None:
    """The cached-template path writes and counts exactly what the per-field path does."""
    fields = dict(items)
    sample = Sample("m", {}, fields, 1)
    want_skipped = lp.SkipCounts()
    want = lp.field_set_per_field(sample, want_skipped)
    for _ in range(repeat):  # first call builds the layout, later ones reuse it
        skipped = lp.SkipCounts()
        assert lp.field_set(sample, skipped) == want
        assert skipped == want_skipped


def test_field_set_layout_follows_value_types() -> None:
    """The same keys with other value types (int → float, in range → beyond int64) are
    written by their own types, never by a template built for earlier ones."""
    for fields in ({"a": 1, "b": 2.5}, {"a": 1.0, "b": 2}, {"a": 2**63, "b": 2.5}, {"a": 1}):
        sample = Sample("m", {}, fields, 1)
        assert lp.field_set(sample, lp.SkipCounts()) == lp.field_set_per_field(
            sample, lp.SkipCounts()
        )
    for bad in (math.nan, math.inf, -math.inf):
        skipped = lp.SkipCounts()
        assert lp.field_set(Sample("m", {}, {"a": 3, "b": bad}, 1), skipped) == "a=3i"
        assert skipped.fields == {"nan": 1}
    for big in (2**63, -(2**63) - 1):
        skipped = lp.SkipCounts()
        assert lp.field_set(Sample("m", {}, {"a": big, "b": 0.5}, 1), skipped) == "b=0.5"
        assert skipped.fields == {"int_range": 1}


@given(
    st.lists(
        st.tuples(
            st.text(alphabet='ab%= ,"\\\n\t_', max_size=5),
            st.floats(allow_nan=True, allow_infinity=True),
        ),
        max_size=8,
        unique_by=lambda item: item[0],
    ),
    st.integers(min_value=1, max_value=3),
)
def test_float_fields_equals_field_set(items: list[tuple[str, float]], repeat: int) -> None:
    """Rollup windows (all-float fields formatted from names and values) are written and
    counted exactly as field_set writes the same fields of a Sample."""
    names = tuple(name for name, _ in items)
    values = [value for _, value in items]
    want_skipped = lp.SkipCounts()
    want = lp.field_set_per_field(Sample("m", {}, dict(items), 1), want_skipped)
    for _ in range(repeat):  # first call builds the template, later ones reuse it
        skipped = lp.SkipCounts()
        assert lp.float_fields(names, values, skipped) == want
        assert skipped == want_skipped
