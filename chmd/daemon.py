"""The daemon as an object a test can run: `Daemon(path).run(stop)` and `request_reload()`.

Lifecycle:

    run(stop)        load the config (ConfigError if invalid: nothing starts), `apply` it,
                     log a one-line summary, tell systemd READY=1, then serve until `stop`
                     is set; finally close every stage (STOPPING=1), bounded in time.
    request_reload() ask for a reload; requests arriving before or while one runs are
                     coalesced into one. A reload re-reads and re-validates every file; on
                     any problem the problems are logged and the running config is kept
                     (RELOADING=1 … READY=1 around it either way).
    apply(config)    hand a validated config to every stage together with the device diff
                     against the previous one (added / removed / changed / unchanged), so a
                     stage starts, stops or restarts per-device work only where needed.

The daemon owns no signals and no argv: `chmd.cli.run` maps SIGTERM/SIGINT to `stop`
and SIGHUP to `request_reload`. With `pipeline=True` (what `chmd run` uses) the one stage
is `Pipeline`, the whole of chmd in one process:

    Scheduler → collectors ─(bounded queue)→ router ─→ Writer (InfluxDB, spool)
                                                   └→ RulesStage.observe (RuleEngine)
    rules tick → RulesStage.tick ─(bounded queue)→ AlertPipeline → Dispatcher (Apprise)
    HttpServer (/metrics, /-/healthy, /-/ready, ack links) · WatchdogFeeder (systemd)

Without it (unit tests) the daemon only validates, applies and reloads configuration for
the stages it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

import structlog

from chmd import log as chmd_log
from chmd import native
from chmd.alerts.stage import AlertStage
from chmd.collect import COLLECTORS, Collector
from chmd.collect.metrics import SnmpTransportMetrics
from chmd.collect.scheduler import Scheduler, collectors_for
from chmd.collect.snmp import SnmpCollector
from chmd.collect.ssh import SshCollector, ssh_collector
from chmd.config import LoadedConfig, load_config
from chmd.errors import ConfigError
from chmd.http import HttpServer
from chmd.inventory.schema import Device
from chmd.metrics import Metrics, poll_sample
from chmd.model import Alert, AlertState, PollResult
from chmd.rules.engine import RuleEngine
from chmd.rules.load import RuleSet
from chmd.rules.stage import RulesStage
from chmd.store.writer import Writer
from chmd.systemd import Notifier, WatchdogFeeder, status_line

SHUTDOWN_TIMEOUT_S = 4.0  # stages given to the Daemon by tests; Pipeline bounds its own steps

logger = structlog.get_logger("chmd.daemon")


@dataclass(frozen=True, slots=True)
class DeviceDiff:
    """How the inventory changed between two configs, by device name."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff_devices(old: Sequence[Device], new: Sequence[Device]) -> DeviceDiff:
    """Compare two inventories (pure). A device is `changed` when any setting differs."""
    before = {d.name: d for d in old}
    after = {d.name: d for d in new}
    return DeviceDiff(
        added=tuple(n for n in after if n not in before),
        removed=tuple(n for n in before if n not in after),
        changed=tuple(n for n in after if n in before and after[n] != before[n]),
        unchanged=tuple(n for n in after if n in before and after[n] == before[n]),
    )


class Stage(Protocol):
    """A part of the running daemon. `apply` runs once at start (with every device `added`)
    and after each successful reload, never concurrently; it must return promptly (start
    tasks, don't await them). `aclose` runs once, at shutdown, after the last `apply`."""

    async def apply(self, config: LoadedConfig, diff: DeviceDiff) -> None: ...

    async def aclose(self) -> None: ...


Loader = Callable[[Path], LoadedConfig]


