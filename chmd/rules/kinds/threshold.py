"""threshold: the latest value (or avg/min/max over a window) compared with a limit."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from chmd.rules.kinds.base import (
    F64,
    Mask,
    Needs,
    Outcome,
    Rows,
    chunks,
    compare_with_clear,
    raw_ring,
    where_ok,
)
from chmd.rules.schema import ThresholdRule
from chmd.rules.store import Table


def reduce_rows(block: npt.NDArray[np.floating[Any]], how: str) -> F64:
    """avg/min/max per row ignoring NaN (plain numpy when there is none: 3-4x faster)."""
    if not np.isnan(block).any():
        plain: dict[str, Callable[..., F64]] = {"avg": np.mean, "min": np.min, "max": np.max}
        return plain[how](block, axis=1).astype(np.float64)
    nan_aware: dict[str, Callable[..., F64]] = {
        "avg": np.nanmean,
        "min": np.nanmin,
        "max": np.nanmax,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows → NaN
        return nan_aware[how](block, axis=1).astype(np.float64)


class Threshold:
    def needs(self, spec: ThresholdRule) -> Needs:
        window = spec.window if spec.reduce != "last" and spec.window else 0.0
        return Needs(spec.select.field, raw_window_s=window)

    def evaluate(
        self, spec: ThresholdRule, table: Table, rows: Rows, active: Mask, now: float
    ) -> Outcome:
        column = table.columns[str(spec.select.field)]
        fresh = now - column.last_t[rows] <= spec.stale_after
        if spec.reduce == "last":
            series = column.last_v[rows]
        else:
            series = np.full(len(rows), np.nan)
            ring = raw_ring(column)
            for lo, hi in chunks(rows):
                block = ring.block(rows[lo:hi], now, float(spec.window or 0))
                series[lo:hi] = reduce_rows(block, spec.reduce)
        with np.errstate(invalid="ignore"):
            breached = compare_with_clear(spec.op, spec.value, spec.clear, series, active)
        breached &= fresh & ~np.isnan(series)
        if spec.select.where:
            breached &= where_ok(spec, table, rows, now)
        return Outcome(breached, series, stale=~fresh)
