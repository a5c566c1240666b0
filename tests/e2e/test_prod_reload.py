"""Hot reload and outages of the running daemon, as a process against real servers.

* `chmd reload` with a device added, one removed and one unchanged: the unchanged one's
  rates continue without a gap or a spike, its firing alert stays firing and is not
  notified again; the added one is polled, the removed one is not.
* SIGHUP with a broken file: the old configuration keeps running, the metric says so.
* SIGTERM while InfluxDB is down: the samples are spooled to disk; the next start replays them.
"""

# ruff: noqa: S608  # InfluxQL built by the tests themselves, with their own values

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chmd_process import CHMD, ChmdProcess, devices_yaml, wait_until, write_config
from harness.snmp import LIVE_RATES

pytestmark = pytest.mark.e2e

BUSY = "ios_ie32008t2s-ios17-12"  # has a CPU table: the cpu_busy rule fires for it
HC_IN_RATE = LIVE_RATES["ifHCInOctets"]  # octets/s the live recording adds per second


@pytest.fixture
def daemons() -> Iterator[list[ChmdProcess]]:
    started: list[ChmdProcess] = []
    yield started
    for daemon in started:
        daemon.close()


def rows(influxdb: Any, database: str, query: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = influxdb.points(query, db=database)
    return found


def metric(url: str, name: str) -> float | None:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return None


def polls(influxdb: Any, database: str, device: str, since_ns: int = 0) -> int:
    """chmd_poll points of `device` after `since_ns`."""
    found = rows(
        influxdb,
        database,
        f'SELECT count("up") FROM "chmd_poll" WHERE "device" = \'{device}\' AND time > {since_ns}',
    )
    return int(found[0]["count"]) if found else 0


def test_reload_adds_removes_and_keeps_devices(
    tmp_path: Path, snmpsim: Any, influxdb: Any, http_sink: Any, daemons: list[ChmdProcess]
) -> None:
    """`chmd reload`: the added device is polled, the removed one stops, the unchanged one
    keeps its counter baselines (rates continue without a gap or spike) and its firing
    alert stays firing without a second notification."""
    database = f"chmd_reload_{os.getpid()}"
    hook = f"/reload-{os.getpid()}"
    config = write_config(
        tmp_path,
        influx_url=influxdb.url,
        database=database,
        snmp_port=snmpsim.port,
        devices=[("keep", f"{BUSY}-live"), ("gone", "iosxe_c9300-live")],
        hook_url=f"json://127.0.0.1:{http_sink.port}{hook}",
    )
    daemon = ChmdProcess(config)
    daemons.append(daemon)

    def messages(device: str) -> list[Any]:
        return [
            r for r in list(http_sink.requests) if r.path.startswith(hook) and device in str(r.json)
        ]

    wait_until(lambda: messages("keep"), "the cpu_busy notification for `keep`")
    wait_until(lambda: polls(influxdb, database, "gone"), "polls of `gone`")
    (tmp_path / "devices.yaml").write_text(
        devices_yaml(snmpsim.port, [("keep", f"{BUSY}-live"), ("new", "nxos_n3k-3064pq-live")])
    )
    result = subprocess.run(
        [str(CHMD), "reload", "-c", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    reloaded = daemon.wait_event(lambda e: e.get("event") == "reloaded")
    assert (reloaded["added"], reloaded["removed"], reloaded["changed"]) == (1, 1, 0)
    reload_ns = time.time_ns()
    wait_until(lambda: polls(influxdb, database, "new"), "polls of the added device")
    wait_until(lambda: polls(influxdb, database, "keep", reload_ns) >= 4, "4 polls of `keep`")
    wait_until(lambda: messages("new"), "the added device's notification (alerts ran)")
    assert polls(influxdb, database, "gone", reload_ns + 2_000_000_000) == 0

    # the unchanged device: every successful poll but the very first has a rate (a baseline
    # lost at the reload would leave one more without), at the real rate (no spike)
    answered = rows(
        influxdb,
        database,
        'SELECT count("up") FROM "chmd_poll" WHERE "device" = \'keep\' AND "up" = 1',
    )[0]["count"]
    busiest = rows(
        influxdb,
        database,
        'SELECT max("in_octets_rate"), "ifName" FROM "interface" WHERE "device" = \'keep\'',
    )[0]["ifName"]
    series = rows(
        influxdb,
        database,
        'SELECT "in_octets_rate" FROM "interface" '
        f'WHERE "device" = \'keep\' AND "ifName" = \'{busiest}\' AND "in_octets_rate" > 0',
    )
    assert len(series) >= answered - 1
    # ±20 % is the timing jitter of 1 s polls on a loaded machine; a reset baseline would
    # give a rate of the whole counter (orders of magnitude above)
    assert all(abs(r["in_octets_rate"] - HC_IN_RATE) <= 0.2 * HC_IN_RATE for r in series)

    # the unchanged rule's firing alert: still firing, notified once
    assert len(messages("keep")) == 1
    state = rows(
        influxdb,
        database,
        'SELECT last("state") AS "state" FROM "alerts" '
        "WHERE \"rule\" = 'cpu_busy' AND \"device\" = 'keep'",
    )
    assert state[0]["state"] == "firing"
    assert daemon.stop() == 0


def test_broken_reload_keeps_old_config(
    tmp_path: Path, snmpsim: Any, influxdb: Any, daemons: list[ChmdProcess]
) -> None:
    """SIGHUP with a broken inventory: `reload_failed` is logged, the metric
    chmd_config_last_reload_successful is 0 and the old devices keep being polled."""
    database = f"chmd_broken_{os.getpid()}"
    config = write_config(
        tmp_path,
        influx_url=influxdb.url,
        database=database,
        snmp_port=snmpsim.port,
        devices=[("sw1", "iosxe_c9300-live")],
    )
    daemon = ChmdProcess(config)
    daemons.append(daemon)
    url = daemon.wait_event(lambda e: e.get("event") == "http_listening")["url"]
    (tmp_path / "devices.yaml").write_text(
        "devices:\n  sw1:\n    host: 127.0.0.1\n    interval: 5 m\n"
    )
    daemon.signal(signal.SIGHUP)
    failed = daemon.wait_event(lambda e: e.get("event") == "reload_failed")
    assert "bad duration" in failed["problems"][0]
    failed_ns = time.time_ns()
    assert metric(url, "chmd_config_last_reload_successful") == 0
    wait_until(lambda: polls(influxdb, database, "sw1", failed_ns), "polls after the failure")
    assert daemon.stop() == 0


def test_sigterm_with_influxdb_down_spools_and_replays(
    tmp_path: Path,
    snmpsim: Any,
    influxdb_factory: Callable[[], Any],
    daemons: list[ChmdProcess],
) -> None:
    """InfluxDB stops; SIGTERM: exit 0 with the unsent samples in the spool on disk; the
    next start (InfluxDB back) replays them, so the outage's polls end up in InfluxDB."""
    influx = influxdb_factory()
    database = "chmd_outage"
    config = write_config(
        tmp_path,
        influx_url=influx.url,
        database=database,
        snmp_port=snmpsim.port,
        devices=[("sw1", "iosxe_c9300-live")],
    )
    first = ChmdProcess(config)
    daemons.append(first)
    wait_until(
        lambda: rows(influx, database, 'SELECT count("up") FROM "chmd_poll"'), "first points"
    )
    influx.stop()
    down_ns = time.time_ns()
    first.wait_event(lambda e: e.get("event") in ("store_down", "write_failed", "spooling"))
    time.sleep(3)  # let three polls happen during the outage
    assert first.stop() == 0
    up_ns = time.time_ns()
    spool = tmp_path / "state" / "spool"
    assert sum(p.stat().st_size for p in spool.rglob("*") if p.is_file()) > 0
    influx.start()
    second = ChmdProcess(config)
    daemons.append(second)

    def replayed() -> int:
        found = rows(
            influx,
            database,
            f'SELECT count("up") FROM "chmd_poll" WHERE time > {down_ns} AND time < {up_ns}',
        )
        return int(found[0]["count"]) if found else 0

    wait_until(lambda: replayed() >= 2, "the outage's polls replayed from the spool")
    assert second.stop() == 0
