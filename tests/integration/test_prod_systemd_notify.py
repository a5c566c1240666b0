"""chmd.systemd against a real AF_UNIX datagram socket, bound as systemd binds $NOTIFY_SOCKET."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chmd.systemd import Notifier, WatchdogFeeder

pytestmark = pytest.mark.integration


@pytest.fixture(params=["path", "abstract"])
def notify_socket(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[socket.socket, str]]:
    """A bound SOCK_DGRAM socket and the $NOTIFY_SOCKET value naming it (path or '@abstract')."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "abstract":
        name = f"chmd-test-{os.getpid()}-{time.monotonic_ns()}"
        sock.bind("\0" + name)
        env_value = "@" + name
    else:
        path = str(tmp_path / "notify.sock")
        sock.bind(path)
        env_value = path
    sock.settimeout(5.0)
    yield sock, env_value
    sock.close()


def _recv(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_ready_with_status(notify_socket: tuple[socket.socket, str]) -> None:
    """READY=1 and STATUS= arrive together in one datagram."""
    sock, env_value = notify_socket
    notifier = Notifier(env={"NOTIFY_SOCKET": env_value})
    assert notifier.ready("polling 2 devices, 0 alerts firing")
    assert _recv(sock) == "READY=1\nSTATUS=polling 2 devices, 0 alerts firing"
    notifier.close()


def test_reloading_carries_monotonic_usec(notify_socket: tuple[socket.socket, str]) -> None:
    """RELOADING=1 is sent with MONOTONIC_USEC= taken from CLOCK_MONOTONIC at send time."""
    sock, env_value = notify_socket
    notifier = Notifier(env={"NOTIFY_SOCKET": env_value})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    lines = _recv(sock).split("\n")
    assert lines[0] == "RELOADING=1"
    key, _, value = lines[1].partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after
    notifier.close()


def test_stopping(notify_socket: tuple[socket.socket, str]) -> None:
    """STOPPING=1 is delivered."""
    sock, env_value = notify_socket
    notifier = Notifier(env={"NOTIFY_SOCKET": env_value})
    notifier.stopping()
    assert _recv(sock) == "STOPPING=1"
    notifier.close()


def test_missing_socket_returns_false(tmp_path: Path) -> None:
    """A $NOTIFY_SOCKET nobody listens on makes notify return False instead of raising."""
    notifier = Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "absent.sock")})
    assert notifier.enabled
    assert notifier.ready() is False
    notifier.close()


async def test_watchdog_feeder_pings_at_half_interval(
    notify_socket: tuple[socket.socket, str],
) -> None:
    """With WATCHDOG_USEC=200000 the feeder sends WATCHDOG=1 repeatedly while healthy."""
    sock, env_value = notify_socket
    env = {"NOTIFY_SOCKET": env_value, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())}
    notifier = Notifier(env=env)
    assert notifier.watchdog_interval_s == 0.1
    task = asyncio.create_task(WatchdogFeeder(notifier, lambda: True).run())
    messages = [await asyncio.to_thread(_recv, sock) for _ in range(3)]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert messages == ["WATCHDOG=1"] * 3
    notifier.close()


async def test_watchdog_feeder_silent_when_unhealthy(
    notify_socket: tuple[socket.socket, str],
) -> None:
    """An unhealthy daemon sends no WATCHDOG=1 at all, so systemd's watchdog will fire."""
    sock, env_value = notify_socket
    notifier = Notifier(env={"NOTIFY_SOCKET": env_value, "WATCHDOG_USEC": "100000"})
    checks = 0
    checked_four_times = asyncio.Event()

    def healthy() -> bool:
        nonlocal checks
        checks += 1
        if checks >= 4:
            checked_four_times.set()
        return False

    task = asyncio.create_task(WatchdogFeeder(notifier, healthy).run())
    await asyncio.wait_for(checked_four_times.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(4096)
    assert checks >= 4
    notifier.close()


def test_full_socket_drops_watchdog_without_blocking(
    notify_socket: tuple[socket.socket, str],
) -> None:
    """When nobody reads the socket, WATCHDOG=1 is dropped (False) instead of blocking."""
    _, env_value = notify_socket
    notifier = Notifier(env={"NOTIFY_SOCKET": env_value})
    results = [notifier.watchdog() for _ in range(5000)]
    started = time.monotonic()
    assert notifier.watchdog() is False
    assert time.monotonic() - started < 0.1
    assert results[0] is True
    notifier.close()
