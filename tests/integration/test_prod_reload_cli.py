"""`chmd reload` as a process, against a real process that looks like `chmd run`."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chmd.systemd import write_pid_file

pytestmark = pytest.mark.integration

CHMD = str(Path(sys.executable).parent / "chmd")

# Counts SIGHUPs into a file; argv carries "chmd run" like the real daemon's.
FAKE_DAEMON = """
import signal, sys, time
out = sys.argv[1]
def hup(*_):
    with open(out, "a") as f:
        f.write("HUP\\n")
signal.signal(signal.SIGHUP, hup)
open(out, "w").close()
while True:
    time.sleep(0.1)
"""


@pytest.fixture
def fake_daemon(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A process whose argv contains `chmd run`, recording SIGHUPs to a file."""
    out = tmp_path / "hups.txt"
    proc = subprocess.Popen([sys.executable, "-c", FAKE_DAEMON, str(out), "chmd", "run"])
    deadline = time.monotonic() + 10
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    yield proc, out
    proc.terminate()
    proc.wait(10)


def _wait_for_hups(out: Path, count: int) -> int:
    deadline = time.monotonic() + 10
    while out.read_text().count("HUP") < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return out.read_text().count("HUP")


def test_reload_signals_pid_from_state_dir(
    tmp_path: Path, fake_daemon: tuple[subprocess.Popen[bytes], Path]
) -> None:
    """`chmd reload --config` finds <state_dir>/chmd.pid and sends that process one SIGHUP."""
    proc, out = fake_daemon
    state = tmp_path / "state"
    state.mkdir()
    write_pid_file(state / "chmd.pid", proc.pid)
    config = tmp_path / "chmd.yaml"
    config.write_text("state_dir: state\n")
    result = subprocess.run(
        [CHMD, "reload", "-c", str(config), "--unit", "chmd-test-none.service"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"pid {proc.pid}" in result.stdout
    assert _wait_for_hups(out, 1) == 1


def test_reload_refuses_stale_pid(tmp_path: Path) -> None:
    """A pid file naming a process that is not `chmd run` is not signalled: exit 1."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pid_file = tmp_path / "chmd.pid"
        write_pid_file(pid_file, other.pid)
        result = subprocess.run(
            [CHMD, "reload", "--pid-file", str(pid_file), "--unit", "chmd-test-none.service"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 1
        assert "no running chmd found" in result.stderr
        assert other.poll() is None  # still alive: SIGHUP would have killed it
    finally:
        other.terminate()
        other.wait(10)
