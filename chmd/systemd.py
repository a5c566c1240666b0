"""systemd's notify protocol (sd_notify) without a dependency, and a watchdog feeder.

With `Type=notify` systemd passes `$NOTIFY_SOCKET` (a path, or `@name` for Linux's
abstract namespace); the daemon sends newline-separated `KEY=value` datagrams to it:
`READY=1` once polling runs, `RELOADING=1` + `MONOTONIC_USEC=` before a reload and
`READY=1` after it, `STOPPING=1` on shutdown, `STATUS=` free text, `WATCHDOG=1` at least
every `$WATCHDOG_USEC`. Without `$NOTIFY_SOCKET` every call is a no-op returning False,
so the daemon runs the same way outside systemd.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog

from chmd.statefile import atomic_write

log = structlog.get_logger(__name__)


def socket_address(value: str) -> str | None:
    """`$NOTIFY_SOCKET` → an address for `sendto`: `@name` becomes `\\0name`; else a path.

    Returns None for an empty or unusable value (systemd only sends absolute paths or '@').
    """
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


def watchdog_interval_s(env: Mapping[str, str], pid: int) -> float | None:
    """How often to send WATCHDOG=1: half of `$WATCHDOG_USEC`, as sd_watchdog_enabled advises.

    None when no watchdog is requested, the value is bad, or `$WATCHDOG_PID` names
    another process (the variable was inherited, not meant for us).
    """
    raw = env.get("WATCHDOG_USEC", "")
    if not raw.isdigit() or int(raw) == 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(raw) / 1_000_000 / 2


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, as systemd wants it beside RELOADING=1."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def status_line(devices: int, firing: int, extra: str = "") -> str:
    """The STATUS= text `systemctl status chmd` shows: device and alert counts."""
    text = f"polling {devices} devices, {firing} alerts firing"
    return f"{text}; {extra}" if extra else text


STATE_WAIT_S = 0.5  # READY/RELOADING/STOPPING may wait this long for room in the socket


def _status(text: str | None) -> list[str]:
    return [f"STATUS={text}"] if text else []


class Notifier:
    """Sends notify messages to systemd. Safe to use when not under systemd (no-op)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self._address = socket_address(env.get("NOTIFY_SOCKET", ""))
        self._sock: socket.socket | None = None
        self._failed = False
        self.watchdog_interval_s = watchdog_interval_s(env, os.getpid()) if self._address else None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *assignments: str, wait_s: float = 0.0) -> bool:
        """Send one datagram of `KEY=value` lines. True when it was handed to the socket.

        By default the send never blocks the event loop (a full socket queue drops the
        message and says so in the log once); state changes wait up to `wait_s` for room.
        """
        if self._address is None:
            return False
        payload = "\n".join(assignments).encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.settimeout(wait_s if wait_s > 0 else 0.0)
            self._sock.sendto(payload, self._address)
        except OSError as exc:
            if not self._failed:  # log the change of state once, not every watchdog tick
                log.warning("sd_notify_failed", error=exc.strerror or type(exc).__name__)
            self._failed = True
            return False
        if self._failed:
            log.info("sd_notify_recovered")
            self._failed = False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *_status(status), wait_s=STATE_WAIT_S)

    def reloading(self, status: str | None = None) -> bool:
        lines = ["RELOADING=1", f"MONOTONIC_USEC={monotonic_usec()}", *_status(status)]
        return self.notify(*lines, wait_s=STATE_WAIT_S)

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *_status(status), wait_s=STATE_WAIT_S)

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class WatchdogFeeder:
    """Sends WATCHDOG=1 every `interval_s` from the event loop, but only while `healthy()`.

    Running as a task on the main loop means a wedged loop stops the pings; the health
    callback lets the daemon stop them too (e.g. the scheduler has made no progress), so
    systemd restarts a daemon that is alive but no longer working.
    """

    def __init__(
        self, notifier: Notifier, healthy: Callable[[], bool], interval_s: float | None = None
    ) -> None:
        self._notifier = notifier
        self._healthy = healthy
        self.interval_s = interval_s if interval_s is not None else notifier.watchdog_interval_s
        self._was_healthy = True

    def tick(self) -> bool:
        """One check: ping when healthy. Returns whether a ping was sent."""
        healthy = self._healthy()
        if healthy != self._was_healthy:
            (log.info if healthy else log.error)("watchdog_health", healthy=healthy)
            self._was_healthy = healthy
        return healthy and self._notifier.watchdog()

    async def run(self) -> None:
        """Ping until cancelled; returns at once when no watchdog is configured."""
        if not self.interval_s or not self._notifier.enabled:
            return
        while True:
            self.tick()
            await asyncio.sleep(self.interval_s)


# --- the pid file `chmd reload` uses to find the running daemon ------------------------------

PID_FILE_NAME = "chmd.pid"


def write_pid_file(path: Path, pid: int) -> None:
    """Write `pid` atomically (temp file + rename), so a reader never sees half a number."""
    atomic_write(path, f"{pid}\n".encode("ascii"))


def read_pid_file(path: Path) -> int | None:
    """The pid in `path`, or None when the file is missing or does not hold a pid."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def remove_pid_file(path: Path, pid: int) -> None:
    """Remove the pid file if it still names `pid` (a newer daemon's file is left alone)."""
    if read_pid_file(path) == pid:
        path.unlink(missing_ok=True)


def process_is_chmd(pid: int, proc: Path = Path("/proc")) -> bool:
    """True when `pid` runs `chmd run` — a stale pid file may name a reused pid."""
    try:
        argv = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(b"chmd" in arg for arg in argv) and b"run" in argv
