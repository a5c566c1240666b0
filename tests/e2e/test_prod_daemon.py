"""`chmd run` as a process with the whole pipeline: snmpsim recordings polled, samples in
InfluxDB 1.6.7, alerts delivered to a real HTTP receiver, /metrics scraped by a real
Prometheus, systemd's notify protocol on a real AF_UNIX socket, all under the seccomp
filter systemd applies for MemoryDenyWriteExecute=yes.

Every wait has a deadline and waits for a condition (a log event, a datagram, a row).
"""

# InfluxQL built by the tests themselves, with their own values

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chmd_process import ChmdProcess, wait_until, write_config
from harness.prometheus import Prometheus

pytestmark = pytest.mark.e2e

BUSY = "ios_ie32008t2s-ios17-12"  # a Catalyst IE3200 recording: CPU, memory, sensors, ports
SWITCH = "iosxe_c9300"
DEVICES = [("ie3200", f"{BUSY}-live"), ("c9300", f"{SWITCH}-live")]
WATCHDOG_USEC = 1_000_000


@dataclass
class Running:
    daemon: ChmdProcess
    influxdb: Any
    database: str
    sink: Any
    hook_path: str
    prometheus: Prometheus
    metrics_url: str


def points(influxdb: Any, database: str, query: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = influxdb.points(query, db=database)
    return rows


def hook_requests(sink: Any, path: str) -> list[Any]:
    return [r for r in list(sink.requests) if r.path.startswith(path)]


@pytest.fixture(scope="module")
def running(
    tmp_path_factory: pytest.TempPathFactory, snmpsim: Any, influxdb: Any, http_sink: Any
) -> Iterator[Running]:
    """One daemon for this module's tests: 2 devices, rules firing, NOTIFY_SOCKET with a
    1 s watchdog, MemoryDenyWriteExecute's seccomp filter, scraped by Prometheus."""
    directory = tmp_path_factory.mktemp("chmd-e2e")
    database = f"chmd_e2e_{os.getpid()}"
    hook_path = f"/hook-{os.getpid()}"
    config = write_config(
        directory,
        influx_url=influxdb.url,
        database=database,
        snmp_port=snmpsim.port,
        devices=DEVICES,
        hook_url=f"json://127.0.0.1:{http_sink.port}{hook_path}",
    )
    daemon = ChmdProcess(config, notify=True, watchdog_usec=WATCHDOG_USEC, under_mdwe=True)
    prometheus: Prometheus | None = None
    try:
        listening = daemon.wait_event(lambda e: e.get("event") == "http_listening")
        metrics_url = str(listening["url"])
        prometheus = Prometheus([metrics_url.removeprefix("http://")]).start()
        yield Running(daemon, influxdb, database, http_sink, hook_path, prometheus, metrics_url)
    finally:
        if prometheus is not None:
            prometheus.close()
        daemon.close()


def test_first_notify_message_is_ready_with_status(running: Running) -> None:
    """READY=1 (with a STATUS= line counting devices) is the first notify message."""
    first = running.daemon.recv_notify(lambda m: True)
    lines = first.split("\n")
    assert lines[0] == "READY=1"
    assert "STATUS=polling 2 devices, 0 alerts firing" in lines


def test_watchdog_is_fed_while_healthy(running: Running) -> None:
    """With WATCHDOG_USEC=1 s the daemon sends WATCHDOG=1 repeatedly (every 0.5 s)."""
    daemon = running.daemon
    wait_until(lambda: daemon.messages.count("WATCHDOG=1") >= 3, "three WATCHDOG=1")


def test_samples_reach_influxdb(running: Running) -> None:
    """Both devices' interface, system and chmd_poll points, with rates, are in InfluxDB."""

    def rated() -> list[dict[str, Any]]:
        return points(
            running.influxdb,
            running.database,
            'SELECT max("in_octets_rate") AS "rate" FROM "interface" GROUP BY "device"',
        )

    rows = wait_until(lambda: len(rated()) == 2 and rated(), "rates of both devices")
    assert all(row["rate"] > 0 for row in rows)
    polls = points(
        running.influxdb,
        running.database,
        'SELECT last("up") AS "up" FROM "chmd_poll" GROUP BY "device"',
    )
    assert [row["up"] for row in polls] == [1, 1]


def test_alert_fires_and_is_delivered(running: Running) -> None:
    """The cpu_busy rule fires for the IE3200; the HTTP receiver gets the message and the
    `alerts` measurement records the firing state."""
    requests = wait_until(lambda: hook_requests(running.sink, running.hook_path), "a notification")
    assert "ie3200" in str(requests[0].json)
    firing = wait_until(
        lambda: points(
            running.influxdb,
            running.database,
            'SELECT "state" FROM "alerts" WHERE "state" = \'firing\' AND "rule" = \'cpu_busy\'',
        ),
        "a firing alert in InfluxDB",
    )
    assert firing[0]["state"] == "firing"


def test_prometheus_scrapes_moving_metrics(running: Running) -> None:
    """A real Prometheus scrapes chmd: target up, poll counters present and increasing."""
    running.prometheus.wait_up()

    def polls() -> float:
        result = running.prometheus.query('sum(chmd_collect_poll_results_total{reason="ok"})')
        return float(result[0]["value"][1]) if result else 0.0

    first = wait_until(polls, "chmd_collect_poll_results_total in Prometheus")
    wait_until(lambda: polls() > first, "the poll counter to move")
    build = running.prometheus.query("chmd_build_info")
    assert build[0]["metric"]["job"] == "chmd"
    with urllib.request.urlopen(running.metrics_url + "/-/ready", timeout=10) as response:
        assert response.status == 200


def test_sigterm_stops_cleanly(running: Running) -> None:
    """SIGTERM: STOPPING=1 is sent, the alert state is saved, the process exits 0."""
    daemon = running.daemon
    assert daemon.stop() == 0
    daemon.recv_notify(lambda m: m.startswith("STOPPING=1"), deadline_s=5)
    state = Path(daemon.proc.args[-1]).parent / "state"
    assert any(state.rglob("*.json"))
    assert daemon.named("stopped")


def test_no_python_warnings_or_tracebacks(running: Running) -> None:
    """Nothing but JSON log lines went to stderr (no traceback, no warning)."""
    daemon = running.daemon
    daemon.named("stopped")
    assert daemon.other == []
    assert [e for e in daemon.events if e.get("level") in ("error", "critical")] == []