class Daemon:
    """Runs chmd from a config file until told to stop. See the module docstring."""

    def __init__(
        self,
        config_path: Path,
        *,
        config: LoadedConfig | None = None,
        loader: Loader = load_config,
        stages: Sequence[Stage] = (),
        pipeline: bool = False,
        notifier: Notifier | None = None,
    ) -> None:
        self.config_path = config_path
        self._config = config  # already loaded by the caller (the CLI checks before starting)
        self._loader = loader
        self._stages: list[Stage] = list(stages)
        self._reload_wanted = asyncio.Event()
        self.ready = asyncio.Event()  # set once the first config is applied
        self.reload_attempts = 0  # reloads tried, for tests and metrics
        self.last_reload_ok: bool | None = None  # None until the first reload
        self._reload_finished_cond = asyncio.Condition()
        self.notifier = notifier or Notifier()
        self._want_pipeline = pipeline
        self.pipeline: Pipeline | None = None

    @property
    def config(self) -> LoadedConfig | None:
        """The config now running (None before `run` loaded it)."""
        return self._config

    def request_reload(self) -> None:
        """Ask for a reload (from the event loop's thread, e.g. a signal handler)."""
        self._reload_wanted.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Load, apply, serve until `stop` is set, close. Raises ConfigError on a bad config."""
        config = self._config
        if config is None:
            config = await asyncio.to_thread(self._loader, self.config_path)
        self._config = None  # `apply` diffs against the previous config: none yet
        self._stages.extend(self._build_stages(config))
        try:
            await self.apply(config)
            self._log_started(config)
            self._config_loaded(ok=True)
            self.notifier.ready(self.status())
            self.ready.set()
            reloader = asyncio.create_task(self._reload_loop(), name="chmd-reload")
            try:
                await stop.wait()
            finally:
                reloader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reloader
        finally:
            await self._shutdown()
        logger.info("stopped")

    async def apply(self, config: LoadedConfig) -> None:
        """Hand `config` to every stage with the device diff against the running config."""
        previous = self._config
        diff = diff_devices(previous.devices if previous else (), config.devices)
        for stage in self._stages:
            await stage.apply(config, diff)
        if previous is not None and previous.config.log != config.config.log:
            chmd_log.configure(config.config.log.level, config.config.log.format)
        self._config = config

    def status(self, note: str = "") -> str:
        """The STATUS= line for systemd: devices polled and alerts firing."""
        if self.pipeline is not None:
            return self.pipeline.status(note)
        config = self._config
        devices = sum(1 for d in config.devices if d.enabled) if config else 0
        return status_line(devices, 0, note)

    def _build_stages(self, config: LoadedConfig) -> list[Stage]:
        """The production pipeline when asked for (`chmd run`); otherwise none."""
        if not self._want_pipeline:
            return []
        self.pipeline = Pipeline(notifier=self.notifier)
        return [self.pipeline]

    def _config_loaded(self, ok: bool) -> None:
        if self.pipeline is not None:
            self.pipeline.metrics.daemon.config_loaded(ok, time.time())

    def _log_started(self, config: LoadedConfig) -> None:
        for warning in config.warnings:
            logger.warning("config_warning", problem=warning)
        devices = config.devices
        logger.info(
            "started",
            config=str(config.path),
            devices=len(devices),
            enabled=sum(1 for d in devices if d.enabled),
            rule_files=len(config.rule_files),
            rules=len(config.rules.rules),
            polling=bool(self._stages),
            native=native.guard().reason,  # the compiled hot path, or why it runs as Python
        )

    async def _reload_loop(self) -> None:
        while True:
            await self._reload_wanted.wait()
            self._reload_wanted.clear()  # requests from now on mean one more reload
            self.notifier.reloading(self.status("reloading configuration"))
            try:
                await self._reload()
            except Exception:  # a reload bug must not end reloading; the old config stays
                logger.exception("reload_crashed", kept="previous configuration")
                await self._reload_finished(ok=False)

    async def _reload(self) -> None:
        logger.info("reload_started", config=str(self.config_path))
        try:
            config = await asyncio.to_thread(self._loader, self.config_path)
        except ConfigError as exc:
            problems = exc.problems
        else:
            problems = []
        if problems:
            logger.error(
                "reload_failed",
                config=str(self.config_path),
                errors=len(problems),
                problems=problems,
                kept="previous configuration",
            )
            await self._reload_finished(ok=False, problems=len(problems))
            return
        previous = self._config
        diff = diff_devices(previous.devices if previous else (), config.devices)
        await self.apply(config)
        for warning in config.warnings:
            logger.warning("config_warning", problem=warning)
        logger.info(
            "reloaded",
            devices=len(config.devices),
            added=len(diff.added),
            removed=len(diff.removed),
            changed=len(diff.changed),
            rule_files=len(config.rule_files),
        )
        await self._reload_finished(ok=True)

    async def _reload_finished(self, ok: bool, problems: int = 0) -> None:
        self.reload_attempts += 1
        self.last_reload_ok = ok
        self._config_loaded(ok)
        note = (
            "" if ok else f"last reload failed ({problems or 'internal'} errors), old config kept"
        )
        self.notifier.ready(self.status(note))
        async with self._reload_finished_cond:
            self._reload_finished_cond.notify_all()

    async def wait_reloads(self, count: int) -> None:
        """Return once `count` reloads have been attempted (successful or not)."""
        async with self._reload_finished_cond:
            await self._reload_finished_cond.wait_for(lambda: self.reload_attempts >= count)

    async def _shutdown(self) -> None:
        """Close stages in reverse order. Test stages get SHUTDOWN_TIMEOUT_S in all; the
        Pipeline bounds each of its own steps, so its flush-or-spool always completes."""
        self.notifier.stopping("stopping: finishing polls, flushing samples")
        for stage in reversed(self._stages):
            if isinstance(stage, Pipeline):
                await stage.aclose()
                continue
            try:
                async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
                    await stage.aclose()
            except TimeoutError:
                logger.error("shutdown_timeout", timeout_s=SHUTDOWN_TIMEOUT_S)  # noqa: TRY400 (no traceback: the timeout is the news)
        self.notifier.close()


# --- the production pipeline ------------------------------------------------------------------

RESULT_QUEUE_SIZE = 1024  # poll results waiting for the router; full → polls wait (never drop)
ALERT_QUEUE_SIZE = 16  # rule ticks waiting for the alert pipeline; full → the next tick waits
RESTART_BACKOFF_S = (1.0, 30.0)  # a crashed task restarts after 1 s, doubling up to 30 s
STALL_PERIODS = 3.0  # unhealthy when results wait unrouted this many watchdog periods
STOP_POLLS_S = 1.0  # SIGTERM: time for the cancelled polls to wind down
DRAIN_S = 1.0  # SIGTERM: time to route the results already collected
NOTIFY_CLOSE_S = 1.5  # SIGTERM: time to deliver queued notifications
WITHHELD_REASONS = ("restart", "reset", "discontinuity", "over_speed")  # not "wrap": it has a rate


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    crashed: Callable[[str], None],
    backoff_s: tuple[float, float] = RESTART_BACKOFF_S,
) -> None:
    """Run `run()`; when it raises, log it, count it and run it again after a backoff
    (1 s doubling to 30 s; back to 1 s after a minute without a crash). Returns when `run`
    returns; cancellation passes through."""
    delay = backoff_s[0]
    while True:
        started = time.monotonic()
        try:
            await run()
        except Exception:  # the per-task boundary: one loop's bug must not stop the daemon
            logger.exception("task_crashed", task=name, restart_in_s=delay)
            crashed(name)
        else:
            return
        if time.monotonic() - started > 60:
            delay = backoff_s[0]
        await asyncio.sleep(delay)
        delay = min(delay * 2, backoff_s[1])


def _ruleset(config: LoadedConfig) -> RuleSet:
    rules = config.rules
    return rules if isinstance(rules, RuleSet) else RuleSet(())


def _rules_tick_s(config: LoadedConfig) -> float:
    """How often to ask the engine: the shortest group interval (it runs only what is due)."""
    intervals = [r.interval_s for r in _ruleset(config).rules]
    return max(0.05, min([config.config.rules.interval, *intervals]))


Tick = tuple[list[Alert], list[Alert], datetime]
T = TypeVar("T")


def _need(value: T | None, what: str) -> T:
    """A part the pipeline builds in its first `apply`; RuntimeError before that."""
    if value is None:
        raise RuntimeError(f"pipeline not started: no {what}")
    return value


class Pipeline:
    """All of chmd's stages in one process, as the Daemon's one `Stage` (module docstring).

    Every long-running loop (scheduler, router, rules, alerts, watchdog) runs supervised
    inside one TaskGroup: a crash is logged, counted in `chmd_task_restarts_total` and the
    loop restarted. `apply` starts everything the first time and afterwards applies a
    reload's difference: the scheduler restarts only added and changed devices (unchanged
    ones keep their collector state: counter baselines, SNMP sessions), the rule engine
    keeps the state of unchanged rules, and the alert pipeline is rebuilt only when the
    `notify:` section changed (its acks, silences and notification log live on disk).
    `aclose` is the graceful stop; each step is bounded and the writer's flush-or-spool
    always runs.
    """

    def __init__(self, metrics: Metrics | None = None, notifier: Notifier | None = None) -> None:
        self.metrics = metrics or Metrics()
        self.notifier = notifier or Notifier()
        self._config: LoadedConfig | None = None
        self._results: asyncio.Queue[PollResult] = asyncio.Queue(RESULT_QUEUE_SIZE)
        self._ticks: asyncio.Queue[Tick] = asyncio.Queue(ALERT_QUEUE_SIZE)
        self._stop_polling = asyncio.Event()
        self._stopped = asyncio.Event()
        self._rules_wakeup = asyncio.Event()
        self._main: asyncio.Task[None] | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._last_routed = time.monotonic()
        self._withheld_seen: dict[tuple[str, str], dict[str, int]] = {}  # (collector, device)
        self.polling = False
        self.state_dir = Path(".")
        self.writer: Writer | None = None
        self.rules: RulesStage | None = None
        self.alerts: AlertStage | None = None
        self.http: HttpServer | None = None
        self.scheduler: Scheduler | None = None
        self.collectors: dict[str, Collector] = {}
        self.feeder = WatchdogFeeder(self.notifier, self.healthy)

    # -- Stage ------------------------------------------------------------------------------

    async def apply(self, config: LoadedConfig, diff: DeviceDiff) -> None:
        if self._config is None:
            await self._start(config)
        else:
            await self._reload(config, diff)
        self._config = config
        self.metrics.daemon.devices.set(sum(1 for d in config.devices if d.enabled))

    async def _start(self, config: LoadedConfig) -> None:
        settings = config.config
        self.state_dir = Path(settings.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.writer = Writer(settings.storage, self.metrics.store)
        await self.writer.start()
        self.rules = RulesStage(
            emit=self._hand_on,
            write=self.writer.submit,
            on_tick=self._observe_rule_tick,
            save_every_s=math.inf,  # windows at shutdown only: observe runs beside a save
            run_timer=False,  # `_rules_loop` ticks it, and a reload wakes it at once
        )
        await self.rules.apply(config)
        self.alerts = AlertStage(self.metrics.notify, shutdown_timeout_s=NOTIFY_CLOSE_S)
        await self.alerts.apply(config)
        self.http = HttpServer(
            self.metrics.registry, settings.metrics.listen, healthy=self.healthy, ready=self.ready
        )
        for route in self.alerts.http_routes():  # the stage answers for whichever pipeline runs
            self.http.add_route(*route)
        await self.http.start()
        logger.info("http_listening", url=self.http.url)
        self._add_collectors(config)
        self.scheduler = Scheduler(self.collectors, self._results.put, metrics=self.metrics.collect)
        self.scheduler.update(config.devices)
        self._main = asyncio.create_task(self._run(config), name="chmd-pipeline")
        self.polling = True
        self.metrics.daemon.ready.set(1)

    @property
    def engine(self) -> RuleEngine | None:
        return self.rules.engine if self.rules is not None else None

    def _add_collectors(self, config: LoadedConfig) -> None:
        """One collector per access kind in use (SNMP always), built once and kept."""
        wanted = {"snmp"} | {name for d in config.devices for name in collectors_for(d)}
        for name in sorted(wanted - set(self.collectors)):
            if name == "ssh":
                self.collectors[name] = ssh_collector(config, self.metrics.registry)
            else:
                collector = self.collectors[name] = COLLECTORS[name](config)
                if isinstance(collector, SnmpCollector):
                    SnmpTransportMetrics(collector.transport_stats, self.metrics.registry)

    async def _run(self, config: LoadedConfig) -> None:
        scheduler = _need(self.scheduler, "scheduler")
        loops: dict[str, Callable[[], Awaitable[None]]] = {
            "scheduler": lambda: scheduler.run(self._stop_polling),
            "router": self._route_loop,
            "rules": self._rules_loop,
            "alerts": self._alerts_loop,
        }
        if self.feeder.interval_s and self.notifier.enabled:
            loops["watchdog"] = self.feeder.run
        crashed = self.metrics.daemon.task_restarts.labels
        async with asyncio.TaskGroup() as group:
            for name, loop in loops.items():
                self._tasks[name] = group.create_task(
                    supervise(name, loop, lambda n: crashed(n).inc()), name=f"chmd-{name}"
                )
            await self._stopped.wait()
            for task in self._tasks.values():
                task.cancel()

    # -- the loops ----------------------------------------------------------------------------

    async def _route_loop(self) -> None:
        """Every PollResult → the writer (plus its chmd_poll point) and the rule engine."""
        writer, rules = _need(self.writer, "writer"), _need(self.rules, "rules")
        while True:
            result = await self._results.get()
            try:
                writer.submit([*result.samples, poll_sample(result, time.time_ns())])
                rules.observe(result)
                self.metrics.daemon.observe_poll(result)
                self._count_withheld(result)
            finally:
                self._last_routed = time.monotonic()
                self._results.task_done()

    def _count_withheld(self, result: PollResult) -> None:
        """The collectors' per-device counts of rates they withheld (counter reset, agent
        restart, discontinuity, above ifSpeed) → chmd_collect_rates_withheld_total{collector}
        (SNMP counters, and SSH interface counters: the same maths and reasons)."""
        collector = self.collectors.get(result.collector)
        if isinstance(collector, SnmpCollector):
            stats = collector.state(result.device).tracker.stats
        elif isinstance(collector, SshCollector):
            stats = collector.rate_stats(result.device)
        else:
            return
        seen = self._withheld_seen.setdefault((result.collector, result.device), {})
        for reason in WITHHELD_REASONS:
            now, before = stats.get(reason, 0), seen.get(reason, 0)
            if now > before:
                self.metrics.collect.withheld(result.collector, reason, now - before)
            seen[reason] = now

    async def _rules_loop(self) -> None:
        """Tick the rules stage every tick (a reload wakes it at once)."""
        rules = _need(self.rules, "rules")
        while True:
            config = _need(self._config, "config")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_rules_tick_s(config)):
                    await self._rules_wakeup.wait()
            self._rules_wakeup.clear()
            await rules.tick(datetime.now(UTC))

    async def _hand_on(
        self, changed: Sequence[Alert], active: Sequence[Alert], now: datetime
    ) -> None:
        """A tick's outcome → the alerts loop (bounded queue: slow delivery never stalls
        evaluation beyond ALERT_QUEUE_SIZE ticks); systemd STATUS when something changed."""
        if changed:
            self.notifier.status(self.status())
        await self._ticks.put((list(changed), list(active), now))

    def _observe_rule_tick(self, duration_s: float, active: list[Alert]) -> None:
        self.metrics.daemon.observe_rule_tick(duration_s)
        self.metrics.daemon.observe_alerts(active)

    async def _alerts_loop(self) -> None:
        while True:
            changed, active, now = await self._ticks.get()
            try:
                alerts = _need(self.alerts, "alert pipeline")
                await alerts.process(changed, active, now)
                _need(self.writer, "writer").submit(alerts.drain_samples())
            finally:
                self._ticks.task_done()

    # -- health and status --------------------------------------------------------------------

    def ready(self) -> bool:
        return self.polling

    def healthy(self) -> bool:
        """Every loop is running and collected results are being routed (not piling up)."""
        if self._main is None or self._main.done():
            return False
        if any(task.done() for task in self._tasks.values()):
            return False
        period = self.feeder.interval_s or 30.0
        waiting = not self._results.empty()
        return not (waiting and time.monotonic() - self._last_routed > STALL_PERIODS * period)

    def status(self, note: str = "") -> str:
        config = self._config
        devices = sum(1 for d in config.devices if d.enabled) if config else 0
        active = self.engine.active() if self.engine is not None else []
        firing = sum(1 for a in active if a.state is AlertState.FIRING)
        return status_line(devices, firing, note)

    # -- reload ---------------------------------------------------------------------------------

    async def _reload(self, config: LoadedConfig, diff: DeviceDiff) -> None:
        old = _need(self._config, "config")
        self._add_collectors(config)  # before update(): the scheduler reads this dict
        _need(self.scheduler, "scheduler").update(config.devices)
        for name in diff.removed + diff.changed:  # their collector state starts over
            for collector_name in self.collectors:
                self._withheld_seen.pop((collector_name, name), None)
        for name in diff.removed:
            self.metrics.daemon.forget_device(name)
        await _need(self.rules, "rules").apply(config)
        if config.config.notify != old.config.notify:
            await self._ticks.join()  # the old pipeline sees every tick before it closes
        await _need(self.alerts, "alerts").apply(config)
        for section in ("storage", "metrics", "state_dir", "snmp", "ssh"):
            if getattr(config.config, section) != getattr(old.config, section):
                logger.warning("restart_needed", section=section, kept="running settings")
        self._rules_wakeup.set()  # evaluate under the new rules now

    # -- stop -------------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Graceful stop: polls end, collected results are routed, the alert state is
        saved, queued notifications get NOTIFY_CLOSE_S, the writer flushes or spools."""
        self.polling = False
        self.metrics.daemon.ready.set(0)
        self._stop_polling.set()
        scheduler = self._tasks.get("scheduler")
        if scheduler is not None:
            await asyncio.wait({scheduler}, timeout=STOP_POLLS_S)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_S):
                await self._results.join()
        self._stopped.set()
        if self._main is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
        if self.rules is not None:  # every loop has ended: nothing observes while it saves
            await self.rules.aclose()  # alerts and windows
        if self.alerts is not None:
            try:
                async with asyncio.timeout(NOTIFY_CLOSE_S + 0.5):  # its own bound first
                    await self.alerts.aclose()
            except TimeoutError:
                logger.warning("notifications_abandoned", after_s=NOTIFY_CLOSE_S)
        if self.writer is not None:
            if self.alerts is not None:  # audit events of the last deliveries
                self.writer.submit(self.alerts.drain_samples())
            await self.writer.aclose()
        for collector in self.collectors.values():
            try:
                await collector.aclose()
            except Exception:  # closing is best effort; the process ends anyway
                logger.exception("collector_close_failed")
        if self.http is not None:
            await self.http.aclose()
