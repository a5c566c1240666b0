"""The Writer against a real InfluxDB 1.6.7 (harness fixtures `influxdb`, `influxdb_factory`)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import InfluxDB
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from chmd.model import Sample
from chmd.store.metrics import StoreMetrics
from chmd.store.retention import ensure_v1
from chmd.store.settings import StorageSettings
from chmd.store.transport import V1Transport
from chmd.store.writer import DEAD_LETTER, Writer

pytestmark = pytest.mark.integration

T0 = (time.time_ns() // 10**9 - 3600) * 10**9  # an hour ago (inside the 30d raw policy)


def settings(url: str, db: str, spool: Path, **extra: Any) -> StorageSettings:
    data: dict[str, Any] = {
        "api": "v1",
        "url": url,
        "database": db,
        "spool_dir": str(spool),
        "batch_size": 50,
        "flush_interval": "200ms",
        "retry_initial": "100ms",
        "retry_max": "500ms",
        "retention": {"raw_keep": "30d", "rollups": []},
    }
    data.update(extra)
    return StorageSettings.model_validate(data)


async def wait_for(cond: Callable[[], bool], limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


def count(server: InfluxDB, db: str, q: str) -> int:
    rows = server.points(q, db=db)
    return int(rows[0]["count"]) if rows else 0


def iface(i: int, t: int, dev: str = "sw1") -> Sample:
    return Sample(
        "interface",
        {"device": dev, "agent_host": "10.0.0.1", "ifName": f"Gi1/0/{i % 48}"},
        {"ifHCInOctets": 1000 * i, "ifOperStatus": 1, "util": i / 10, "up": True, "alias": f"p{i}"},
        t,
    )


async def test_retention_policies_created_once(influxdb: InfluxDB, tmp_path: Path) -> None:
    """ensure_v1 creates the database and each tier's RP (raw default); a rerun changes nothing."""
    s = settings(
        influxdb.url,
        "st_rp",
        tmp_path,
        retention={
            "raw_keep": "30d",
            "rollups": [
                {"name": "5m", "window": "5m", "keep": "180d"},
                {"name": "1h", "window": "1h", "keep": "730d"},
            ],
        },
    )
    transport = V1Transport(s)
    await transport.start()
    try:
        first = await ensure_v1(transport, s)
        second = await ensure_v1(transport, s)
    finally:
        await transport.aclose()
    assert len(first) == 4
    assert second == []
    rows = {r["name"]: r for r in influxdb.points('SHOW RETENTION POLICIES ON "st_rp"', db="st_rp")}
    assert rows["raw"]["duration"] == "720h0m0s"
    assert rows["raw"]["default"] is True
    assert rows["5m"]["duration"] == "4320h0m0s"
    assert rows["5m"]["default"] is False
    assert rows["1h"]["duration"] == "17520h0m0s"


async def test_drift_is_logged_not_fought(influxdb: InfluxDB, tmp_path: Path) -> None:
    """A retention policy changed by hand is left as it is with on_drift: log."""
    s = settings(influxdb.url, "st_drift", tmp_path)
    transport = V1Transport(s)
    await transport.start()
    try:
        await ensure_v1(transport, s)
        influxdb.query('ALTER RETENTION POLICY "raw" ON "st_drift" DURATION 60d', epoch=None)
        with capture_logs() as logs:
            actions = await ensure_v1(transport, s)
    finally:
        await transport.aclose()
    assert actions == []
    rows = {
        r["name"]: r
        for r in influxdb.points('SHOW RETENTION POLICIES ON "st_drift"', db="st_drift")
    }
    assert rows["raw"]["duration"] == "1440h0m0s"
    drift = [e for e in logs if e["event"] == "retention_drift"]
    assert len(drift) == 1
    assert drift[0]["server_duration_s"] == 60 * 86400


async def test_drift_fixed_when_asked(influxdb: InfluxDB, tmp_path: Path) -> None:
    """With on_drift: fix, a hand-changed duration and a lost DEFAULT are ALTERed back."""
    s = settings(influxdb.url, "st_fix", tmp_path, retention={"rollups": [], "on_drift": "fix"})
    transport = V1Transport(s)
    await transport.start()
    try:
        await ensure_v1(transport, s)
        influxdb.query('ALTER RETENTION POLICY "raw" ON "st_fix" DURATION 60d', epoch=None)
        influxdb.query('ALTER RETENTION POLICY "autogen" ON "st_fix" DEFAULT', epoch=None)
        actions = await ensure_v1(transport, s)
        again = await ensure_v1(transport, s)
    finally:
        await transport.aclose()
    assert actions == ["alter retention policy raw"]
    assert again == []
    rows = {
        r["name"]: r for r in influxdb.points('SHOW RETENTION POLICIES ON "st_fix"', db="st_fix")
    }
    assert rows["raw"]["duration"] == "720h0m0s"
    assert rows["raw"]["default"] is True


