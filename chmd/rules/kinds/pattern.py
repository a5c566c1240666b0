"""pattern: a regex on a string field (match, no match) or a change of its value."""

from __future__ import annotations

import re

import numpy as np

from chmd.rules.kinds.base import Mask, Needs, Outcome, Rows
from chmd.rules.schema import PatternRule
from chmd.rules.store import Table


class Pattern:
    def __init__(self) -> None:
        self._compiled: dict[str, re.Pattern[str]] = {}

    def needs(self, spec: PatternRule) -> Needs:
        return Needs(spec.select.field, text=True)

    def evaluate(
        self, spec: PatternRule, table: Table, rows: Rows, active: Mask, now: float
    ) -> Outcome:
        column = table.texts[str(spec.select.field)]
        pattern = self._compiled.get(spec.regex)
        if pattern is None:
            pattern = self._compiled.setdefault(spec.regex, re.compile(spec.regex))
        breached = np.zeros(len(rows), dtype=bool)
        stale = np.zeros(len(rows), dtype=bool)
        texts: list[str] = []
        for i, row in enumerate(rows.tolist()):
            text = column.last.get(row)
            texts.append(text or "")
            if text is None or now - column.last_t.get(row, -1e18) > spec.stale_after:
                stale[i] = True
                continue
            if spec.mode == "changed":
                breached[i] = now - column.changed_t.get(row, -1e18) < spec.hold and bool(
                    pattern.search(text)
                )
            else:
                found = pattern.search(text) is not None
                breached[i] = found if spec.mode == "match" else not found

        def detail(i: int) -> dict[str, str]:
            previous = column.previous.get(int(rows[i]))
            return {"previous": previous} if previous is not None else {}

        return Outcome(
            breached, np.full(len(rows), np.nan), detail, text=lambda i: texts[i], stale=stale
        )
