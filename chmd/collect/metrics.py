"""Collection self-metrics, on a registry passed in (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from chmd.model import PollResult


class CollectMetrics:
    """Poll durations, results by reason, varbinds, last success, overruns, withheld rates."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.poll_duration = Histogram(
            "chmd_collect_poll_duration_seconds",
            "Duration of one device poll.",
            ["collector"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.results = Counter(
            "chmd_collect_poll_results_total",
            "Polls by outcome: ok, or the reason of the first failed step.",
            ["collector", "reason"],
            registry=registry,
        )
        self.step_errors = Counter(
            "chmd_collect_step_errors_total",
            "Failed poll steps by reason.",
            ["collector", "reason"],
            registry=registry,
        )
        self.varbinds = Counter(
            "chmd_collect_snmp_varbinds_total",
            "SNMP varbinds read.",
            ["device"],
            registry=registry,
        )
        self.last_success = Gauge(
            "chmd_collect_last_success_timestamp_seconds",
            "Unix time of the device's last poll that returned samples.",
            ["collector", "device"],
            registry=registry,
        )
        self.overruns = Counter(
            "chmd_collect_overruns_total",
            "Polls skipped because the previous one overran its interval.",
            ["collector", "device"],
            registry=registry,
        )
        self.rates_withheld = Counter(
            "chmd_collect_snmp_rates_withheld_total",
            "Counter rates not written: restart, reset, discontinuity or over_speed.",
            ["reason"],
            registry=registry,
        )

    def observe(self, result: PollResult, now_s: float) -> None:
        collector = result.collector
        self.poll_duration.labels(collector).observe(result.duration_s)
        reason = "ok" if not result.errors else result.errors[0].reason
        self.results.labels(collector, reason).inc()
        for error in result.errors:
            self.step_errors.labels(collector, error.reason).inc()
        if result.varbinds and collector == "snmp":
            self.varbinds.labels(result.device).inc(result.varbinds)
        if result.ok:
            self.last_success.labels(collector, result.device).set(now_s)

    def withheld(self, reason: str, count: int) -> None:
        if count > 0:
            self.rates_withheld.labels(reason).inc(count)
