"""Line protocol serialisation (pure)."""

from __future__ import annotations

import math

from chmd.model import Sample
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
