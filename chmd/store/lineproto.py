"""InfluxDB line protocol for chmd's `Sample`s: pure, serialised once per sample, on the hot path.

Escaping (checked against InfluxDB 1.6.7 by property tests; InfluxDB stores exactly the text):

* measurement: `,`, space, `=` and `"` are backslash-escaped;
* tag keys and values: `,`, `=` and space; field keys: `,`, `=`, space and `"`;
* string field values: `\\` and `"` inside double quotes (newlines are kept as they are).

Any other backslash is written as is and stored as is. Two things cannot be represented, and
chmd changes them in a documented way (`stored_text` says what InfluxDB ends up storing):
a newline or carriage return outside a string value (line protocol has no escape for it)
becomes a space, and a backslash right before an escaped character or at the end of a name
becomes `/` (InfluxDB 1.6.7 reads such a backslash as an escape and stores a mangled name, or
rejects the line). InfluxDB itself drops leading tabs of measurements and field keys. A tag with an
empty key or value is left out (InfluxDB has no empty tag). Fields that cannot be stored are
skipped and counted by reason: `nan` (NaN/±inf), `int_range` (an integer outside int64, e.g. a
Counter64 above 2^63-1), `empty_key`. A sample left without any field is skipped whole
(`encode` returns None).

Integers are written `123i`, floats by `repr` (shortest round-trip), booleans `true`/`false`,
timestamps in nanoseconds.

`native_line`, `native_series`, `native_append` and `native_float_fields` are the C fast path
(`_speedups.c`, built with chmd.native; None when not built): they write a whole line of plain
ints and finite floats with known keys, a series key whose names need no escaping, a poll's
lines straight into a batch, and a rollup window's floats, the same bytes as the Python
below, several times faster. They leave anything else to the Python path, which writes (and
counts) those samples.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from chmd.model import Sample

NativeLine = Callable[[str, Mapping[str, object], dict[str, str], int], str | None]
NativeSeries = Callable[[str, Mapping[str, str]], str | None]
NativeAppend = Callable[
    [bytearray, Sequence[Sample], int, int, dict[str, str]], tuple[int, int, int]
]
NativeFloatFields = Callable[[tuple[str, ...], list[float], dict[str, str]], str | None]
native_line: NativeLine | None
native_series: NativeSeries | None
native_append: NativeAppend | None
native_float_fields: NativeFloatFields | None
try:  # not built, or stale (the guard in chmd.native refuses it): Python writes every line
    from chmd.store._speedups import append_lines as native_append
    from chmd.store._speedups import float_fields as native_float_fields
    from chmd.store._speedups import line as native_line
    from chmd.store._speedups import series as native_series
except ModuleNotFoundError:  # a broken extension fails loudly, as the mypyc modules do
    native_line = native_series = native_append = native_float_fields = None

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_NEWLINES = str.maketrans({"\n": " ", "\r": " "})
# The characters InfluxDB unescapes after a backslash, per element (measured on 1.6.7). chmd
# escapes every one of them, so a backslash in front of one survives too (`\\,` → `\\\\,`).
MEASUREMENT_ESCAPES = ', ="'
TAG_ESCAPES = ", ="
FIELD_KEY_ESCAPES = ', ="'
_MEASUREMENT = str.maketrans({c: "\\" + c for c in MEASUREMENT_ESCAPES})
_TAG = str.maketrans({c: "\\" + c for c in TAG_ESCAPES})
_FIELD_KEY = str.maketrans({c: "\\" + c for c in FIELD_KEY_ESCAPES})
_STRING = str.maketrans({"\\": "\\\\", '"': '\\"'})
_MEASUREMENT_SPECIAL = frozenset(MEASUREMENT_ESCAPES + "\\\n\r\t")
_TAG_SPECIAL = frozenset(TAG_ESCAPES + "\\\n\r")
_FIELD_KEY_SPECIAL = frozenset(FIELD_KEY_ESCAPES + "\\\n\r\t")

_CACHE_LIMIT = 65536
_tag_cache: dict[str, str] = {}
_field_key_cache: dict[str, str] = {}
_measurement_cache: dict[str, str] = {}


def _compile(escapes: str) -> re.Pattern[str]:
    return re.compile(r"\\(?=[" + re.escape(escapes) + "]|$)")


_BAD_BACKSLASH = {e: _compile(e) for e in (MEASUREMENT_ESCAPES, TAG_ESCAPES, FIELD_KEY_ESCAPES)}


def stored_text(text: str, escapes: str = TAG_ESCAPES) -> str:
    """What InfluxDB stores for a measurement, tag key/value or field key chmd was given.

    `escapes` is the element's set (`MEASUREMENT_ESCAPES`, `TAG_ESCAPES`, `FIELD_KEY_ESCAPES`).
    Newlines become spaces; a backslash right before an escaped character or at the end
    becomes `/` (InfluxDB would read it as an escape and mangle the name); leading tabs of a
    measurement or field key are dropped (InfluxDB skips them as whitespace).
    """
    text = text.translate(_NEWLINES)
    if escapes is not TAG_ESCAPES:
        text = text.lstrip("\t")
    if "\\" in text:
        text = _BAD_BACKSLASH[escapes].sub("/", text)
    return text


def _escape(text: str, escapes: str, table: dict[int, str]) -> str:
    return stored_text(text, escapes).translate(table)


def escape_measurement(name: str) -> str:
    """The measurement as written in line protocol (`cpu load` → `cpu\\ load`)."""
    cached = _measurement_cache.get(name)
    if cached is None:
        cached = (
            name
            if _MEASUREMENT_SPECIAL.isdisjoint(name)
            else _escape(name, MEASUREMENT_ESCAPES, _MEASUREMENT)
        )
        if len(_measurement_cache) >= _CACHE_LIMIT:
            _measurement_cache.clear()
        _measurement_cache[name] = cached
    return cached


def escape_tag(text: str) -> str:
    """A tag key or value as written in line protocol (cached: the same values recur)."""
    cached = _tag_cache.get(text)
    if cached is None:
        cached = text if _TAG_SPECIAL.isdisjoint(text) else _escape(text, TAG_ESCAPES, _TAG)
        if len(_tag_cache) >= _CACHE_LIMIT:
            _tag_cache.clear()
        _tag_cache[text] = cached
    return cached


def escape_field_key(text: str) -> str:
    """A field key as written in line protocol (cached)."""
    cached = _field_key_cache.get(text)
    if cached is None:
        cached = (
            text
            if _FIELD_KEY_SPECIAL.isdisjoint(text)
            else _escape(text, FIELD_KEY_ESCAPES, _FIELD_KEY)
        )
        if len(_field_key_cache) >= _CACHE_LIMIT:
            _field_key_cache.clear()
        _field_key_cache[text] = cached
    return cached


def escape_string(text: str) -> str:
    """A string field value, quotes included (InfluxDB stores it exactly, newlines too)."""
    if "\\" in text or '"' in text:
        text = text.translate(_STRING)
    return f'"{text}"'


@dataclass(slots=True)
class SkipCounts:
    """Fields and samples left out, by reason (see the module docstring)."""

    fields: dict[str, int] = field(default_factory=dict)
    samples: int = 0

    def add_field(self, reason: str) -> None:
        self.fields[reason] = self.fields.get(reason, 0) + 1


_SERIES_CACHE_LIMIT = 262144
_series_cache: dict[tuple[str, tuple[str, ...], tuple[str, ...]], str] = {}
field_prefixes: dict[str, str] = {}  # field key → `escaped_key=` ("" when unstorable)


def series_key(sample: Sample) -> str:
    """`measurement,tag=value,…` with tags sorted by key (InfluxDB's own order); "" when the
    measurement is empty or would read as a comment (`#…`). Cached per series, unless
    `native_series` writes it (faster than a cache lookup, which hashes every tag value)."""
    if native_series is not None:
        key = native_series(sample.measurement, sample.tags)
        if key is not None:
            return key
    tags = sample.tags
    cache_key = (sample.measurement, tuple(tags), tuple(tags.values()))  # no pair tuples
    key = _series_cache.get(cache_key)
    if key is None:
        key = _series_key(sample)
        if len(_series_cache) >= _SERIES_CACHE_LIMIT:
            _series_cache.clear()
        _series_cache[cache_key] = key
    return key


def _series_key(sample: Sample) -> str:
    measurement = escape_measurement(sample.measurement)
    if not measurement or measurement[0] == "#":
        return ""
    parts = [measurement]
    for key, value in sorted(sample.tags.items()):
        if key and value:
            parts.append(f"{escape_tag(key)}={escape_tag(value)}")
    return ",".join(parts)


def _prefix(key: str) -> str:
    escaped = escape_field_key(key)
    prefix = f"{escaped}=" if escaped else ""
    if len(field_prefixes) >= _CACHE_LIMIT:
        field_prefixes.clear()
    field_prefixes[key] = prefix
    return prefix


# Fast path: samples of one collector table share their field keys and value types, so each
# key tuple gets a layout: a %-template (`ifMtu=%di,in_rate=%r,…`) filled in one C call, and
# getters for its int and float values. Only layouts of plain ints and floats with non-empty
# keys have a template; a sample whose values might be unstorable (an int outside int64, a
# NaN or ±inf) takes the per-field path, which counts them.
_LAYOUT_LIMIT = 4096
_FORMATS = {int: "%di", float: "%r"}


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed by identity
class _Layout:
    types: tuple[type, ...]
    template: str | None
    ints: Callable[[tuple[Any, ...]], tuple[int, ...]] | None
    floats: Callable[[tuple[Any, ...]], tuple[float, ...]] | None


_layouts: dict[tuple[str, ...], _Layout] = {}


def _getter(positions: list[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]] | None:
    if not positions:
        return None
    if len(positions) == 1:  # itemgetter of one index returns the item, not a 1-tuple
        positions = positions * 2
    return itemgetter(*positions)


def _layout(keys: tuple[str, ...], types: tuple[type, ...]) -> _Layout:
    parts = []
    template: str | None = None
    for key, kind in zip(keys, types, strict=True):
        escaped = escape_field_key(key)
        spec = _FORMATS.get(kind)
        if not escaped or spec is None:
            break
        parts.append(escaped.replace("%", "%%") + "=" + spec)
    else:
        template = ",".join(parts)
    layout = _Layout(
        types,
        template,
        _getter([i for i, kind in enumerate(types) if kind is int]),
        _getter([i for i, kind in enumerate(types) if kind is float]),
    )
    if len(_layouts) >= _LAYOUT_LIMIT:
        _layouts.clear()
    _layouts[keys] = layout
    return layout


def field_set(sample: Sample, skipped: SkipCounts) -> str:
    """`key=value,…`; fields InfluxDB cannot store are counted in `skipped` and left out."""
    return field_set_layout(sample, skipped)[0]


Clean = tuple[object, tuple[Any, ...]]
"""What `field_set_layout` found when every field is a plain int (in int64) or a finite float:
the layout (an opaque key, one per field keys and value types, compared by identity) and the
values in field order."""


def _layout_of(fields: Mapping[str, object]) -> tuple[_Layout, tuple[Any, ...]]:
    values = tuple(fields.values())
    types = tuple(map(type, values))
    keys = tuple(fields)
    layout = _layouts.get(keys)
    if layout is None or layout.types != types:
        layout = _layout(keys, types)
    return layout, values


def clean_layout(sample: Sample) -> Clean:
    """The `Clean` layout and values of a sample `native_line` wrote (so every field is a plain
    int in int64 or a finite float)."""
    return _layout_of(sample.fields)


def field_set_layout(sample: Sample, skipped: SkipCounts) -> tuple[str, Clean | None]:
    """`field_set`, and the `Clean` layout and values when every field is a plain int or a
    finite float (the rollups then need no checks of their own), else None."""
    layout, values = _layout_of(sample.fields)
    template = layout.template
    if template is not None:
        ints = layout.ints(values) if layout.ints else None
        floats = sum(layout.floats(values)) if layout.floats else 0.0
        if (ints is None or (min(ints) >= INT64_MIN and max(ints) <= INT64_MAX)) and (
            floats - floats == 0.0  # not NaN, ±inf (or a sum that overflowed: per field)
        ):
            return template % values, (layout, values)
    return field_set_per_field(sample, skipped), None


def field_set_per_field(sample: Sample, skipped: SkipCounts) -> str:
    """`field_set` one field at a time: any types, unstorable values counted and left out."""
    out: list[str] = []
    append = out.append
    prefixes = field_prefixes
    for key, value in sample.fields.items():
        prefix = prefixes.get(key)
        if prefix is None:
            prefix = _prefix(key)
        if not prefix:
            skipped.add_field("empty_key")
            continue
        kind = type(value)
        if kind is int:
            if INT64_MIN <= value <= INT64_MAX:  # type: ignore[operator]
                append(f"{prefix}{value}i")
            else:
                skipped.add_field("int_range")
        elif kind is float:
            if value - value == 0.0:  # type: ignore[operator]  # finite: not NaN, not ±inf
                append(f"{prefix}{value!r}")
            else:
                skipped.add_field("nan")
        elif kind is str:
            append(prefix + escape_string(value))  # type: ignore[arg-type]
        elif kind is bool:
            append(prefix + ("true" if value else "false"))
        else:
            text = _other(value, skipped)
            if text:
                append(prefix + text)
    return ",".join(out)


_float_templates: dict[tuple[str, ...], str | None] = {}


def float_fields(names: tuple[str, ...], values: list[float], skipped: SkipCounts) -> str:
    """`name=value,…` for fields that are all floats (rollup windows): one %-template per
    names tuple, the same bytes as `field_set` writes for them (`native_float_fields` when it
    is built and knows the names)."""
    if native_float_fields is not None:
        text = native_float_fields(names, values, field_prefixes)
        if text is not None:
            return text
        for name in names:  # for the next window of these names
            if name not in field_prefixes:
                _prefix(name)
    template = _float_templates.get(names, "")
    if template == "":
        keys = [escape_field_key(name) for name in names]
        template = None
        if all(keys):
            template = ",".join(key.replace("%", "%%") + "=%r" for key in keys)
        if len(_float_templates) >= _LAYOUT_LIMIT:
            _float_templates.clear()
        _float_templates[names] = template
    total = sum(values)
    if template is not None and total - total == 0.0:  # all finite
        return template % tuple(values)
    fields = dict(zip(names, values, strict=True))
    return field_set_per_field(Sample("", {}, fields, 0), skipped)


def _other(value: object, skipped: SkipCounts) -> str:
    """Subclasses of the four field types (IntEnum, numpy-free str subclasses …)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            skipped.add_field("int_range")
            return ""
        return f"{int(value)}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            skipped.add_field("nan")
            return ""
        return repr(float(value))
    if isinstance(value, str):
        return escape_string(str(value))
    skipped.add_field("type")
    return ""


def encode(sample: Sample, skipped: SkipCounts) -> str | None:
    """One line (no trailing newline), or None when the sample cannot be stored."""
    key = series_key(sample)
    if key and native_line is not None:
        line = native_line(key, sample.fields, field_prefixes, sample.time_ns)
        if line is not None:
            return line
    return encode_python(sample, key, skipped)


def encode_python(sample: Sample, key: str, skipped: SkipCounts) -> str | None:
    """`encode` for the sample `native_line` did not write (a key it has not seen, a string, an
    unstorable value), or for every sample when it is not built. Learns the sample's field keys
    for `native_line`."""
    if not key:
        skipped.samples += 1
        return None
    fields = field_set(sample, skipped)
    if not fields:
        skipped.samples += 1
        return None
    learn_keys(sample)
    return f"{key} {fields} {sample.time_ns}"


def learn_keys(sample: Sample) -> None:
    """Escape the sample's field keys into the prefix cache `native_line` reads."""
    for key in sample.fields:
        if key not in field_prefixes:
            _prefix(key)


def encode_many(samples: Iterable[Sample], skipped: SkipCounts) -> list[str]:
    """Lines for every storable sample, in order."""
    lines = []
    for sample in samples:
        line = encode(sample, skipped)
        if line is not None:
            lines.append(line)
    return lines


def split_lines(body: bytes) -> list[bytes]:
    """Split a batch into lines the way InfluxDB does (`scanLine`): a newline inside a quoted
    string field value does not end the line. Used only to split rejected batches."""
    out: list[bytes] = []
    i, n, start = 0, len(body), 0
    quoted = in_fields = False
    equals = commas = 0
    while i < n:
        c = body[i]
        if c == 0x5C and i + 2 < n:  # backslash: skip the escaped byte
            i += 2
            continue
        if c == 0x20:
            in_fields = True
        if in_fields:
            if not quoted and c == 0x3D:
                equals += 1
            elif not quoted and c == 0x2C:
                commas += 1
            elif c == 0x22 and equals > commas:
                quoted = not quoted
        if c == 0x0A and not quoted:
            out.append(body[start:i])
            start = i + 1
            quoted = in_fields = False
            equals = commas = 0
        i += 1
    if start < n:
        out.append(body[start:])
    return [line for line in out if line]
