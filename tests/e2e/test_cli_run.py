"""`chmd run` as a process: start summary, SIGHUP reloads (a bad one keeps running),
SIGTERM/SIGINT exit 0, a bad config at start exits 78.

Every wait is on a log line or the process exit, with a deadline; no sleeps.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

CHMD = Path(sys.executable).with_name("chmd")
DEADLINE_S = 20.0
STOP_DEADLINE_S = 5.0  # the promise: SIGTERM → exit within 5 s

CONFIG = (
    "rules: {files: []}\nstate_dir: state\nlog: {format: json, level: info}\n"
    "metrics: {listen: '127.0.0.1:0'}\n"
)
ONE_DEVICE = "devices:\n  sw1:\n    host: 192.0.2.1\n    snmp: {community: file:community}\n"
TWO_DEVICES = ONE_DEVICE + "  sw2:\n    host: 192.0.2.2\n    snmp: {community: file:community}\n"
BROKEN = "devices:\n  sw1:\n    host: 192.0.2.1\n    interval: 5 m\n"


class Process:
    """A running `chmd run` whose stderr JSON lines are read by a thread into a queue."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [str(CHMD), "run", "-c", config.name],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=config.parent,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_event(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The next JSON log event matching `predicate`; fails after DEADLINE_S."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no matching log line; seen: {self.seen}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not one of chmd's JSON log lines (e.g. an interpreter warning)
            if predicate(event):
                return event

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(DEADLINE_S)  # the pipe ends when the process does
        assert self.proc.stderr is not None
        self.proc.stderr.close()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "community").write_text("public\n", encoding="utf-8")
    (tmp_path / "chmd.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "devices.yaml").write_text(ONE_DEVICE, encoding="utf-8")
    return tmp_path / "chmd.yaml"


@pytest.fixture
def daemon(config: Path) -> Iterator[Process]:
    process = Process(config)
    yield process
    process.close()


def test_start_logs_summary_and_writes_pid_file(daemon: Process, config: Path) -> None:
    """The start line counts devices and rule files and says it polls; pid file exists."""
    started = daemon.wait_event(lambda e: e["event"] == "started")
    assert (started["devices"], started["rule_files"], started["polling"]) == (1, 0, True)
    pid_file = config.parent / "state" / "chmd.pid"
    assert pid_file.read_text(encoding="ascii").strip() == str(daemon.proc.pid)
    daemon.signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=STOP_DEADLINE_S) == 0
    assert not pid_file.exists()


def test_bad_reload_keeps_running_then_good_reload_applies(daemon: Process, config: Path) -> None:
    """SIGHUP with a broken inventory logs the problem and keeps running; after a fix,
    SIGHUP loads the new inventory."""
    daemon.wait_event(lambda e: e["event"] == "started")
    (config.parent / "devices.yaml").write_text(BROKEN, encoding="utf-8")
    daemon.signal(signal.SIGHUP)
    failed = daemon.wait_event(lambda e: e["event"] == "reload_failed")
    assert failed["problems"] == [
        "devices.yaml:4:15: devices.sw1.interval: bad duration '5 m' "
        "(write e.g. 30s, 5m, 1h30m, 2d; no spaces)"
    ]
    assert daemon.proc.poll() is None
    (config.parent / "devices.yaml").write_text(TWO_DEVICES, encoding="utf-8")
    daemon.signal(signal.SIGHUP)
    reloaded = daemon.wait_event(lambda e: e["event"] == "reloaded")
    assert (reloaded["devices"], reloaded["added"]) == (2, 1)
    daemon.signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=STOP_DEADLINE_S) == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signals_exit_zero(daemon: Process, signum: int) -> None:
    """SIGTERM and SIGINT stop the daemon cleanly: a `stopped` line, exit status 0."""
    daemon.wait_event(lambda e: e["event"] == "started")
    daemon.signal(signum)
    daemon.wait_event(lambda e: e["event"] == "stopped")
    assert daemon.proc.wait(timeout=STOP_DEADLINE_S) == 0


def test_bad_config_at_start_exits_78(config: Path) -> None:
    """An invalid config at start prints every problem and exits 78 without starting."""
    (config.parent / "devices.yaml").write_text(BROKEN, encoding="utf-8")
    result = subprocess.run(
        [str(CHMD), "run", "-c", "chmd.yaml"],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert result.returncode == 78
    assert result.stderr.splitlines() == [
        "devices.yaml:4:15: devices.sw1.interval: bad duration '5 m' "
        "(write e.g. 30s, 5m, 1h30m, 2d; no spaces)",
        "1 error; nothing started.",
    ]
    assert not (config.parent / "state").exists()
