"""`RuleEngine`: series windows fed by collection, rules evaluated on a passed-in clock.

The daemon calls `observe(samples)` for every PollResult and `evaluate(now)` on a timer;
`evaluate` returns the alerts whose visible state changed. Numeric kinds evaluate each rule
over all its series at once (numpy); only rows that breach or already have an alert run the
per-alert state machine in Python, so a tick costs a few vector operations per rule.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from chmd.model import Alert, AlertState, Labels, Sample, Severity
from chmd.rules.compile import TagPredicate
from chmd.rules.kinds import KINDS, Outcome, composite
from chmd.rules.kinds.base import Needs
from chmd.rules.load import CompiledRule, RuleSet
from chmd.rules.schema import CompositeRule
from chmd.rules.state import AlertRecord, Timing, advance, start
from chmd.rules.store import RingSpec, SeriesStore, Table

if TYPE_CHECKING:
    from chmd.config import RulesSettings

ACTIVE = (AlertState.PENDING, AlertState.FIRING)


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Engine-wide knobs (the `rules:` section of etc/chmd.yaml feeds these)."""

    raw_resolution_s: float = 60.0  # bucket of the raw window; 1 h at 60 s = 61 slots
    flap_window_s: float = 3600.0
    flap_threshold: int = 6
    retention_s: float = 900.0
    forget_after_s: float = 7 * 86400.0  # a series silent this long is dropped

    @classmethod
    def from_config(cls, rules: RulesSettings) -> EngineSettings:
        """From the `rules:` section of chmd.yaml (`chmd.config.RulesSettings`). A raw bucket
        is never coarser than the evaluation interval: rules evaluated every second see
        one-second buckets, not one reading a minute."""
        return cls(
            raw_resolution_s=min(rules.raw_resolution, rules.interval),
            flap_window_s=rules.flap_window,
            flap_threshold=rules.flap_threshold,
            retention_s=rules.retention,
            forget_after_s=rules.forget_after,
        )


