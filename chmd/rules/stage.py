"""RulesStage: the rule engine as one of the daemon's stages (`chmd.daemon.Stage`).

    stage = RulesStage(emit=alert_stage.process, write=writer.submit,
                       on_tick=lambda s, active: (metrics.observe_rule_tick(s),
                                                  metrics.observe_alerts(active)))
    scheduler callback:  stage.observe(result)       # every PollResult, never blocks
    await stage.apply(config, diff)                  # at start, then after each reload
    await stage.aclose()                             # at shutdown: final save

At the first `apply` it restores the state dir's windows and alerts, then evaluates every
`tick_s` (the shortest group interval, at least 1 s). Each tick: `engine.evaluate(now)`, each
state change logged once, `alert_samples` handed to `write`, the changes and the active alerts
handed to `emit`, `alerts.json` saved when something changed and the windows every
`save_every_s`. A reload with different rules calls `replace_rules` and logs what changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from chmd.model import Alert, AlertState, PollResult, Sample
from chmd.rules.engine import EngineSettings, RuleEngine
from chmd.rules.load import RuleSet
from chmd.rules.persist import StateError, load_state, save_state
from chmd.rules.samples import alert_samples

if TYPE_CHECKING:
    from chmd.config import LoadedConfig

log = structlog.get_logger("chmd.rules")
Emit = Callable[[Sequence[Alert], Sequence[Alert], datetime], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


class RulesStage:
    """Owns the RuleEngine, its evaluation timer and its state files."""

    def __init__(
        self,
        *,
        emit: Emit | None = None,
        write: Callable[[list[Sample]], Any] | None = None,
        on_tick: Callable[[float, list[Alert]], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
        save_every_s: float = 300.0,
        settings: EngineSettings | None = None,
        run_timer: bool = True,  # False: the caller drives `tick(now)` (tests)
    ) -> None:
        self._run_timer = run_timer
        self._emit, self._write, self._on_tick, self._clock = emit, write, on_tick, clock
        self._save_every_s = save_every_s
        self._settings = settings  # None: the `rules:` section of each config applied
        self._engine: RuleEngine | None = None
        self._state_dir: Path | None = None
        self._task: asyncio.Task[None] | None = None
        self._saved_windows_at = 0.0
        self.tick_s = 60.0

    @property
    def engine(self) -> RuleEngine | None:
        return self._engine

    async def apply(self, config: LoadedConfig, diff: object = None) -> None:
        """First call: build the engine, restore its state, start ticking. Later: swap rules."""
        rules: RuleSet = config.rules if config.rules is not None else RuleSet(())
        self._state_dir = self._state_dir or Path(config.config.state_dir)  # first one kept
        self.tick_s = max(1.0, min((r.interval_s for r in rules.rules), default=60.0))
        settings = self._settings or EngineSettings.from_config(config.config.rules)
        if self._engine is None:
            self._engine = RuleEngine(rules, settings)
            try:
                restored = await asyncio.to_thread(load_state, self._engine, self._state_dir)
            except StateError as exc:
                log.warning("rules_state_unreadable", error=str(exc), action="starting empty")
                self._engine = RuleEngine(rules, settings)
                restored = False
            log.info(
                "rules_started",
                rules=len(rules.rules),
                restored=restored,
                active=len(self._engine.active()),
            )
            if self._run_timer:
                self._task = asyncio.create_task(self._run(), name="rules")
            return
        if [(r.name, r.digest) for r in rules.rules] != [
            (r.name, r.digest) for r in self._engine.ruleset.rules
        ]:
            changes = self._engine.replace_rules(rules)
            log.info(
                "rules_reloaded",
                added=list(changes.added),
                removed=list(changes.removed),
                changed=list(changes.changed),
                unchanged=len(changes.unchanged),
            )
        if self._engine.replace_settings(settings):
            log.info("rules_settings_reloaded", **dataclasses.asdict(settings))

    def observe(self, result: PollResult) -> None:
        """Feed one poll's samples into the windows (cheap; called from the scheduler)."""
        if self._engine is not None:
            self._engine.observe(result.samples)

    async def tick(self, now: datetime) -> list[Alert]:
        """One evaluation at `now`: log, write, emit and save what changed."""
        engine = self._engine
        if engine is None:
            return []
        started = time.perf_counter()
        changed = engine.evaluate(now)
        duration = time.perf_counter() - started
        for alert in changed:
            _log_change(alert)
        if changed and self._write is not None:
            self._write(alert_samples(changed, now))
        active = engine.active()
        if self._emit is not None:
            await self._emit(changed, active, now)
        if self._on_tick is not None:
            self._on_tick(duration, active)
        if self._state_dir is not None:
            windows = time.monotonic() - self._saved_windows_at >= self._save_every_s
            if changed or windows:
                await self._save(now, windows=windows)
        return changed

    async def _save(self, now: datetime, *, windows: bool) -> None:
        if self._engine is None or self._state_dir is None:
            return
        try:
            if windows:
                await asyncio.to_thread(save_state, self._engine, self._state_dir, now)
                self._saved_windows_at = time.monotonic()
            else:
                save_state(self._engine, self._state_dir, now, windows=False)
        except (OSError, StateError) as exc:
            log.warning("rules_state_not_saved", error=str(exc))

    async def _run(self) -> None:
        """Tick on a fixed cadence; a tick that overruns skips the missed ones (no pile-up)."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                await self.tick(self._clock())
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad tick must not stop alerting (logged with traceback)
                log.exception("rules_tick_failed")
            next_at += self.tick_s
            behind = loop.time() - next_at
            if behind > 0:
                skipped = int(behind // self.tick_s) + 1
                log.warning("rules_ticks_skipped", skipped=skipped, tick_s=self.tick_s)
                next_at += skipped * self.tick_s
            await asyncio.sleep(next_at - loop.time())

    async def aclose(self) -> None:
        """Stop ticking and save everything (alerts and windows)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._save(self._clock(), windows=True)


def _log_change(alert: Alert) -> None:
    fields = {
        "rule": alert.rule,
        "fingerprint": alert.fingerprint,
        "severity": alert.severity.value,
        "device": alert.label("device"),
        "summary": alert.summary,
    }
    if alert.flapping:
        log.warning("alert_flapping", **fields)
    elif alert.state is AlertState.FIRING:
        log.warning("alert_firing", value=alert.value, **fields)
    elif alert.state is AlertState.RESOLVED:
        log.info("alert_resolved", **fields)
    else:
        log.info(f"alert_{alert.state.value}", **fields)
