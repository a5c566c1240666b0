"""Process plumbing shared by every test server: free ports, readiness waits, stop by PID.

Nothing here imports pytest, so bench scripts can use the servers directly.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Self

REPO = Path(__file__).resolve().parents[2]
SERVERS = REPO / ".servers"  # unpacked VictoriaMetrics, snmpsim venv, snmpsim index cache
FIXTURES = REPO / "tests" / "fixtures"
LOOPBACK = "127.0.0.1"
READY_TIMEOUT_S = 60.0  # generous: CI has 2 loaded cores
STOP_TIMEOUT_S = 10.0


class HarnessError(RuntimeError):
    """A test server could not be prepared, started or stopped."""


def free_port(kind: str = "tcp") -> int:
    """Ask the OS for a free 127.0.0.1 port (`kind` "tcp", "udp" or "both")."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((LOOPBACK, 0))
            port = int(tcp.getsockname()[1])
            if kind == "tcp":
                return port
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise HarnessError(f"no free {kind} port on {LOOPBACK}")


def tcp_open(port: int, host: str = LOOPBACK) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def make_tempdir(prefix: str) -> Path:
    """A fresh temp dir, mode 755 (sshd reads keys in it as an unprivileged user)."""
    path = Path(tempfile.mkdtemp(prefix=f"chmd-{prefix}-"))
    path.chmod(0o755)
    return path


def require_binary(name: str, *fallbacks: str) -> str:
    """Absolute path of an executable; a clear error naming `make test` when missing."""
    for candidate in (name, *fallbacks):
        found = shutil.which(candidate) or (candidate if os.access(candidate, os.X_OK) else None)
        if found:
            return str(Path(found).resolve())
    raise HarnessError(f"{name} not found: run `make test` once (it installs the test servers)")


_RUNNING: set[ServerProcess] = set()
_RUNNING_LOCK = threading.Lock()


class ServerProcess:
    """One child process with its output in a log file; stopped by its own PID."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> None:
        if self.running():
            return
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # a Ctrl-C on pytest must not hit the servers first
            )
        with _RUNNING_LOCK:
            _RUNNING.add(self)

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM, wait up to `timeout_s`, then SIGKILL: only this PID, never by name."""
        popen, self.popen = self.popen, None
        with _RUNNING_LOCK:
            _RUNNING.discard(self)
        if popen is None or popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                popen.kill()
            popen.wait(timeout_s)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(
        self, check: Callable[[], bool], what: str, timeout_s: float = READY_TIMEOUT_S
    ) -> None:
        """Poll `check` until true; fail early (with the log tail) if the process died."""
        deadline = time.monotonic() + timeout_s
        delay = 0.05
        while time.monotonic() < deadline:
            if not self.running():
                code = self.popen.returncode if self.popen else None
                raise HarnessError(
                    f"{self.name} exited (rc={code}) before {what}:\n{self.log_tail()}"
                )
            with contextlib.suppress(Exception):
                if check():
                    return
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        tail = self.log_tail()
        self.stop()
        raise HarnessError(f"{self.name}: no {what} within {timeout_s:.0f}s:\n{tail}")


class ManagedServer:
    """The lifecycle every harness server shares: its own temp dir (removed by `close()` when
    the server made it), a free port on 127.0.0.1, `start()` with up to three attempts (a port
    can be taken between choosing it and the server binding it), stop by PID.

    A port set before `start()` (given, or kept from an earlier start) is kept on every
    attempt: `stop()` then `start()` comes back where clients expect it, as a rebooted
    device or a restarted database would. Subclasses say how to run one attempt."""

    name = "server"
    port_kind = "tcp"
    ready_what = "readiness"
    attempts = 3

    def __init__(self, prefix: str, base: Path | None = None, port: int = 0) -> None:
        self.base = base or make_tempdir(prefix)
        self._owns_base = base is None
        self.host = LOOPBACK
        self.port = port
        self._proc: ServerProcess | None = None

    def start(self) -> Self:
        if self.running():
            return self
        self._prepare()
        keep_port = bool(self.port)
        for attempt in range(self.attempts):
            if not keep_port:
                self._choose_ports()
            proc = self._proc = ServerProcess(
                self.name, self._argv(), self.base / f"{self.name}.out", env=self._env()
            )
            try:
                self._launch(proc)
            except HarnessError:
                proc.stop()
                if attempt == self.attempts - 1:
                    raise
                self._after_failed_start()
                continue
            self._started()
            return self
        return self

    def stop(self) -> None:
        if self._proc:
            self._proc.stop()

    def restart(self) -> None:
        """Stop and start on the same port and data."""
        self.stop()
        self.start()

    def running(self) -> bool:
        return bool(self._proc and self._proc.running())

    def close(self) -> None:
        """Stop, and remove the temp dir if this server made it."""
        self.stop()
        if self._owns_base:
            shutil.rmtree(self.base, ignore_errors=True)

    # --- what a subclass says ------------------------------------------------------------------
    def _argv(self) -> list[str]:
        """The command line of one attempt (may write its config file for `self.port`)."""
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Once per `start()`, before the attempts."""

    def _choose_ports(self) -> None:
        self.port = free_port(self.port_kind)

    def _env(self) -> Mapping[str, str] | None:
        return None

    def _launch(self, proc: ServerProcess) -> None:
        proc.start()
        proc.wait_ready(self._ready, self.ready_what)

    def _after_failed_start(self) -> None:
        """Between a failed attempt and the next one."""

    def _started(self) -> None:
        """After the server answered."""


class HttpServer(ManagedServer):
    """A ManagedServer with an HTTP API at `.url`."""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _get(self, path: str, **params: str) -> str:
        """GET `path` with query `params`; the body, or HarnessError on an HTTP error."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as resp:
                return str(resp.read().decode())
        except urllib.error.HTTPError as exc:
            raise HarnessError(f"GET {path}: HTTP {exc.code} {exc.read()!r}") from exc


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll `check` (exceptions count as false) until true or raise HarnessError."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        with contextlib.suppress(Exception):
            if check():
                return
        if time.monotonic() >= deadline:
            raise HarnessError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


@atexit.register
def _stop_leftovers() -> None:
    """Safety net: a server whose fixture finaliser never ran still dies with us."""
    with _RUNNING_LOCK:
        left = list(_RUNNING)
    for proc in left:
        proc.stop(timeout_s=3.0)


def run_checked(argv: Sequence[str], stdin: str | None = None, timeout_s: float = 60.0) -> str:
    """Run a short helper command; its stdout, or HarnessError with its output."""
    done = subprocess.run(
        list(argv), input=stdin, text=True, capture_output=True, timeout=timeout_s, check=False
    )
    if done.returncode != 0:
        raise HarnessError(
            f"{' '.join(argv)} failed (rc={done.returncode}): {done.stderr}{done.stdout}"
        )
    return done.stdout