@dataclass(frozen=True, slots=True)
class RuleChanges:
    """What `replace_rules` did, for the reload log line."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()


@dataclass
class _RowSet:
    """The rows of one table a selector matches, scanned incrementally; shared by every rule
    with the same measurement and tag matchers."""

    table: Table
    selects: TagPredicate | None  # None: every row
    rows: list[int] = field(default_factory=list)
    scanned: int = 0
    cache: Any = None

    def array(self) -> Any:
        table = self.table
        if self.scanned < table.size:
            if self.selects is None:
                self.rows.extend(range(self.scanned, table.size))
            else:
                selects = self.selects
                labels = table.labels
                self.rows.extend(
                    row for row in range(self.scanned, table.size) if selects(dict(labels[row]))
                )
            self.scanned = table.size
            self.cache = None
        if self.cache is None:
            self.cache = np.asarray(self.rows, dtype=np.int64)
        rows = self.cache
        alive = table.alive[rows]
        return rows if alive.all() else rows[alive]


@dataclass
class _Binding:
    """A non-composite rule bound to its table: the rows it selects, which have alerts."""

    rule: CompiledRule
    table: Table
    needs: Needs
    rowset: _RowSet
    active: dict[int, str] = field(default_factory=dict)  # row → fingerprint (pending/firing)

    def row_array(self) -> Any:
        return self.rowset.array()


def fingerprint(rule: str, labels: Labels) -> str:
    """Stable across restarts and reloads: the rule name and its identifying labels."""
    text = rule + "\x00" + "\x00".join(f"{k}={v}" for k, v in labels)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _template_params(rule: CompiledRule) -> dict[str, object]:
    dumped = rule.spec.model_dump(by_alias=True)
    params: dict[str, object] = {
        k: v
        for k, v in dumped.items()
        if isinstance(v, int | float | str) and k not in ("summary", "description", "name", "value")
    }
    if "value" in dumped:
        params["threshold"] = dumped["value"]
    params["rule"] = rule.name
    return params


def _dt(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


class RuleEngine:
    """Windows, rules and alert records; pure given `now` (no clock, no I/O but save/load)."""

    def __init__(self, ruleset: RuleSet, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.store = SeriesStore()
        self.records: dict[str, dict[str, AlertRecord]] = {}
        self._rules: dict[str, CompiledRule] = {}
        self._bindings: dict[str, _Binding] = {}
        self._params: dict[str, dict[str, object]] = {}
        self._last_eval: dict[str, float] = {}
        self._last_true: dict[str, dict[str, tuple[Labels, float]]] = {}
        self._orphans: list[AlertRecord] = []
        self._rowsets: dict[tuple[str, str], _RowSet] = {}
        self._steady: dict[str, tuple[float, float]] = {}  # fp → (last breach, value)
        self._install(ruleset)

    # -- rules -----------------------------------------------------------------------------

    def _install(self, ruleset: RuleSet) -> None:
        self._ruleset = ruleset
        self._rules = {r.name: r for r in ruleset.rules}
        self._params = {r.name: _template_params(r) for r in ruleset.rules}
        old = self._bindings
        self._bindings = {}
        rowsets: dict[tuple[str, str], _RowSet] = {}
        raw: dict[tuple[str, str], float] = {}
        for rule in ruleset.rules:
            self.records.setdefault(rule.name, {})
            if rule.kind == "composite":
                continue
            needs = KINDS[rule.kind].needs(rule.spec)
            table = self.store.table(rule.spec.select.measurement)
            if needs.field and needs.text:
                table.text(needs.field)
            elif needs.field:
                table.column(needs.field)
            for cond in rule.spec.select.where:
                table.column(cond.field)
            if needs.ring is not None and needs.field:
                table.column(needs.field).ring(needs.ring)
            if needs.raw_window_s and needs.field:
                key = (table.measurement, needs.field)
                raw[key] = max(raw.get(key, 0.0), needs.raw_window_s)
            previous = old.get(rule.name)
            tags = rule.spec.select.tags
            key = (
                table.measurement,
                json.dumps({k: str(v) for k, v in tags.items()}, sort_keys=True),
            )
            if key not in rowsets:
                selects = rule.selects if tags else None
                rowsets[key] = self._rowsets.get(key) or _RowSet(table, selects)
            binding = _Binding(rule, table, needs, rowsets[key])
            if previous is not None and previous.table is table:
                binding.active = previous.active
            self._bindings[rule.name] = binding
        self._rowsets = rowsets
        resolution = self.settings.raw_resolution_s
        for (measurement, name), window in raw.items():
            spec = RingSpec(resolution, math.ceil(window / resolution) + 1, mean=False)
            column = self.store.tables[measurement].column(name)
            for existing in [s for s in column.rings if not s.mean and s != spec]:
                del column.rings[existing]
            column.ring(spec)

    def replace_rules(self, ruleset: RuleSet) -> RuleChanges:
        """Reload: unchanged rules keep all state; changed rules keep firing alerts (re-judged
        by the new definition) and drop pending ones; removed rules resolve their alerts."""
        self.settle()
        new = {r.name: r for r in ruleset.rules}
        old = self._rules
        changes = RuleChanges(
            added=tuple(n for n in new if n not in old),
            removed=tuple(n for n in old if n not in new),
            changed=tuple(n for n in new if n in old and new[n].digest != old[n].digest),
            unchanged=tuple(n for n in new if n in old and new[n].digest == old[n].digest),
        )
        for name in changes.removed:
            self._orphans.extend(self.records.pop(name, {}).values())
            self._last_true.pop(name, None)
        for name in changes.changed:
            records = self.records.get(name, {})
            for fp in [fp for fp, rec in records.items() if rec.state is AlertState.PENDING]:
                self._orphans.append(records.pop(fp))
            binding = self._bindings.get(name)
            if binding is not None:
                binding.active = {r: fp for r, fp in binding.active.items() if fp in records}
        self._install(ruleset)
        return changes

    def replace_settings(self, settings: EngineSettings) -> bool:
        """Reload with new engine settings; False when nothing changed. Flap, retention and
        forget-after apply from the next evaluation; a new raw resolution reshapes the raw
        rings, which then refill (as when a reload lengthens a rule's window)."""
        if settings == self.settings:
            return False
        self.settle()
        self.settings = settings
        self._install(self._ruleset)
        return True

    @property
    def ruleset(self) -> RuleSet:
        return self._ruleset

    # -- input -----------------------------------------------------------------------------

    def observe(self, samples: Iterable[Sample]) -> int:
        """Feed samples into the windows; returns how many a rule needed."""
        return self.store.observe(samples)

    # -- evaluation ------------------------------------------------------------------------

    def evaluate(self, now: datetime) -> list[Alert]:
        """Evaluate the rule groups that are due at `now`; return alerts whose state changed."""
        t = now.timestamp()
        changed: list[Alert] = [self._orphan_alert(rec, t) for rec in self._orphans]
        self._orphans = []
        self._forget(t)
        due: dict[str, bool] = {}
        for rule in self._ruleset.rules:
            if rule.group not in due:
                last = self._last_eval.get(rule.group)
                # a tick may come a little early (timer jitter): 2 % of the interval counts
                slack = min(1.0, 0.02 * rule.interval_s)
                due[rule.group] = last is None or t - last >= rule.interval_s - slack
            if not due[rule.group]:
                continue
            if rule.kind == "composite":
                changed.extend(self._evaluate_composite(rule, t))
            else:
                changed.extend(self._evaluate_rule(self._bindings[rule.name], t))
            self._remember_true(rule.name, t)
        for group, was_due in due.items():
            if was_due:
                self._last_eval[group] = t
        return changed

    def _timing(self, rule: CompiledRule) -> Timing:
        s = self.settings
        return Timing(
            rule.spec.for_,
            rule.spec.keep_firing_for,
            s.flap_window_s,
            s.flap_threshold,
            s.retention_s,
        )

    def _evaluate_rule(self, binding: _Binding, now: float) -> list[Alert]:
        rule = binding.rule
        rows = binding.row_array()
        active = np.zeros(len(rows), dtype=bool)
        if binding.active and len(rows):
            act = np.fromiter(binding.active.keys(), dtype=np.int64, count=len(binding.active))
            pos = np.clip(np.searchsorted(rows, act), 0, len(rows) - 1)
            active[pos[rows[pos] == act]] = True
        outcome = KINDS[rule.kind].evaluate(rule.spec, binding.table, rows, active, now)
        if outcome.stale is not None:  # no fresh data: an active alert keeps its state
            outcome = replace(outcome, breached=outcome.breached | (active & outcome.stale))
        candidates = np.flatnonzero(outcome.breached | active)
        records = self.records[rule.name]
        timing = self._timing(rule)
        changed: list[Alert] = []
        touched: set[str] = set()
        breached = outcome.breached
        steady = self._steady
        for i in candidates.tolist():
            row = int(rows[i])
            fp = binding.active.get(row)
            known = records.get(fp) if fp is not None else None
            if fp is not None and known is not None:
                rec = known
                if (
                    breached[i]
                    and outcome.text is None
                    and outcome.detail is None
                    and rec.state is rec.raw is AlertState.FIRING
                    and not rec.flapping
                ):
                    # still firing, nothing to decide: remember the breach, skip the machine
                    steady[fp] = (now, float(outcome.value[i]))
                    touched.add(fp)
                    continue
                rec = self._settled(rec)
            else:
                series = binding.table.labels[row]
                labels = tuple(sorted({**dict(series), **rule.spec.labels}.items()))
                fp = fingerprint(rule.name, labels)
                rec = records.get(fp) or start(
                    rule.name, fp, labels, series, now, rule.spec.severity.value
                )
            alert = self._step(rule, rec, bool(breached[i]), now, timing, outcome, i, rec.series)
            touched.add(fp)
            self._keep(binding, row, fp)
            if alert is not None:
                changed.append(alert)
        for fp, rec in list(records.items()):
            if fp not in touched:
                rec = self._settled(rec)
                alert = self._step(rule, rec, False, now, timing, None, -1, rec.series)
                if rec.series is not None and rec.series in binding.table.index:
                    self._keep(binding, binding.table.index[rec.series], fp)
                if alert is not None:
                    changed.append(alert)
        return changed

    def _settled(self, rec: AlertRecord) -> AlertRecord:
        """The record with its skipped steady-state updates (last breach, value) applied."""
        update = self._steady.pop(rec.fingerprint, None)
        if update is None:
            return rec
        value = None if math.isnan(update[1]) else update[1]
        rule = self._rules.get(rec.rule)
        if rule is None:
            rec = replace(rec, last_breach=update[0], value=value)
        else:
            values: dict[str, object] = {
                **dict(rec.labels),
                **self._params[rule.name],
                **dict(rec.annotations),
                "value": update[1],
                "severity": rec.severity,
            }
            rec = replace(
                rec,
                last_breach=update[0],
                value=value,
                summary=rule.summary.render(values),
                description=rule.description.render(values),
            )
        self.records[rec.rule][rec.fingerprint] = rec
        return rec

    def settle(self) -> None:
        """Apply every skipped steady-state update (before saving or listing alerts)."""
        for fp in list(self._steady):
            for records in self.records.values():
                rec = records.get(fp)
                if rec is not None:
                    self._settled(rec)
                    break
            self._steady.pop(fp, None)

    def _keep(self, binding: _Binding, row: int, fp: str) -> None:
        rec = self.records[binding.rule.name].get(fp)
        if rec is not None and rec.state in ACTIVE:
            binding.active[row] = fp
        else:
            binding.active.pop(row, None)

    def _step(
        self,
        rule: CompiledRule,
        rec: AlertRecord,
        breached: bool,
        now: float,
        timing: Timing,
        outcome: Outcome | None,
        i: int,
        series: Labels | None,
    ) -> Alert | None:
        """Advance one record; render its texts when it has news. Returns the Alert if changed."""
        records = self.records[rule.name]
        nxt, changed = advance(rec, breached, now, timing)
        if nxt is None:
            records.pop(rec.fingerprint, None)
            return None
        if outcome is not None and i >= 0:
            value = float(outcome.value[i])
            detail = outcome.detail(i) if outcome.detail else {}
            values: dict[str, object] = {**dict(nxt.labels), **self._params[rule.name], **detail}
            values["value"] = outcome.text(i) if outcome.text else value
            values["severity"] = rule.spec.severity.value
            nxt = replace(
                nxt,
                value=None if math.isnan(value) else value,
                annotations=tuple(sorted(detail.items())),
                summary=rule.summary.render(values),
                description=rule.description.render(values),
            )
        records[nxt.fingerprint] = nxt
        return self._alert(rule, nxt) if changed else None

    def _alert(self, rule: CompiledRule | None, rec: AlertRecord) -> Alert:
        severity = Severity(rec.severity)
        annotations = dict(rec.annotations)
        return Alert(
            rule=rec.rule,
            fingerprint=rec.fingerprint,
            labels=rec.labels,
            severity=severity,
            state=rec.state,
            value=rec.value,
            summary=rec.summary,
            description=rec.description,
            active_since=datetime.fromtimestamp(rec.active_since, UTC),
            fired_at=_dt(rec.fired_at),
            resolved_at=_dt(rec.resolved_at),
            annotations={**annotations, "severity": severity.value},
            flapping=rec.flapping,
        )

    def _orphan_alert(self, rec: AlertRecord, now: float) -> Alert:
        state = AlertState.RESOLVED if rec.state is AlertState.FIRING else AlertState.INACTIVE
        done = replace(rec, state=state, resolved_at=now if state is AlertState.RESOLVED else None)
        alert = self._alert(self._rules.get(rec.rule), done)
        return replace(
            alert, annotations={**alert.annotations, "reason": "rule removed or changed"}
        )

    # -- composite -------------------------------------------------------------------------

    def _remember_true(self, name: str, now: float) -> None:
        horizon = max(
            (r.spec.within for r in self._rules.values() if r.kind == "composite"), default=0.0
        )
        composite.remember(
            self._last_true.setdefault(name, {}),
            ((fp, rec.labels, rec.state) for fp, rec in self.records.get(name, {}).items()),
            now,
            horizon + self._rules[name].interval_s,
        )

    def _evaluate_composite(self, rule: CompiledRule, now: float) -> list[Alert]:
        spec: CompositeRule = rule.spec
        universe, hits = composite.evaluate(spec, self._last_true, now)
        records = self.records[rule.name]
        timing = self._timing(rule)
        changed: list[Alert] = []
        seen: set[str] = set()
        for key, on_labels in universe.items():
            labels = tuple(sorted({**dict(on_labels), **spec.labels}.items()))
            fp = fingerprint(rule.name, labels)
            rec = records.get(fp)
            if rec is None and key not in hits:
                continue
            rec = rec or start(rule.name, fp, labels, None, now, rule.spec.severity.value)
            seen.add(fp)
            alert = self._step_composite(rule, rec, key in hits, now, timing)
            if alert is not None:
                changed.append(alert)
        for fp, rec in list(records.items()):
            if fp not in seen:
                alert = self._step_composite(rule, rec, False, now, timing)
                if alert is not None:
                    changed.append(alert)
        return changed

    def _step_composite(
        self, rule: CompiledRule, rec: AlertRecord, breached: bool, now: float, timing: Timing
    ) -> Alert | None:
        records = self.records[rule.name]
        nxt, changed = advance(rec, breached, now, timing)
        if nxt is None:
            records.pop(rec.fingerprint, None)
            return None
        if breached:
            values: dict[str, object] = {
                **dict(nxt.labels),
                **self._params[rule.name],
                "value": 1.0,
            }
            values["severity"] = rule.spec.severity.value
            nxt = replace(
                nxt,
                value=1.0,
                summary=rule.summary.render(values),
                description=rule.description.render(values),
            )
        records[nxt.fingerprint] = nxt
        return self._alert(rule, nxt) if changed else None

    # -- housekeeping and views ------------------------------------------------------------

    def _forget(self, now: float) -> None:
        limit = now - self.settings.forget_after_s
        for table in self.store.tables.values():
            if table.size == 0:
                continue
            seen = table.seen_t[: table.size]
            with np.errstate(invalid="ignore"):
                stale = np.flatnonzero(table.alive[: table.size] & (seen < limit))
            for row in stale.tolist():
                table.retire(row)

    def active(self) -> list[Alert]:
        """Every pending or firing alert."""
        self.settle()
        return [
            self._alert(self._rules.get(rec.rule), rec)
            for records in self.records.values()
            for rec in records.values()
            if rec.state in ACTIVE
        ]

    def all_alerts(self) -> list[Alert]:
        """Every alert the engine remembers, resolved ones included (for `chmd alerts`)."""
        self.settle()
        return [
            self._alert(self._rules.get(rec.rule), rec)
            for records in self.records.values()
            for rec in records.values()
        ]

    def rebind_active(self) -> None:
        """After a restore: map each pending/firing record back to its series row."""
        for name, records in self.records.items():
            binding = self._bindings.get(name)
            if binding is None:
                continue
            binding.active = {}
            for fp, rec in records.items():
                if rec.state in ACTIVE and rec.series is not None:
                    row = binding.table.index.get(rec.series)
                    if row is not None:
                        binding.active[row] = fp
