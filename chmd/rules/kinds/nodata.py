"""nodata: a series stopped reporting. `device unreachable` is this on the `system` measurement:
a failed poll produces no samples at all, so the absence of the per-poll `system` sample is
the signal."""

from __future__ import annotations

import numpy as np

from chmd.configtypes import format_duration
from chmd.rules.kinds.base import Mask, Needs, Outcome, Rows
from chmd.rules.schema import NoDataRule
from chmd.rules.store import Table


class NoData:
    def needs(self, spec: NoDataRule) -> Needs:
        return Needs(spec.select.field)

    def evaluate(
        self, spec: NoDataRule, table: Table, rows: Rows, active: Mask, now: float
    ) -> Outcome:
        if spec.select.field:
            last = table.columns[spec.select.field].last_t[rows]
        else:
            last = table.seen_t[rows]
        silent = now - last
        with np.errstate(invalid="ignore"):
            # 1 ms of slack: `now` arrives as a datetime, rounded to the microsecond
            breached = ~np.isnan(silent) & (silent >= spec.absent_for - 1e-3)
            breached &= silent < spec.forget_after

        def detail(i: int) -> dict[str, str]:
            return {"silent_for": format_duration(round(float(silent[i])))}

        return Outcome(breached, silent, detail)
