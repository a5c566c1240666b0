"""VictoriaMetrics takes influxdb-client (v2 API) writes and gives them back."""

from __future__ import annotations

import time

from harness.victoriametrics import VictoriaMetrics
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS


def test_influxdb_client_write_is_exported(victoriametrics: VictoriaMetrics) -> None:
    """A Point written with influxdb-client to /api/v2/write is exported as measurement_field."""
    now_ns = time.time_ns()
    run = str(now_ns)
    with InfluxDBClient(url=victoriametrics.url, token="any", org="any") as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket="chmd",
            record=Point("interface")
            .tag("agent_host", "sw1")
            .tag("run", run)
            .field("ifHCInOctets", 4242)
            .time(now_ns, WritePrecision.NS),
        )
    (row,) = victoriametrics.wait_for_series(f'{{__name__="interface_ifHCInOctets",run="{run}"}}')
    assert row["metric"]["agent_host"] == "sw1"
    assert row["values"] == [4242]
    assert row["timestamps"] == [now_ns // 10**6]
