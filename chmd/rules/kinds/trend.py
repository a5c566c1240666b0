"""trend: fit a line over a downsampled window and predict when it reaches `limit`.

Least squares is computed for every row at once; the robust Theil-Sen fit (median of the
pairwise slopes) is computed only for rows whose least-squares slope points at the limit or
that are already past it, since a robust fit is O(points²) per row.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np

from chmd.configtypes import format_duration
from chmd.rules.kinds.base import F64, Mask, Needs, Outcome, Rows, chunks
from chmd.rules.schema import TrendRule
from chmd.rules.store import RingSpec, Table


def ring_spec(spec: TrendRule) -> RingSpec:
    resolution = spec.resolution or max(spec.window / 96.0, 1.0)
    return RingSpec(resolution, math.ceil(spec.window / resolution) + 1, mean=True)


def least_squares(vals: F64, times: F64, now: float) -> tuple[F64, F64, F64]:
    """(slope per second, fitted value at `now`, point count) per row; NaN where < 2 points."""
    valid = ~np.isnan(vals)
    n = valid.sum(axis=1).astype(np.float64)
    x = np.where(valid, times - now, 0.0)
    y = np.where(valid, vals, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = x.sum(axis=1) / n
        ym = y.sum(axis=1) / n
        dx = np.where(valid, x - xm[:, None], 0.0)
        dy = np.where(valid, y - ym[:, None], 0.0)
        slope = (dx * dy).sum(axis=1) / (dx * dx).sum(axis=1)
        at_now = ym - slope * xm
    return slope, at_now, n


def theil_sen(vals: F64, times: F64, now: float) -> tuple[float, float]:
    """Robust (slope per second, value at `now`) for one row."""
    valid = ~np.isnan(vals)
    y = vals[valid]
    x = times[valid] - now
    i, j = np.triu_indices(len(x), k=1)
    dx = x[j] - x[i]
    keep = dx != 0
    slope = float(np.median((y[j] - y[i])[keep] / dx[keep]))
    return slope, float(np.median(y - slope * x))


def eta_s(slope: F64, at_now: F64, limit: float, rising: bool) -> F64:
    """Seconds until the line reaches `limit` (0 if past it, inf if heading away)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = (limit - at_now) if rising else (at_now - limit)
        speed = slope if rising else -slope
        eta = np.where(gap <= 0, 0.0, np.where(speed > 0, gap / speed, np.inf))
    return np.where(np.isnan(slope), np.nan, eta)


class Trend:
    def needs(self, spec: TrendRule) -> Needs:
        return Needs(spec.select.field, ring=ring_spec(spec))

    def evaluate(
        self, spec: TrendRule, table: Table, rows: Rows, active: Mask, now: float
    ) -> Outcome:
        column = table.columns[str(spec.select.field)]
        ring = column.rings[ring_spec(spec)]
        rising = spec.direction == "rising"
        eta = np.full(len(rows), np.nan)
        slopes = np.full(len(rows), np.nan)
        fitted = np.full(len(rows), np.nan)
        for lo, hi in chunks(rows):
            vals, times = ring.view(rows[lo:hi], now, spec.window)
            slope, at_now, n = least_squares(vals, times, now)
            enough = n >= spec.min_points
            slope, at_now = np.where(enough, slope, np.nan), np.where(enough, at_now, np.nan)
            if spec.method == "theil_sen":
                heading = (slope > 0) if rising else (slope < 0)
                past = (at_now >= spec.limit) if rising else (at_now <= spec.limit)
                for i in np.flatnonzero(enough & (heading | past)):
                    slope[i], at_now[i] = theil_sen(vals[i], times[i], now)
            slopes[lo:hi], fitted[lo:hi] = slope, at_now
            eta[lo:hi] = eta_s(slope, at_now, spec.limit, rising)
        fresh = now - column.last_t[rows] <= spec.stale_after
        breached = fresh & ~np.isnan(eta) & (eta <= spec.within)

        def detail(i: int) -> dict[str, str]:
            seconds = float(eta[i])
            when = datetime.fromtimestamp(now + seconds, UTC) if math.isfinite(seconds) else None
            return {
                "predicted_at": when.isoformat().replace("+00:00", "Z") if when else "",
                "predicted_in": format_duration(round(seconds)) if math.isfinite(seconds) else "",
                "slope_per_hour": f"{slopes[i] * 3600:.6g}",
                "fitted": f"{fitted[i]:.6g}",
                "fit": spec.method,
            }

        return Outcome(breached, fitted, detail, stale=~fresh)
