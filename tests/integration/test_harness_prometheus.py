"""The harness's Prometheus scrapes a real prometheus_client exporter."""

from __future__ import annotations

from collections.abc import Callable

from harness.prometheus import Prometheus
from prometheus_client import CollectorRegistry, Counter, start_http_server


def test_prometheus_reports_exporter_up(prometheus_factory: Callable[..., Prometheus]) -> None:
    """A prometheus_client exporter on a free port shows up==1 and its counter is queryable."""
    registry = CollectorRegistry()
    polls = Counter("harness_polls", "Polls performed", ["device"], registry=registry)
    polls.labels("sw1").inc(3)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        port = server.server_address[1]
        prom = prometheus_factory([f"127.0.0.1:{port}"])
        prom.wait_up()
        (target,) = prom.active_targets()
        assert target["health"] == "up"
        (row,) = prom.query('harness_polls_total{device="sw1"}')
        assert row["value"][1] == "3"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