async def test_points_land_exactly(influxdb: InfluxDB, tmp_path: Path) -> None:
    """Tags, field values, field types and ns timestamps come back exactly, in the raw RP."""
    writer = Writer(settings(influxdb.url, "st_exact", tmp_path), StoreMetrics(CollectorRegistry()))
    await writer.start()
    sample = Sample(
        "interface",
        {"device": "core sw,1", "ifAlias": 'uplink "A"=b', "ifName": "Te1/1/1"},
        {"in": 2**62, "util": 0.125, "up": True, "descr": 'x\\y "q"\nz', "neg": -5},
        T0 + 123,
    )
    writer.submit([sample])
    await wait_for(
        lambda: count(influxdb, "st_exact", 'SELECT count("in") FROM "raw"."interface"') == 1
    )
    await writer.aclose()
    rows = influxdb.points('SELECT * FROM "raw"."interface"', db="st_exact")
    assert rows == [
        {
            "time": T0 + 123,
            "descr": 'x\\y "q"\nz',
            "device": "core sw,1",
            "ifAlias": 'uplink "A"=b',
            "ifName": "Te1/1/1",
            "in": 2**62,
            "neg": -5,
            "up": True,
            "util": 0.125,
        }
    ]
    types = {
        r["fieldKey"]: r["fieldType"]
        for r in influxdb.points('SHOW FIELD KEYS FROM "raw"."interface"', db="st_exact")
    }
    assert types == {
        "descr": "string",
        "in": "integer",
        "neg": "integer",
        "up": "boolean",
        "util": "float",
    }


async def test_outage_every_point_once(
    influxdb_factory: Callable[[], InfluxDB], tmp_path: Path
) -> None:
    """Stopping influxd for several batches, then starting it, leaves every point exactly once."""
    server = influxdb_factory()
    writer = Writer(settings(server.url, "st_outage", tmp_path), StoreMetrics(CollectorRegistry()))
    await writer.start()
    n = 0

    def produce(k: int) -> None:
        nonlocal n
        writer.submit([iface(n + i, T0 + (n + i) * 1000) for i in range(k)])
        n += k

    produce(120)
    await wait_for(
        lambda: count(server, "st_outage", 'SELECT count(util) FROM "raw"."interface"') == 120
    )
    server.stop()
    for _ in range(6):  # several batches while down
        produce(100)
        await asyncio.sleep(0.3)
    await wait_for(lambda: writer.spool.has_records())
    server.start()
    produce(80)
    await wait_for(
        lambda: count(server, "st_outage", 'SELECT count(util) FROM "raw"."interface"') == n
    )
    await wait_for(lambda: not writer.spool.has_records())
    await writer.aclose()
    rows = server.points('SELECT util FROM "raw"."interface"', db="st_outage")
    assert len(rows) == n == 800
    assert sorted(r["time"] for r in rows) == [T0 + i * 1000 for i in range(n)]
    assert sorted(r["util"] for r in rows) == sorted(i / 10 for i in range(n))


async def test_bad_points_go_to_dead_letter(influxdb: InfluxDB, tmp_path: Path) -> None:
    """A 400 for a type conflict puts exactly the rejected point in the dead-letter file with the
    server's reason; the good points of the same batch are written."""
    writer = Writer(settings(influxdb.url, "st_dead", tmp_path), StoreMetrics(CollectorRegistry()))
    await writer.start()
    writer.submit([Sample("m", {"k": "a"}, {"v": 1}, T0)])
    await wait_for(lambda: count(influxdb, "st_dead", 'SELECT count(v) FROM "raw"."m"') == 1)
    good = [Sample("m", {"k": f"g{i}"}, {"v": i}, T0 + i) for i in range(1, 10)]
    bad = Sample("m", {"k": "bad"}, {"v": "a string"}, T0 + 100)
    writer.submit([*good[:4], bad, *good[4:]])
    writer.flush()
    await wait_for(lambda: (tmp_path / DEAD_LETTER).exists())
    await wait_for(lambda: count(influxdb, "st_dead", 'SELECT count(v) FROM "raw"."m"') == 10)
    await writer.aclose()
    letters = [json.loads(x) for x in (tmp_path / DEAD_LETTER).read_text().splitlines()]
    assert len(letters) == 1
    assert letters[0]["line"] == f'm,k=bad v="a string" {T0 + 100}'
    assert letters[0]["status"] == 400
    assert "field type conflict" in letters[0]["reason"]


async def test_full_spool_drops_oldest_and_counts(
    influxdb_factory: Callable[[], InfluxDB], tmp_path: Path
) -> None:
    """With the server down and a tiny spool, the oldest segments are dropped and counted; the
    rest (the newest points) is written once the server is back."""
    server = influxdb_factory()
    s = settings(
        server.url,
        "st_full",
        tmp_path,
        batch_size=20,
        spool_max_bytes=8192,
        spool_segment_bytes=2048,
    )
    metrics = StoreMetrics(CollectorRegistry())
    writer = Writer(s, metrics)
    await writer.start()
    writer.submit([iface(0, T0)])
    await wait_for(
        lambda: count(server, "st_full", 'SELECT count(util) FROM "raw"."interface"') == 1
    )
    server.stop()
    n = 400
    for k in range(1, n, 20):
        writer.submit([iface(i, T0 + i * 1000) for i in range(k, k + 20)])
        writer.flush()
    await wait_for(lambda: metrics.dropped_points.labels("spool_full")._value.get() > 0)
    dropped = int(metrics.dropped_points.labels("spool_full")._value.get())
    assert writer.spool.bytes <= 8192
    server.start()
    await wait_for(lambda: not writer.spool.has_records())
    await writer.aclose()
    rows = server.points('SELECT util FROM "raw"."interface"', db="st_full")
    times = sorted(r["time"] for r in rows)
    assert len(times) == n + 1 - dropped  # 1 + 400 submitted, `dropped` lost, rest once
    assert times[-1] == T0 + n * 1000  # the newest point survived
