"""Collection self-metrics, on a registry passed in (never the global one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from chmd.model import PollResult


class UdpCounts(Protocol):
    """What the SNMP UDP engine counts (`chmd.collect.snmp.transport.TransportStats`)."""

    sent: int
    received: int
    retries: int
    timeouts: int
    malformed: int
    unmatched: int
    wrong_source: int
    discarded: int


class SnmpTransportMetrics(Collector):
    """The SNMP UDP engine's counters, read at scrape time (the hot path only adds ints).

    `chmd_collect_snmp_datagrams_rejected_total{reason}`: answers not used — `unmatched`
    (no request waits for that id: late, duplicate or foreign), `wrong_source` (from another
    address than asked), `malformed` (not BER), `unauthentic` (SNMPv3: HMAC, replay).
    """

    def __init__(self, stats: UdpCounts, registry: CollectorRegistry) -> None:
        self._stats = stats
        registry.register(self)

    def collect(self) -> Iterator[CounterMetricFamily]:
        s = self._stats
        for name, help_text, value in (
            ("requests", "SNMP datagrams sent, retries included.", s.sent),
            ("retries", "SNMP requests sent again after a timeout.", s.retries),
            ("timeouts", "SNMP requests unanswered after every try.", s.timeouts),
            ("responses", "SNMP datagrams received.", s.received),
        ):
            yield CounterMetricFamily(f"chmd_collect_snmp_{name}", help_text, value=value)
        rejected = CounterMetricFamily(
            "chmd_collect_snmp_datagrams_rejected",
            "SNMP datagrams received and not used, by reason.",
            labels=["reason"],
        )
        rejected.add_metric(["unmatched"], s.unmatched)
        rejected.add_metric(["wrong_source"], s.wrong_source)
        rejected.add_metric(["malformed"], s.malformed)
        rejected.add_metric(["unauthentic"], s.discarded)
        yield rejected


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
            "chmd_collect_rates_withheld_total",
            "Counter rates not written: restart, reset, discontinuity or over_speed.",
            ["collector", "reason"],
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

    def withheld(self, collector: str, reason: str, count: int) -> None:
        if count > 0:
            self.rates_withheld.labels(collector, reason).inc(count)
