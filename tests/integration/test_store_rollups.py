"""chmd's rollups equal what InfluxQL computes over the raw data (InfluxDB 1.6.7)."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from harness import InfluxDB
from prometheus_client import CollectorRegistry
from test_store_influx1 import count, settings, wait_for

from chmd.model import Sample
from chmd.store.metrics import StoreMetrics
from chmd.store.settings import StorageSettings
from chmd.store.writer import Writer

pytestmark = pytest.mark.integration

MIN = 60 * 10**9
TIERS = {
    "raw_keep": "1d",
    "rollups": [
        {"name": "r1m", "window": "1m", "keep": "2d"},
        {"name": "r5m", "window": "5m", "keep": "3d"},
    ],
}


@pytest.fixture
async def make_writer() -> AsyncIterator[Callable[[StorageSettings], Writer]]:
    """Writers that are closed whatever the test's outcome (an unclosed one leaves an aiohttp
    session whose ResourceWarning would fail a later test)."""
    made: list[Writer] = []

    def make(settings: StorageSettings) -> Writer:
        made.append(Writer(settings, StoreMetrics(CollectorRegistry())))
        return made[-1]

    yield make
    for writer in made:
        await writer.aclose()  # a second aclose is a no-op


def raw_samples(start: int) -> list[Sample]:
    rng = random.Random(4)  # noqa: S311 (test data, not crypto)
    out = []
    for minute in range(12):
        for k in range(5):
            t = start + minute * MIN + k * 11 * 10**9
            for dev in ("a", "b"):
                load = rng.uniform(0, 100)
                out.append(
                    Sample("cpu", {"device": dev}, {"load": load, "procs": rng.randint(1, 50)}, t)
                )
    return out


def compare(server: InfluxDB, db: str, tier: str, width: str, start: int, end: int) -> int:
    q = (
        f"SELECT mean(load), min(load), max(load), last(load), mean(procs), max(procs) "  # noqa: S608 (InfluxQL from test constants)
        f'FROM "raw"."cpu" WHERE time >= {start} AND time < {end} GROUP BY time({width}), device'
    )
    result = server.query(q, db=db)["results"][0]["series"]
    expected = {}
    for series in result:
        for row in series["values"]:
            if row[1] is not None:
                expected[(series["tags"]["device"], row[0])] = row[1:]
    got = {}
    for r in server.points(f'SELECT * FROM "{tier}"."cpu"', db=db):  # noqa: S608 (InfluxQL from test constants)
        got[(r["device"], r["time"])] = [
            r["load_mean"],
            r["load_min"],
            r["load_max"],
            r["load_last"],
            r["procs_mean"],
            r["procs_max"],
        ]
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        assert got[key] == pytest.approx(want, rel=1e-12), key
    return len(got)


async def test_rollups_match_influxql(
    influxdb: InfluxDB, tmp_path: Path, make_writer: Callable[[StorageSettings], Writer]
) -> None:
    """Every 1m and 5m window's mean/min/max/last equals InfluxQL's over the same raw points."""
    now_min = time.time_ns() // MIN * MIN
    start = now_min - 40 * MIN  # aligned to 5m below
    start -= start % (5 * MIN)
    end = start + 12 * MIN
    writer = make_writer(settings(influxdb.url, "st_rollup", tmp_path, retention=TIERS))
    await writer.start()
    samples = raw_samples(start)
    writer.submit(samples)
    writer.tick()  # windows that ended long ago close now
    writer.flush()
    await wait_for(
        lambda: count(influxdb, "st_rollup", 'SELECT count(load) FROM "raw"."cpu"') == len(samples)
    )
    await wait_for(
        lambda: count(influxdb, "st_rollup", 'SELECT count(load_mean) FROM "r1m"."cpu"') == 24
    )
    await wait_for(
        lambda: count(influxdb, "st_rollup", 'SELECT count(load_mean) FROM "r5m"."cpu"') == 6
    )
    await writer.aclose()
    assert compare(influxdb, "st_rollup", "r1m", "1m", start, end) == 24
    assert compare(influxdb, "st_rollup", "r5m", "5m", start, end) == 6


async def test_restart_keeps_open_window(
    influxdb: InfluxDB, tmp_path: Path, make_writer: Callable[[StorageSettings], Writer]
) -> None:
    """A window open at aclose is persisted and written once, complete, by the next Writer."""
    t0 = time.time_ns() // MIN * MIN - 30 * MIN
    t0 -= t0 % (5 * MIN)
    s = settings(influxdb.url, "st_rollup2", tmp_path, retention=TIERS)
    first = make_writer(s)
    await first.start()
    first.submit(
        [
            Sample("cpu", {"device": "a"}, {"load": 1.0}, t0),
            Sample("cpu", {"device": "a"}, {"load": 3.0}, t0 + 10**9),
        ]
    )
    await first.aclose()
    second = make_writer(s)
    await second.start()
    second.submit([Sample("cpu", {"device": "a"}, {"load": 8.0}, t0 + 2 * 10**9)])
    second.tick()
    second.flush()
    await wait_for(
        lambda: count(influxdb, "st_rollup2", 'SELECT count(load_mean) FROM "r1m"."cpu"') == 1
    )
    await second.aclose()
    rows = influxdb.points('SELECT * FROM "r1m"."cpu"', db="st_rollup2")
    assert [
        (r["time"], r["load_mean"], r["load_min"], r["load_max"], r["load_last"]) for r in rows
    ] == [(t0, 4.0, 1.0, 8.0, 8.0)]
