"""The storage stage's self-metrics, on a registry passed in (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

ERROR_CLASSES = ("network", "timeout", "server", "throttled", "rejected", "auth", "not_found")


class StoreMetrics:
    """`chmd_store_*`. Label values come from small enums: tier names, error classes, reasons."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.points_written = Counter(
            "chmd_store_points_written_total",
            "Points the server accepted, by tier.",
            ["tier"],
            registry=registry,
        )
        self.batches_written = Counter(
            "chmd_store_batches_written_total",
            "Write requests the server accepted, by tier.",
            ["tier"],
            registry=registry,
        )
        self.write_errors = Counter(
            "chmd_store_write_errors_total",
            "Failed write requests by error class (network, timeout, server, throttled, "
            "rejected, auth, not_found).",
            ["error"],
            registry=registry,
        )
        self.write_duration = Histogram(
            "chmd_store_write_duration_seconds",
            "Duration of one write request.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.spool_bytes = Gauge(
            "chmd_store_spool_bytes", "Bytes in the spool not yet replayed.", registry=registry
        )
        self.spool_points = Gauge(
            "chmd_store_spool_points", "Points in the spool not yet replayed.", registry=registry
        )
        self.spool_oldest_age = Gauge(
            "chmd_store_spool_oldest_record_age_seconds",
            "Age of the oldest spooled batch (0 when the spool is empty).",
            registry=registry,
        )
        self.spooled_points = Counter(
            "chmd_store_spooled_points_total",
            "Points written to the spool (outage or slow server).",
            registry=registry,
        )
        self.replayed_points = Counter(
            "chmd_store_replayed_points_total",
            "Spooled points written to the server (replay progress).",
            registry=registry,
        )
        self.dead_letter_points = Counter(
            "chmd_store_dead_letter_points_total",
            "Points the server rejected (HTTP 400), kept in the dead-letter file.",
            registry=registry,
        )
        self.dropped_points = Counter(
            "chmd_store_dropped_points_total",
            "Points lost: the spool was full and its oldest segment was deleted.",
            ["reason"],
            registry=registry,
        )
        self.skipped = Counter(
            "chmd_store_skipped_fields_total",
            "Fields left out of line protocol (nan, int_range, empty_key, type) and samples "
            "without any storable field (sample).",
            ["reason"],
            registry=registry,
        )
        self.rollup_windows = Counter(
            "chmd_store_rollup_windows_total",
            "Rollup windows closed and written, by tier.",
            ["tier"],
            registry=registry,
        )
        self.rollup_late = Counter(
            "chmd_store_rollup_late_samples_total",
            "Samples older than their series' open rollup window (not rolled up).",
            registry=registry,
        )
