"""chmd's Prometheus self-metrics, all on one registry passed in (never the global one).

Each stage defines its own metrics class in its `metrics.py` (collect, store, rules,
notify); `Metrics` here composes them with the daemon's own: build info, config reloads,
alerts by state and severity, rule evaluation, devices configured, task restarts.
Names follow Prometheus conventions (`chmd_…_total`, `_seconds`, `_bytes`) and label
values come from small sets (device names yes; interface names and error text never).
"""

from __future__ import annotations

import contextlib
import platform
from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)

from chmd import __version__, native
from chmd.model import Alert, AlertState, PollResult, Sample, Severity

ALERT_STATES = (AlertState.PENDING, AlertState.FIRING)
"""The states an active alert can be in; each (state, severity) pair is always exported."""

RULE_EVAL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def count_alerts(alerts: Iterable[Alert]) -> dict[tuple[str, str], int]:
    """Active alerts counted by (state, severity), every pair present (zero when none)."""
    tally = Tally((str(a.state), str(a.severity)) for a in alerts if a.state in ALERT_STATES)
    return {(str(s), str(v)): tally[(str(s), str(v))] for s in ALERT_STATES for v in Severity}


POLL_MEASUREMENT = "chmd_poll"


def poll_sample(result: PollResult, time_ns: int) -> Sample:
    """One `chmd_poll` point per poll, written beside the device's data (like Telegraf's
    `internal_gather`): what the Grafana fleet dashboard counts devices up/down from.

    Tags `device`, `collector`; fields `up` (1 when the device answered), `duration_seconds`,
    `errors` (failed steps), `samples`, `varbinds`.
    """
    return Sample(
        POLL_MEASUREMENT,
        {"device": result.device, "collector": result.collector},
        {
            "up": 1 if result.ok else 0,
            "duration_seconds": float(result.duration_s),
            "errors": len(result.errors),
            "samples": len(result.samples),
            "varbinds": result.varbinds,
        },
        time_ns,
    )


class DaemonMetrics:
    """The metrics the daemon itself owns (not a stage's)."""

    def __init__(self, registry: CollectorRegistry, version: str = __version__) -> None:
        self.build_info = Info(
            "chmd_build",
            "chmd version, Python runtime, and whether the hot path runs compiled "
            "(native: compiled, pure or stale).",
            registry=registry,
        )
        self.build_info.info(
            {
                "version": version,
                "python": platform.python_version(),
                "native": native.guard().label,
            }
        )
        self.reload_successful = Gauge(
            "chmd_config_last_reload_successful",
            "1 if the last configuration load (start or reload) succeeded, else 0.",
            registry=registry,
        )
        self.reload_success_time = Gauge(
            "chmd_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load.",
            registry=registry,
        )
        self.reloads = Counter(
            "chmd_config_reloads",
            "Configuration reloads attempted, by result (success|failure).",
            ["result"],
            registry=registry,
        )
        self.devices = Gauge(
            "chmd_devices_configured",
            "Enabled devices in the running inventory.",
            registry=registry,
        )
        self.alerts = Gauge(
            "chmd_alerts",
            "Active alerts by state (pending|firing) and severity.",
            ["state", "severity"],
            registry=registry,
        )
        self.rule_eval_duration = Histogram(
            "chmd_rule_evaluation_duration_seconds",
            "Time one evaluation tick of all rules took.",
            buckets=RULE_EVAL_BUCKETS,
            registry=registry,
        )
        self.rule_evals = Counter(
            "chmd_rule_evaluations", "Rule evaluation ticks run.", registry=registry
        )
        self.task_restarts = Counter(
            "chmd_task_restarts",
            "Pipeline tasks that crashed and were restarted, by task name.",
            ["task"],
            registry=registry,
        )
        self.poll_seconds = Gauge(
            "chmd_device_last_poll_duration_seconds",
            "Duration of the device's last poll, by collector.",
            ["collector", "device"],
            registry=registry,
        )
        self.ready = Gauge(
            "chmd_ready", "1 once polling runs (what /-/ready reports).", registry=registry
        )
        for result in ("success", "failure"):
            self.reloads.labels(result)
        self.observe_alerts(())

    def config_loaded(self, ok: bool, now_s: float) -> None:
        """Record a configuration load (at start or on reload) and its outcome."""
        self.reload_successful.set(1 if ok else 0)
        self.reloads.labels("success" if ok else "failure").inc()
        if ok:
            self.reload_success_time.set(now_s)

    def observe_alerts(self, active: Iterable[Alert]) -> None:
        """Set the alerts gauge from the rule engine's active alerts."""
        for (state, severity), count in count_alerts(active).items():
            self.alerts.labels(state, severity).set(count)

    def observe_poll(self, result: PollResult) -> None:
        self.poll_seconds.labels(result.collector, result.device).set(result.duration_s)

    def forget_device(self, device: str, collectors: Iterable[str] = ("snmp", "ssh")) -> None:
        """Drop a removed device's series so it does not linger at its last value."""
        for collector in collectors:
            with contextlib.suppress(KeyError):
                self.poll_seconds.remove(collector, device)

    def observe_rule_tick(self, duration_s: float) -> None:
        self.rule_evals.inc()
        self.rule_eval_duration.observe(duration_s)


class Metrics:
    """Every chmd_* metric on `registry`, plus process_* and python_* runtime metrics.

    Composes the daemon's own metrics with each stage's class, all on the same registry:
    `collect` (chmd_collect_*: polls, results by reason, varbinds, last success, overruns),
    `store` (chmd_store_*: points, batches, errors, latency, spool, dead letters) and
    `notify` (chmd_notify_*: notifications by receiver and outcome). The SSH collector adds
    chmd_ssh_* when built with this registry. Built once per process: a reload reuses it.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, runtime: bool = True) -> None:
        from chmd.collect.metrics import CollectMetrics
        from chmd.notify.metrics import NotifyMetrics
        from chmd.store.metrics import StoreMetrics

        self.registry = registry if registry is not None else CollectorRegistry()
        if runtime:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self.daemon = DaemonMetrics(self.registry)
        self.collect = CollectMetrics(self.registry)
        self.store = StoreMetrics(self.registry)
        self.notify = NotifyMetrics(self.registry)


_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count", ""),
    "info": ("_info",),
}


def metric_names(registry: CollectorRegistry) -> set[str]:
    """Every series name the registry can expose (`…_total`, `…_bucket`, …), labelled
    metrics included before their first use."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names
