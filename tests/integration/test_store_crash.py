"""kill -9 of a process writing through the Writer with a non-empty spool loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import InfluxDB
from harness.aio import run_sync
from prometheus_client import CollectorRegistry
from test_store_influx1 import count, settings, wait_for

from chmd.store.metrics import StoreMetrics
from chmd.store.writer import Writer

pytestmark = pytest.mark.integration

SCRIPT = """
import asyncio, sys, time
from prometheus_client import CollectorRegistry
from chmd.model import Sample
from chmd.store.metrics import StoreMetrics
from chmd.store.settings import StorageSettings
from chmd.store.writer import Writer

async def main():
    url, spool, t0, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = StorageSettings.model_validate({"url": url, "database": "st_crash", "spool_dir": spool,
        "batch_size": 100, "retry_initial": "100ms", "retry_max": "200ms",
        "retention": {"rollups": []}})
    w = Writer(s, StoreMetrics(CollectorRegistry()))
    await w.start()
    for k in range(0, n, 50):
        w.submit([Sample("c", {"dev": "d%d" % (i % 7)}, {"v": i}, t0 + i)
                  for i in range(k, k + 50)])
        w.flush()
    print("ACKED", n, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_kill_9_with_spool_then_restart(
    influxdb_factory: Callable[[], InfluxDB], tmp_path: Path
) -> None:
    """Points acknowledged to the spool by a killed process are all written once after restart."""
    server = influxdb_factory()
    server.stop()  # the server is down: everything goes to the spool
    t0 = (time.time_ns() // 10**9 - 600) * 10**9
    n = 1000
    spool = tmp_path / "spool"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, server.url, str(spool), str(t0), str(n)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().split() == ["ACKED", str(n)]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert list(spool.glob("*.seg"))
    server.start()

    async def restart() -> None:
        writer = Writer(settings(server.url, "st_crash", spool), StoreMetrics(CollectorRegistry()))
        await writer.start()
        await wait_for(lambda: count(server, "st_crash", 'SELECT count(v) FROM "raw"."c"') >= n, 90)
        await wait_for(lambda: not writer.spool.has_records(), 90)
        await writer.aclose()

    run_sync(restart())
    rows = server.points('SELECT v FROM "raw"."c"', db="st_crash")
    assert sorted((r["time"], r["v"]) for r in rows) == [(t0 + i, i) for i in range(n)]
