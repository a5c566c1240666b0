"""The harness's InfluxDB 1.6.7 answers the 1.x API and survives a stop/start."""

from __future__ import annotations

import time
from collections.abc import Callable

from harness import InfluxDB


def test_point_written_is_read_back(influxdb: InfluxDB) -> None:
    """A line-protocol point written over /write comes back from /query with its tag and field."""
    influxdb.create_database("harness_selftest")
    now_s = int(time.time())
    influxdb.write(
        f"interface,agent_host=sw1,ifName=Gi1/0/1 ifHCInOctets=12345i {now_s}",
        db="harness_selftest",
        precision="s",
    )
    rows = influxdb.points(
        "SELECT ifHCInOctets, ifName FROM interface WHERE agent_host = 'sw1'", "harness_selftest"
    )
    assert rows == [{"time": now_s * 10**9, "ifHCInOctets": 12345, "ifName": "Gi1/0/1"}]


def test_private_instance_restarts_with_its_data(
    influxdb_factory: Callable[[], InfluxDB],
) -> None:
    """A private instance stopped and started again is down in between and keeps its data."""
    server = influxdb_factory()
    server.create_database("outage")
    server.write("ping,host=r1 rtt_ms=1.5 1700000000", db="outage", precision="s")
    server.stop()
    assert not server.ping()
    server.start()
    assert server.points("SELECT rtt_ms FROM ping", "outage")[0]["rtt_ms"] == 1.5
