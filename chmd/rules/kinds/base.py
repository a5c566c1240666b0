"""What a rule kind provides to the engine, and helpers the numeric kinds share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from chmd.rules.store import Column, Ring, RingSpec, Table

Rows = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
F64 = npt.NDArray[np.float64]
CHUNK = 65536  # rows per window gather: bounds temporary memory to CHUNK x slots x 8 bytes

OPS: dict[str, Callable[[Any, Any], Mask]] = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


@dataclass(frozen=True, slots=True)
class Needs:
    """What a rule needs stored: a numeric or text field, a raw window, a downsampled ring."""

    field: str | None
    text: bool = False
    raw_window_s: float = 0.0
    ring: RingSpec | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One rule over many rows: breached and value per row; `detail(i)` only for candidates."""

    breached: Mask
    value: F64
    detail: Callable[[int], dict[str, str]] | None = None
    text: Callable[[int], str] | None = None  # pattern rules: the string value of row i
    stale: Mask | None = None  # rows without a fresh value: an active alert holds its state


class Kind(Protocol):
    """`needs` runs once when rules are bound; `evaluate` once per rule per tick."""

    def needs(self, spec: Any) -> Needs: ...

    def evaluate(
        self, spec: Any, table: Table, rows: Rows, active: Mask, now: float
    ) -> Outcome: ...


def raw_ring(column: Column) -> Ring:
    for ring in column.rings.values():
        if not ring.spec.mean:
            return ring
    raise LookupError("no raw ring on this column (the engine binds one for windowed rules)")


def where_ok(spec: Any, table: Table, rows: Rows, now: float) -> Mask:
    """The selector's `where:` conditions on other fields of the same row (fresh values only)."""
    ok = np.ones(len(rows), dtype=bool)
    for cond in spec.select.where:
        column = table.columns[cond.field]
        fresh = now - column.last_t[rows] <= spec.stale_after
        ok &= fresh & OPS[cond.op](column.last_v[rows], cond.value)
    return ok


def compare_with_clear(
    op: str, value: float, clear: float | None, series: F64, active: Mask
) -> Mask:
    """Hysteresis: rows already active stay breached while `op clear` holds."""
    fire = OPS[op](series, value)
    if clear is None:
        return fire
    return np.where(active, OPS[op](series, clear), fire)


def chunks(rows: Rows) -> list[tuple[int, int]]:
    return [(i, min(i + CHUNK, len(rows))) for i in range(0, len(rows), CHUNK)]
