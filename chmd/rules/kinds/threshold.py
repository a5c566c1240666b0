"""threshold: the latest value (or avg/min/max over a window) compared with a limit."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

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
            reducers: dict[str, Callable[..., F64]] = {
                "avg": np.nanmean,
                "min": np.nanmin,
                "max": np.nanmax,
            }
            reduce = reducers[spec.reduce]
            for lo, hi in chunks(rows):
                vals, _ = ring.view(rows[lo:hi], now, float(spec.window or 0))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows → NaN
                    series[lo:hi] = reduce(vals, axis=1)
        with np.errstate(invalid="ignore"):
            breached = compare_with_clear(spec.op, spec.value, spec.clear, series, active)
        breached &= fresh & ~np.isnan(series)
        if spec.select.where:
            breached &= where_ok(spec, table, rows, now)
        return Outcome(breached, series, stale=~fresh)
