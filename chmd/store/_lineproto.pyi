# Types of the C fast path in _lineproto.c (built by chmd.nativebuild; see lineproto.py).
from collections.abc import Mapping, Sequence

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
def format_float(x: float, /) -> str: ...
