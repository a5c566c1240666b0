"""The production Pipeline in-process: supervision of its loops, a crashed loop restarted,
systemd notifications around start, reload and stop — against snmpsim and InfluxDB 1.6.7."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from chmd.config import load_config
from chmd.daemon import Daemon, supervise
from chmd.rules.engine import RuleEngine
from chmd.systemd import Notifier

pytestmark = pytest.mark.integration

DEADLINE_S = 30.0


async def test_supervise_restarts_a_crashed_loop() -> None:
    """A loop that raises is logged as task_crashed, counted, and run again until it returns."""
    runs: list[int] = []
    crashes: list[str] = []

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise RuntimeError("boom")

    with capture_logs() as logs:
        await asyncio.wait_for(supervise("router", flaky, crashes.append, (0.0, 0.0)), DEADLINE_S)
    assert runs == [0, 1, 2]
    assert crashes == ["router", "router"]
    assert [e["event"] for e in logs] == ["task_crashed", "task_crashed"]


async def test_supervise_lets_cancellation_through() -> None:
    """Cancelling a supervised loop cancels it (it is not counted as a crash)."""
    crashes: list[str] = []
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(supervise("rules", forever, crashes.append, (0.0, 0.0)))
    await asyncio.wait_for(started.wait(), DEADLINE_S)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert crashes == []


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.setblocking(False)
    yield sock, path
    sock.close()


def _drain(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


@pytest.fixture
def config_path(tmp_path: Path, snmpsim: Any, influxdb: Any) -> Path:
    (tmp_path / "chmd.yaml").write_text(
        "inventory: {files: [devices.yaml]}\n"
        "rules: {files: [], interval: 1s}\n"
        f"storage: {{url: '{influxdb.url}', database: chmd_daemon_{os.getpid()}, "
        "flush_interval: 0.2s}\n"
        "state_dir: state\n"
        "metrics: {listen: '127.0.0.1:0'}\n"
    )
    (tmp_path / "devices.yaml").write_text(
        "defaults: {interval: 1s, timeout: 5s, "
        f"snmp: {{port: {snmpsim.port}, timeout: 1s}}}}\n"
        "devices:\n"
        "  sw1: {host: 127.0.0.1, snmp: {community: iosxe_c9300-live}}\n"
    )
    return tmp_path / "chmd.yaml"


@pytest.fixture
async def daemon(
    config_path: Path, notify_socket: tuple[socket.socket, str]
) -> AsyncIterator[tuple[Daemon, asyncio.Event, asyncio.Task[None]]]:
    loaded = load_config(config_path)
    notifier = Notifier(env={"NOTIFY_SOCKET": notify_socket[1]})
    daemon = Daemon(config_path, config=loaded, pipeline=True, notifier=notifier)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    await asyncio.wait_for(daemon.ready.wait(), DEADLINE_S)
    yield daemon, stop, task
    stop.set()
    await asyncio.wait_for(task, DEADLINE_S)


async def _until(predicate: Any, what: str) -> None:
    """Check `predicate` every 50 ms until true; fail naming `what` after DEADLINE_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    for _ in itertools.count():
        if predicate():
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_crashed_router_is_restarted(
    daemon: tuple[Daemon, asyncio.Event, asyncio.Task[None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The router crashes on one poll result (a bug in a stage); it is logged, counted in
    chmd_task_restarts_total{task="router"} and restarted, and results flow again."""
    pipeline = daemon[0].pipeline
    assert pipeline is not None
    original = RuleEngine.observe
    calls = 0

    def observe_once_broken(self: RuleEngine, samples: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("injected bug")
        return original(self, samples)

    monkeypatch.setattr(RuleEngine, "observe", observe_once_broken)
    registry = pipeline.metrics.registry

    def restarts() -> float:
        return registry.get_sample_value("chmd_task_restarts_total", {"task": "router"}) or 0.0

    await _until(lambda: restarts() == 1, "the router restart")
    await _until(lambda: calls >= 3, "results routed after the restart")
    assert pipeline.healthy()


async def test_notify_around_reload_and_stop(
    daemon: tuple[Daemon, asyncio.Event, asyncio.Task[None]],
    notify_socket: tuple[socket.socket, str],
) -> None:
    """READY=1 after start; RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a reload;
    STOPPING=1 at stop."""
    the_daemon, stop, task = daemon
    sock = notify_socket[0]
    assert _drain(sock)[0].startswith("READY=1\nSTATUS=polling 1 devices")
    the_daemon.request_reload()
    await asyncio.wait_for(the_daemon.wait_reloads(1), DEADLINE_S)
    kinds = [m.split("\n")[0] for m in _drain(sock) if not m.startswith("STATUS=")]
    assert kinds[:2] == ["RELOADING=1", "READY=1"]
    stop.set()
    await asyncio.wait_for(task, DEADLINE_S)
    assert any(m.startswith("STOPPING=1") for m in _drain(sock))


async def test_agent_restart_counts_withheld_rates(
    tmp_path: Path, snmpsim_factory: Any, influxdb: Any
) -> None:
    """An SNMP agent restart (sysUpTime back to 0) withholds that poll's rates; the daemon
    counts it in chmd_collect_rates_withheld_total{collector="snmp",reason="restart"}; the
    SNMP engine's request/response counters are exported beside it."""
    from harness.snmp import write_data_dir

    agent = await asyncio.to_thread(
        snmpsim_factory, write_data_dir(tmp_path / "data", ["iosxe_c9300"])
    )
    (tmp_path / "chmd.yaml").write_text(
        "inventory: {files: [devices.yaml]}\nrules: {files: []}\n"
        f"storage: {{url: '{influxdb.url}', database: chmd_withheld_{os.getpid()}}}\n"
        "state_dir: state\nmetrics: {listen: '127.0.0.1:0'}\n"
    )
    (tmp_path / "devices.yaml").write_text(
        "devices:\n  sw1: {host: 127.0.0.1, interval: 1s, timeout: 5s, "
        f"snmp: {{port: {agent.port}, timeout: 1s, community: iosxe_c9300-live}}}}\n"
    )
    daemon = Daemon(
        tmp_path / "chmd.yaml", config=load_config(tmp_path / "chmd.yaml"), pipeline=True
    )
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    try:
        await asyncio.wait_for(daemon.ready.wait(), DEADLINE_S)
        pipeline = daemon.pipeline
        assert pipeline is not None
        registry = pipeline.metrics.registry

        def ok_polls() -> float:
            labels = {"collector": "snmp", "reason": "ok"}
            return registry.get_sample_value("chmd_collect_poll_results_total", labels) or 0.0

        await _until(lambda: ok_polls() >= 2, "two polls (a baseline)")
        await asyncio.to_thread(agent.restart)

        def withheld() -> float:
            labels = {"collector": "snmp", "reason": "restart"}
            return registry.get_sample_value("chmd_collect_rates_withheld_total", labels) or 0.0

        await _until(lambda: withheld() >= 1, "a withheld rate counted")
        # the UDP engine's own counters are on the same registry, read at scrape time
        sent = registry.get_sample_value("chmd_collect_snmp_requests_total") or 0.0
        answered = registry.get_sample_value("chmd_collect_snmp_responses_total") or 0.0
        assert sent >= answered > 0
        unauthentic = {"reason": "unauthentic"}
        rejected = "chmd_collect_snmp_datagrams_rejected_total"
        assert registry.get_sample_value(rejected, unauthentic) == 0.0
    finally:
        stop.set()
        await asyncio.wait_for(task, DEADLINE_S)


async def test_rules_settings_apply_at_start_and_on_reload(
    daemon: tuple[Daemon, asyncio.Event, asyncio.Task[None]], config_path: Path
) -> None:
    """The running engine takes the `rules:` section (raw buckets capped at the 1 s interval),
    and a reload that changes flap_window applies it without a restart."""
    the_daemon = daemon[0]
    pipeline = the_daemon.pipeline
    assert pipeline is not None
    assert pipeline.engine is not None
    assert pipeline.engine.settings.raw_resolution_s == 1.0
    assert pipeline.engine.settings.flap_window_s == 3600.0
    text = await asyncio.to_thread(config_path.read_text)
    changed = text.replace("interval: 1s}", "interval: 1s, flap_window: 30m}", 1)
    await asyncio.to_thread(config_path.write_text, changed)
    the_daemon.request_reload()
    await asyncio.wait_for(the_daemon.wait_reloads(1), DEADLINE_S)
    assert pipeline.engine.settings.flap_window_s == 1800.0
