"""Error classes against real HTTP peers: InfluxDB 1.6.7 (404 database) and the HTTP sink
(429, 503, 401 injected)."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest
from harness import InfluxDB
from harness.sinks import HttpSink
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs
from test_store_influx1 import count, settings, wait_for

from chmd.model import Sample
from chmd.store.metrics import StoreMetrics
from chmd.store.writer import Writer

pytestmark = pytest.mark.integration


def samples(n: int, t0: int) -> list[Sample]:
    return [Sample("e", {"k": str(i % 3)}, {"v": i}, t0 + i) for i in range(n)]


async def test_missing_database_keeps_data_until_created(
    influxdb: InfluxDB, tmp_path: Path
) -> None:
    """404 database not found: one clear error, the points wait in the spool, and are written
    once the database exists."""
    s = settings(influxdb.url, "st_missing", tmp_path, retention={"ensure": False, "rollups": []})
    metrics = StoreMetrics(CollectorRegistry())
    writer = Writer(s, metrics)
    t0 = (time.time_ns() // 10**9 - 60) * 10**9
    with capture_logs() as logs:
        await writer.start()
        writer.submit(samples(30, t0))
        writer.flush()
        await wait_for(lambda: metrics.write_errors.labels("not_found")._value.get() >= 3)
        assert writer.spool.has_records()
        influxdb.query('CREATE DATABASE "st_missing" WITH NAME "raw"', epoch=None)
        await wait_for(lambda: count(influxdb, "st_missing", 'SELECT count(v) FROM "e"') == 30)
        await writer.aclose()
    blocked = [e for e in logs if e["event"] == "store_blocked"]
    assert len(blocked) == 1
    assert blocked[0]["error"] == "not_found"
    assert "database not found" in blocked[0]["reason"]
    assert not writer.spool.has_records()


async def test_throttled_server_and_auth_failures_lose_nothing(
    http_sink: HttpSink, tmp_path: Path
) -> None:
    """429 and 503 are retried, 401 is reported once; every point finally arrives."""
    http_sink.clear()
    s = settings(
        http_sink.url, "st_sink", tmp_path, gzip=True, retention={"ensure": False, "rollups": []}
    )
    metrics = StoreMetrics(CollectorRegistry())
    writer = Writer(s, metrics)
    http_sink.fail_next(1, 429)
    http_sink.fail_next(1, 503)
    http_sink.fail_next(2, 401)
    with capture_logs() as logs:
        await writer.start()
        for k in range(4):
            writer.submit([Sample("e", {}, {"v": k * 10 + i}, 10 + k * 10 + i) for i in range(10)])
            writer.flush()
        await wait_for(lambda: metrics.points_written.labels("raw")._value.get() >= 40)
        await writer.aclose()
    ok = [r for r in http_sink.requests if r.status == 204 or r.status == 200]
    lines = [line for r in ok for line in gzip.decompress(r.body).decode().splitlines()]
    # a batch sent beside a failed one may be sent twice (InfluxDB overwrites it): compare sets
    assert set(lines) == {f"e v={v}i {10 + v}" for v in range(40)}
    assert {r.query["rp"][0] for r in http_sink.requests} == {"raw"}
    errors = {
        k: metrics.write_errors.labels(k)._value.get() for k in ("throttled", "server", "auth")
    }
    assert errors == {"throttled": 1, "server": 1, "auth": 2}
    assert [e["event"] for e in logs].count("store_blocked") == 1


async def test_retry_after_is_honoured(tmp_path: Path) -> None:
    """A 429 with `Retry-After: 2` delays the next attempt by at least 2 s, although the
    exponential backoff alone would retry after about 0.1 s."""
    from aiohttp import web

    seen: list[float] = []

    async def write(request: web.Request) -> web.Response:
        await request.read()
        seen.append(time.monotonic())
        if len(seen) == 1:
            return web.json_response(
                {"error": "slow down"}, status=429, headers={"Retry-After": "2"}
            )
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/write", write)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    s = settings(
        f"http://127.0.0.1:{port}", "st_ra", tmp_path, retention={"ensure": False, "rollups": []}
    )
    metrics = StoreMetrics(CollectorRegistry())
    writer = Writer(s, metrics)
    try:
        await writer.start()
        writer.submit(samples(5, 1))
        writer.flush()
        await wait_for(lambda: metrics.points_written.labels("raw")._value.get() >= 5)
        await writer.aclose()
    finally:
        await runner.cleanup()
    assert len(seen) == 2
    assert seen[1] - seen[0] >= 1.9


async def test_refused_connection_is_marked_refused(tmp_path: Path) -> None:
    """A write to a loopback port nothing listens on fails as a retryable `network` error
    marked `refused` (retried every retry_initial instead of backing off to retry_max)."""
    import socket

    from chmd.store.transport import V1Transport, WriteError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = V1Transport(settings(f"http://127.0.0.1:{port}", "st_refused", tmp_path))
    await transport.start()
    try:
        with pytest.raises(WriteError) as caught:
            await transport.write("raw", b"e v=1i 1")
    finally:
        await transport.aclose()
    assert (caught.value.kind, caught.value.retryable, caught.value.refused) == (
        "network",
        True,
        True,
    )
