"""The notification stage's Prometheus metrics, on a registry passed in."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class NotifyMetrics:
    """`attempts` counts every Apprise call per receiver and outcome (success |
    retryable_failure | failure); `notifications` counts messages by final outcome
    (delivered | failed | held_back); `suppressed` counts alert-notifications the
    noise stages stopped, by stage (silenced | inhibited | muted | acked)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "chmd_notify_attempts_total",
            "Delivery attempts (one Apprise call to one receiver target).",
            ["receiver", "outcome"],
            registry=registry,
        )
        self.notifications = Counter(
            "chmd_notify_notifications_total",
            "Notifications by final outcome.",
            ["receiver", "outcome"],
            registry=registry,
        )
        self.suppressed = Counter(
            "chmd_notify_suppressed_total",
            "Alerts kept out of a message by a noise-control stage.",
            ["stage"],
            registry=registry,
        )
        self.queued = Gauge(
            "chmd_notify_queue_depth",
            "Notifications waiting for delivery.",
            ["receiver"],
            registry=registry,
        )
        self.delivery_seconds = Histogram(
            "chmd_notify_delivery_seconds",
            "Time from submission to final outcome of a notification.",
            ["receiver"],
            registry=registry,
        )
