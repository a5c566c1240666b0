"""The daemon's storage stage against InfluxDB 1.6.7."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from harness import InfluxDB
from prometheus_client import CollectorRegistry
from test_store_influx1 import T0, count, settings, wait_for

from chmd.model import Sample
from chmd.store.metrics import StoreMetrics
from chmd.store.stage import StoreStage

pytestmark = pytest.mark.integration


def loaded(**storage: Any) -> Any:
    return SimpleNamespace(config=SimpleNamespace(storage=storage["s"]))


async def test_stage_writes_and_restarts_only_on_change(influxdb: InfluxDB, tmp_path: Path) -> None:
    """Samples submitted before and after apply are written; a reload with the same storage
    settings keeps the Writer, changed settings replace it."""
    stage = StoreStage(StoreMetrics(CollectorRegistry()))
    stage.submit([Sample("stg", {"d": "a"}, {"v": 1}, T0)])  # before the first apply
    s1 = settings(influxdb.url, "st_stage", tmp_path)
    await stage.apply(loaded(s=s1), None)
    first = stage.writer
    await stage.apply(loaded(s=s1), None)
    assert stage.writer is first
    await stage.apply(loaded(s=s1.model_copy(update={"batch_size": 7})), None)
    assert stage.writer is not first
    stage.submit([Sample("stg", {"d": "a"}, {"v": 2}, T0 + 1)])
    await wait_for(lambda: count(influxdb, "st_stage", 'SELECT count(v) FROM "raw"."stg"') == 2)
    await stage.aclose()
    assert stage.writer is None
