"""anomaly: robust z-score of the latest value against the series' own baseline.

`rolling`: median and MAD of the raw window. `daily`/`weekly`: the same hour-of-day (or
hour-of-week) bucket on the previous `seasons` periods, from a downsampled ring of means.
The scale is 1.4826·MAD, floored at `min_scale`·|median| so a flat series cannot make
every wiggle an anomaly.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from chmd.rules.kinds.base import F64, Mask, Needs, Outcome, Rows, chunks, raw_ring
from chmd.rules.schema import AnomalyRule
from chmd.rules.store import RingSpec, Table

PERIOD_S = {"daily": 86400.0, "weekly": 604800.0}


def ring_spec(spec: AnomalyRule) -> RingSpec | None:
    if spec.baseline == "rolling":
        return None
    per_period = math.ceil(PERIOD_S[spec.baseline] / spec.resolution)
    return RingSpec(spec.resolution, per_period * (spec.seasons + 1), mean=True)


def robust(baseline: F64) -> tuple[F64, F64, F64]:
    """(median, MAD, count) per row, ignoring NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(baseline, axis=1)
        mad = np.nanmedian(np.abs(baseline - median[:, None]), axis=1)
    return median, mad, (~np.isnan(baseline)).sum(axis=1).astype(np.float64)


class Anomaly:
    def needs(self, spec: AnomalyRule) -> Needs:
        if spec.baseline == "rolling":
            return Needs(spec.select.field, raw_window_s=spec.window)
        return Needs(spec.select.field, ring=ring_spec(spec))

    def _baseline(self, spec: AnomalyRule, table: Table, rows: Rows, now: float) -> F64:
        column = table.columns[str(spec.select.field)]
        if spec.baseline == "rolling":
            vals, times = raw_ring(column).view(rows, now, spec.window)
            last = column.last_t[rows]
            vals[times >= last[:, None]] = np.nan  # the value under test is not its own baseline
            return vals
        ring_s = ring_spec(spec)
        if ring_s is None:  # pragma: no cover - rolling returned above
            raise LookupError("seasonal anomaly rule without a ring")
        ring = column.rings[ring_s]
        per_period = math.ceil(PERIOD_S[spec.baseline] / spec.resolution)
        vals, _ = ring.view(rows, now, ring_s.slots * spec.resolution)
        picks = [vals.shape[1] - 1 - k * per_period for k in range(1, spec.seasons + 1)]
        return vals[:, [p for p in picks if p >= 0]]

    def evaluate(
        self, spec: AnomalyRule, table: Table, rows: Rows, active: Mask, now: float
    ) -> Outcome:
        column = table.columns[str(spec.select.field)]
        current = column.last_v[rows]
        median = np.full(len(rows), np.nan)
        mad = np.full(len(rows), np.nan)
        count = np.zeros(len(rows))
        for lo, hi in chunks(rows):
            median[lo:hi], mad[lo:hi], count[lo:hi] = robust(
                self._baseline(spec, table, rows[lo:hi], now)
            )
        scale = np.maximum(1.4826 * mad, spec.min_scale * np.abs(median))
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (current - median) / np.where(scale > 0, scale, np.nan)
            z = np.where(
                (scale == 0) & (current != median), np.copysign(np.inf, current - median), z
            )
        score = {"both": np.abs(z), "up": z, "down": -z}[spec.direction]
        needed = 2 if spec.baseline != "rolling" else 5
        history = (now - table.first_t[rows] >= spec.min_history) & (count >= needed)
        fresh = now - column.last_t[rows] <= spec.stale_after
        with np.errstate(invalid="ignore"):
            breached = (score >= spec.z) & (np.abs(current - median) >= spec.min_deviation)
        breached &= history & fresh & ~np.isnan(score)

        def detail(i: int) -> dict[str, str]:
            return {"z": f"{z[i]:.2f}", "baseline": f"{median[i]:.6g}", "mad": f"{mad[i]:.6g}"}

        return Outcome(breached, current, detail, stale=~fresh)
