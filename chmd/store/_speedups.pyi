# Types of the C fast path in _speedups.c (built by chmd.nativebuild; see lineproto.py, rollup.py).
from collections.abc import Mapping, Sequence
from typing import Any

from chmd.model import Sample

FAST_FLOATS: int  # 1: floats by its own Ryu, 0: by CPython's formatter (no 128-bit ints)

def line(
    series: str, fields: Mapping[str, object], prefixes: dict[str, str], time_ns: int, /
) -> str | None: ...
def series(measurement: str, tags: Mapping[str, str], /) -> str | None: ...
def append_lines(
    out: bytearray,
    samples: Sequence[Sample],
    start: int,
    limit: int,
    prefixes: dict[str, str],
    /,
) -> tuple[int, int, int]: ...
def float_fields(
    names: tuple[str, ...], values: list[float], prefixes: dict[str, str], /
) -> str | None: ...
def fold_rows(
    aggs: dict[str, list[Any]],
    kinds: dict[str, int],
    names: tuple[str, ...],
    plan_kinds: tuple[int, ...],
    rows: list[tuple[Any, ...]],
    last_row: int,
    /,
) -> bool: ...
def aggs_json(aggs: dict[str, list[Any]], /) -> str | None: ...
def format_float(x: float, /) -> str: ...
