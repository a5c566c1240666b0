"""Session fixtures: real servers on 127.0.0.1 (see docs/DEVELOPING.md for the contract).

The servers live in `tests/harness/` as plain classes; these fixtures only start and stop them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from harness import InfluxDB


@pytest.fixture(scope="session")
def influxdb() -> Iterator[InfluxDB]:
    """The shared InfluxDB 1.6.7: `.url`. Use your own database name per test module."""
    server = InfluxDB().start()
    yield server
    server.close()


@pytest.fixture
def influxdb_factory() -> Iterator[Callable[[], InfluxDB]]:
    """Starts private InfluxDB 1.6.7 instances (`.stop()`/`.start()` for outages)."""
    started: list[InfluxDB] = []

    def make() -> InfluxDB:
        server = InfluxDB()
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.close()
