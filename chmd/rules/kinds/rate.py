"""rate: per-second rate, increase, delta, or number of resets of a field over a window."""

from __future__ import annotations

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
from chmd.rules.schema import RateRule
from chmd.rules.store import Table


def window_change(vals: F64, times: F64, function: str, counter: bool) -> F64:
    """The chosen change per row of a (rows x slots) window, NaN where under two points."""
    valid = ~np.isnan(vals)
    if valid.all():
        return _dense_change(vals, times, function, counter)
    n = valid.sum(axis=1)
    idx = np.where(valid, np.arange(vals.shape[1])[None, :], 0)
    idx = np.maximum.accumulate(idx, axis=1)  # forward fill: each slot sees the last valid point
    filled = np.take_along_axis(vals, idx, axis=1)
    filled_t = np.take_along_axis(times, idx, axis=1)
    steps = np.diff(filled, axis=1)
    steps = np.where(np.isnan(steps), 0.0, steps)
    if function == "resets":
        out = (steps < 0).sum(axis=1).astype(np.float64)
    elif function == "delta" or not counter:
        first = np.argmax(valid, axis=1)
        last = vals.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1)
        rows = np.arange(vals.shape[0])
        out = vals[rows, last] - vals[rows, first]
        if function == "rate":
            span = times[rows, last] - times[rows, first]
            out = np.divide(out, span, out=np.full(len(out), np.nan), where=span > 0)
    else:  # counter increase / rate: a decrease is a reset, counting from zero
        after = filled[:, 1:]
        increase = np.where(steps < 0, np.nan_to_num(after), steps).sum(axis=1)
        out = increase
        if function == "rate":
            first = np.argmax(valid, axis=1)
            rows = np.arange(vals.shape[0])
            span = filled_t[:, -1] - times[rows, first]
            out = np.divide(increase, span, out=np.full(len(out), np.nan), where=span > 0)
    return np.where(n >= 2, out, np.nan)


def _dense_change(vals: F64, times: F64, function: str, counter: bool) -> F64:
    """`window_change` when every slot holds a value (the steady case): no forward fill."""
    if vals.shape[1] < 2:
        return np.full(vals.shape[0], np.nan)
    steps = np.diff(vals, axis=1)
    if function == "resets":
        resets: F64 = (steps < 0).sum(axis=1).astype(np.float64)
        return resets
    out: F64
    if function == "delta" or not counter:
        out = vals[:, -1] - vals[:, 0]
    else:
        out = np.where(steps < 0, vals[:, 1:], steps).sum(axis=1)
    if function != "rate":
        return out
    span = times[:, -1] - times[:, 0]
    rate: F64 = np.divide(out, span, out=np.full(len(out), np.nan), where=span > 0)
    return rate


class Rate:
    def needs(self, spec: RateRule) -> Needs:
        return Needs(spec.select.field, raw_window_s=spec.window)

    def evaluate(
        self, spec: RateRule, table: Table, rows: Rows, active: Mask, now: float
    ) -> Outcome:
        column = table.columns[str(spec.select.field)]
        ring = raw_ring(column)
        series = np.full(len(rows), np.nan)
        for lo, hi in chunks(rows):
            vals, times = ring.view(rows[lo:hi], now, spec.window)
            series[lo:hi] = window_change(vals, times, spec.function, spec.counter)
        fresh = now - column.last_t[rows] <= spec.stale_after
        with np.errstate(invalid="ignore"):
            breached = compare_with_clear(spec.op, spec.value, spec.clear, series, active)
        breached &= fresh & ~np.isnan(series)
        if spec.select.where:
            breached &= where_ok(spec, table, rows, now)
        return Outcome(breached, series, stale=~fresh)
