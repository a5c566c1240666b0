"""`api: v2` through influxdb-client's async write API, against VictoriaMetrics."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from harness.victoriametrics import VictoriaMetrics
from prometheus_client import CollectorRegistry
from test_store_influx1 import wait_for

from chmd.model import Sample
from chmd.store.metrics import StoreMetrics
from chmd.store.settings import StorageSettings
from chmd.store.writer import Writer

pytestmark = pytest.mark.integration


async def test_v2_points_readable_from_export(
    victoriametrics: VictoriaMetrics, tmp_path: Path
) -> None:
    """Points written with api v2 appear as `<measurement>_<field>` series with the tags as
    labels, the values and the (millisecond) timestamps."""
    settings = StorageSettings.model_validate(
        {
            "api": "v2",
            "url": victoriametrics.url,
            "org": "chmd-org",
            "token": "not-checked-by-vm",
            "database": "chmd",
            "spool_dir": str(tmp_path),
            "batch_size": 10,
            "flush_interval": "200ms",
            "retention": {"rollups": []},
        }
    )
    metrics = StoreMetrics(CollectorRegistry())
    writer = Writer(settings, metrics)
    await writer.start()
    t0 = (time.time_ns() // 10**9 - 120) * 10**9
    samples = [
        Sample(
            "stv2_if",
            {"device": "sw1", "ifName": f"Gi1/0/{i}", "ifAlias": "to core, rack 2"},
            {"inOctets": 1000 + i, "util": i / 4, "up": i % 2 == 0},
            t0 + i * 10**9,
        )
        for i in range(25)
    ]
    writer.submit(samples)
    await wait_for(lambda: metrics.points_written.labels("raw")._value.get() >= 25)
    await writer.aclose()
    rows = victoriametrics.wait_for_series('{__name__="stv2_if_inOctets"}', count=25)
    got = {r["metric"]["ifName"]: (r["values"], r["timestamps"], r["metric"]) for r in rows}
    for i in range(25):
        values, stamps, labels = got[f"Gi1/0/{i}"]
        assert values == [1000 + i]
        assert stamps == [(t0 + i * 10**9) // 10**6]
        assert labels["ifAlias"] == "to core, rack 2"
        assert labels["device"] == "sw1"
    util = victoriametrics.wait_for_series('{__name__="stv2_if_util",ifName="Gi1/0/3"}')
    assert util[0]["values"] == [0.75]
    up = victoriametrics.wait_for_series('{__name__="stv2_if_up",ifName="Gi1/0/3"}')
    assert up[0]["values"] == [0]
