"""Every recording's samples, from both collectors, written into one InfluxDB 1.6.7 database:
no point is rejected for a field type conflict."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest
from harness.aio import run_sync
from harness.snmp import recordings as snmp_recordings
from prometheus_client import CollectorRegistry
from unit.ssh_fixtures import command_for, recordings

from chmd.collect.snmp.collector import SnmpCollector
from chmd.collect.snmp.profiles import load_profiles
from chmd.collect.ssh.parsers.parse import parse_records
from chmd.collect.ssh.parsers.samples import base_tags, to_samples
from chmd.inventory.schema import Device, SnmpAccess
from chmd.model import Sample
from chmd.store.metrics import StoreMetrics
from chmd.store.settings import StorageSettings
from chmd.store.writer import DEAD_LETTER, Writer

pytestmark = pytest.mark.integration


def _ssh_samples() -> list[Sample]:
    """Every CLI recording parsed as if one device per recording answered it (now)."""
    now = time.time_ns()
    out: list[Sample] = []
    for rec in recordings():
        command = command_for(rec)
        records = parse_records(rec.id, command, rec.text())
        out += to_samples(command, records, base_tags(f"ssh-{rec.id}", "192.0.2.1", {}), now)
    return out


async def _write_all(snmpsim: Any, influxdb: Any, database: str, spool: Path) -> None:
    devices = [
        Device(
            name=name,
            host=snmpsim.host,
            timeout=60,
            snmp=SnmpAccess(port=snmpsim.port, community=f"{name}-live", timeout=5, retries=2),
        )
        for name in snmp_recordings()
    ]
    collector = SnmpCollector(load_profiles())
    settings = StorageSettings(url=influxdb.url, database=database, spool_dir=str(spool))
    writer = Writer(settings, StoreMetrics(CollectorRegistry()))
    await writer.start()
    try:
        writer.submit(_ssh_samples())
        for round_ in range(2):  # the second poll has rates
            if round_:
                await asyncio.sleep(1.0)
            results = await asyncio.gather(*(collector.poll(d) for d in devices))
            assert [r.errors for r in results] == [()] * len(devices)
            writer.submit(s for r in results for s in r.samples)
    finally:
        await collector.aclose()
        await writer.aclose()


def test_no_field_type_conflict_in_influxdb(snmpsim: Any, influxdb: Any, tmp_path: Path) -> None:
    """Two SNMP polls of all 12 recordings and every parsed CLI recording land in one database
    with no dead letter; memory `used` is an integer and sensor `value` a float there."""
    database = f"chmd_types_{os.getpid()}"
    run_sync(_write_all(snmpsim, influxdb, database, tmp_path))
    dead = tmp_path / DEAD_LETTER
    assert not dead.exists() or dead.read_text() == "", dead.read_text()[:2000]
    body = influxdb.query("SHOW FIELD KEYS", db=database)
    types = {
        (series["name"], key): kind
        for series in body["results"][0]["series"]
        for key, kind in series["values"]
    }
    assert types[("memory", "used")] == "integer"
    assert types[("memory", "used_percent")] == "float"
    assert types[("sensor", "value")] == "float"
    assert types[("cpu", "usage")] == "float"
    assert types[("system", "uptime")] == "float"
