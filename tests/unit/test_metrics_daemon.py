"""chmd.metrics: the daemon's own metrics on a registry passed in; listen-address parsing."""

from __future__ import annotations

import platform
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from chmd import __version__, native
from chmd.http import split_listen
from chmd.metrics import DaemonMetrics, Metrics, count_alerts, poll_sample
from chmd.model import Alert, AlertState, CollectError, PollResult, Sample, Severity

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _alert(state: AlertState, severity: Severity, n: int = 0) -> Alert:
    return Alert(
        rule="cpu_high",
        fingerprint=f"fp{n}",
        labels=(("device", f"sw{n}"),),
        severity=severity,
        state=state,
        value=95.0,
        summary="CPU high",
        description="",
        active_since=T0,
    )


def test_count_alerts_by_state_and_severity() -> None:
    """Active alerts are counted per (state, severity); resolved ones are not active."""
    counts = count_alerts(
        [
            _alert(AlertState.FIRING, Severity.CRITICAL, 1),
            _alert(AlertState.FIRING, Severity.CRITICAL, 2),
            _alert(AlertState.PENDING, Severity.WARNING, 3),
            _alert(AlertState.RESOLVED, Severity.CRITICAL, 4),
        ]
    )
    assert counts[("firing", "critical")] == 2
    assert counts[("pending", "warning")] == 1
    assert sum(counts.values()) == 3
    assert len(counts) == 2 * len(Severity)


def test_alert_gauge_drops_to_zero_when_alerts_clear() -> None:
    """After the last alert resolves the gauge reads 0 instead of keeping the old count."""
    registry = CollectorRegistry()
    metrics = DaemonMetrics(registry)
    metrics.observe_alerts([_alert(AlertState.FIRING, Severity.MAJOR)])
    labels = {"state": "firing", "severity": "major"}
    assert registry.get_sample_value("chmd_alerts", labels) == 1
    metrics.observe_alerts([])
    assert registry.get_sample_value("chmd_alerts", labels) == 0


def test_failed_reload_keeps_last_success_time() -> None:
    """A failed reload sets last_reload_successful to 0 and leaves the success timestamp."""
    registry = CollectorRegistry()
    metrics = DaemonMetrics(registry)
    metrics.config_loaded(True, 1000.0)
    metrics.config_loaded(False, 2000.0)
    assert registry.get_sample_value("chmd_config_last_reload_successful") == 0
    assert registry.get_sample_value("chmd_config_last_reload_success_timestamp_seconds") == 1000
    assert registry.get_sample_value("chmd_config_reloads_total", {"result": "failure"}) == 1
    assert registry.get_sample_value("chmd_config_reloads_total", {"result": "success"}) == 1


def test_rule_tick_counts_and_times() -> None:
    """Each rule tick increments the evaluation counter and lands in the duration histogram."""
    registry = CollectorRegistry()
    metrics = DaemonMetrics(registry)
    metrics.observe_rule_tick(0.02)
    assert registry.get_sample_value("chmd_rule_evaluations_total") == 1
    assert registry.get_sample_value("chmd_rule_evaluation_duration_seconds_count") == 1


def test_two_metrics_objects_do_not_collide() -> None:
    """Metrics uses only the registry passed in, so two can coexist in one process (tests)."""
    first, second = Metrics(runtime=True), Metrics(runtime=True)
    first.daemon.devices.set(3)
    assert second.registry.get_sample_value("chmd_devices_configured") == 0
    build = {
        "version": __version__,
        "python": platform.python_version(),
        "native": native.guard().label,
    }
    assert first.registry.get_sample_value("chmd_build_info", build) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("127.0.0.1:9515", ("127.0.0.1", 9515)), ("[::1]:0", ("::1", 0))],
)
def test_split_listen(value: str, expected: tuple[str, int]) -> None:
    """host:port and [v6]:port both parse."""
    assert split_listen(value) == expected


def test_bad_listen_address_rejected() -> None:
    """A listen address without a port is refused with a hint."""
    with pytest.raises(ValueError, match="write host:port"):
        split_listen("127.0.0.1")


def test_poll_sample_of_failed_poll() -> None:
    """A poll that returned nothing becomes chmd_poll up=0 with its error count and duration."""
    error = CollectError("sw1", "get system", "timeout", "sw1: timeout")
    sample = poll_sample(PollResult("sw1", "snmp", (), 2.5, (error,)), time_ns=7)
    assert (sample.measurement, dict(sample.tags), sample.time_ns) == (
        "chmd_poll",
        {"device": "sw1", "collector": "snmp"},
        7,
    )
    assert sample.fields == {
        "up": 0,
        "duration_seconds": 2.5,
        "errors": 1,
        "samples": 0,
        "varbinds": 0,
    }


def test_poll_sample_of_answered_poll() -> None:
    """A poll with samples is up=1, even with partial errors."""
    data = Sample("system", {"device": "sw1"}, {"uptime": 1.0}, 1)
    error = CollectError("sw1", "walk cpu", "no_such_object", "sw1: no cpu table")
    sample = poll_sample(PollResult("sw1", "snmp", (data,), 0.1, (error,), varbinds=4), 1)
    assert (sample.fields["up"], sample.fields["samples"], sample.fields["varbinds"]) == (1, 1, 4)


def test_last_poll_duration_per_device_and_forget() -> None:
    """Each device's last poll duration is a gauge; a removed device's series is dropped."""
    registry = CollectorRegistry()
    metrics = DaemonMetrics(registry)
    metrics.observe_poll(PollResult("sw1", "snmp", (), 1.25))
    labels = {"collector": "snmp", "device": "sw1"}
    assert registry.get_sample_value("chmd_device_last_poll_duration_seconds", labels) == 1.25
    metrics.forget_device("sw1")
    assert registry.get_sample_value("chmd_device_last_poll_duration_seconds", labels) is None
