"""Session fixtures: real servers on 127.0.0.1 (see docs/DEVELOPING.md for the contract).

The servers live in `tests/harness/` as plain classes; these fixtures only start and stop them.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import InfluxDB
from harness.prometheus import Prometheus
from harness.sinks import HttpSink, SmtpSink
from harness.snmp import Snmpd, SnmpSim
from harness.sshd import Sshd
from harness.victoriametrics import VictoriaMetrics
from hypothesis import HealthCheck, settings

# CI runs on 2 loaded cores: data generation may be slow there, and a slow example is not a bug.
settings.register_profile(
    "chmd", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("chmd")


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a CI timeout, `kill`) stops pytest like Ctrl-C: the fixtures' finalisers then
    stop the servers, which run in their own sessions and would otherwise be orphaned."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)


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


@pytest.fixture(scope="session")
def snmpsim() -> Iterator[SnmpSim]:
    """snmpsim with every recording: community `<name>` (static) and `<name>-live` (moving)."""
    server = SnmpSim().start()
    yield server
    server.close()


@pytest.fixture
def snmpsim_factory() -> Iterator[Callable[..., SnmpSim]]:
    """Private snmpsim instances: `snmpsim_factory(data_dir=None, port=0)`; `.restart()` works."""
    started: list[SnmpSim] = []

    def make(data_dir: Path | None = None, port: int = 0) -> SnmpSim:
        server = SnmpSim(data_dir=data_dir, port=port)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.close()


@pytest.fixture(scope="session")
def snmpd() -> Iterator[Snmpd]:
    """net-snmp snmpd: v2c `public`, v3 `netmonv3` (SHA/AES) and `netmonv3s256` (SHA-256/AES)."""
    server = Snmpd().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def victoriametrics() -> Iterator[VictoriaMetrics]:
    """VictoriaMetrics: `.url` takes InfluxDB v2 writes; `.export(match)` reads them back."""
    server = VictoriaMetrics().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """aiosmtpd: `.port`, `.messages`, `.clear()`. Shared: clear it at the start of a test."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def http_sink() -> Iterator[HttpSink]:
    """HTTP receiver: `.url`, `.requests`, `.fail_next(n)`. Shared: clear it at the start."""
    sink = HttpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def https_sink() -> Iterator[HttpSink]:
    """Like http_sink over HTTPS with a self-signed certificate (`.cert_path`)."""
    sink = HttpSink(tls=True).start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def sshd() -> Iterator[Sshd]:
    """OpenSSH as a fake Cisco IOS device: `.port`, `.user`, `.password`, `.client_key`,
    `.known_hosts`; `.outputs` maps each command to the recording it answers with."""
    server = Sshd().start()
    yield server
    server.close()


@pytest.fixture
def prometheus_factory() -> Iterator[Callable[..., Prometheus]]:
    """`prometheus_factory(["127.0.0.1:PORT"])` starts Prometheus scraping those targets every
    1 s as job `chmd`: `.url`, `.query(expr)`, `.wait_up()`; stopped after the test."""
    started: list[Prometheus] = []

    def make(targets: list[str], metrics_path: str = "/metrics") -> Prometheus:
        server = Prometheus(targets, metrics_path)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.close()


@pytest.fixture
def sshd_factory() -> Iterator[Callable[..., Sshd]]:
    """`sshd_factory(platform="cisco_nxos", picks={"show version": "<file>.raw"})`: a private
    fake device answering other recordings; stopped after the test."""
    started: list[Sshd] = []

    def make(platform: str = "cisco_ios", picks: dict[str, str] | None = None) -> Sshd:
        server = Sshd(platform, picks)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.close()
