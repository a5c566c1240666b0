"""SshCollector: runs a platform's due `show` commands on one reused connection per device.

Lifecycle (the Collector protocol): the scheduler calls `poll(device)` at most once at a
time per device (a per-device lock makes that hold for any caller) and may cancel it at the
device's timeout; a fleet-wide semaphore caps devices polled at once. Every failure becomes
a CollectError in the PollResult naming device and command; the other commands and devices
carry on. `aclose()` runs once, after the last poll, and closes every connection.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chmd.collect.snmp.counters import RateTracker
from chmd.collect.ssh import syslog
from chmd.collect.ssh.client import ClientOptions, DeviceSession, open_session
from chmd.collect.ssh.commandset import (
    Command,
    CommandSet,
    builtin_command_set,
    load_command_set_file,
)
from chmd.collect.ssh.errors import Disconnected
from chmd.collect.ssh.metrics import SshMetrics
from chmd.collect.ssh.parsers.parse import parse_records
from chmd.collect.ssh.parsers.samples import base_tags, to_samples
from chmd.collect.ssh.rates import with_rates
from chmd.collect.ssh.settings import SshCollectorSettings
from chmd.errors import AuthError, CollectError, CollectTimeout, ConfigError
from chmd.inventory.schema import Device
from chmd.model import CollectError as CollectFailure
from chmd.model import PollResult, Sample

COLLECTOR = "ssh"
_FATAL = (CollectTimeout, Disconnected, AuthError)  # the connection is unusable afterwards


def is_due(
    last_run_s: float | None, interval_s: float | None, poll_every_s: float, now_s: float
) -> bool:
    """Whether a command with `interval_s` (None: every poll) runs at this poll.

    Half a poll interval of slack, so a 5m command on a 60s device runs every 5th poll
    even when polls drift by a little.
    """
    if interval_s is None or last_run_s is None:
        return True
    return now_s - last_run_s + poll_every_s / 2 >= interval_s


class SshCollector:
    """Collector for `ssh` devices (see module docstring for the lifecycle)."""

    def __init__(
        self,
        settings: SshCollectorSettings | None = None,
        *,
        state_dir: Path,
        metrics: SshMetrics | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings or SshCollectorSettings()
        tofu = self._settings.tofu_known_hosts or str(state_dir / "ssh_known_hosts.tofu")
        self._options = ClientOptions(
            known_hosts=Path(self._settings.known_hosts),
            tofu_known_hosts=Path(tofu),
            keepalive_interval_s=self._settings.keepalive_interval,
            keepalive_count_max=self._settings.keepalive_count_max,
        )
        self._metrics = metrics
        self._clock_ns = clock_ns
        self._monotonic = monotonic
        self._sessions_sem = asyncio.Semaphore(self._settings.max_sessions)
        self._locks: dict[str, asyncio.Lock] = {}
        self._sessions: dict[str, DeviceSession] = {}
        self._command_sets: dict[str, CommandSet] = {}
        self._last_run: dict[tuple[str, str], float] = {}
        self._log_seen: dict[tuple[str, str], frozenset[syslog.Fingerprint]] = {}
        self._trackers: dict[str, RateTracker] = {}  # interface counter baselines per device

    def rate_stats(self, name: str) -> Counter[str]:
        """Why rates of a device's interface counters were withheld (reset, over_speed)."""
        tracker = self._trackers.get(name)
        return tracker.stats if tracker is not None else Counter()

    def command_set(self, platform: str) -> CommandSet:
        """The compiled command set for a platform (an own file from settings, else built in)."""
        if platform not in self._command_sets:
            own = self._settings.command_sets.get(platform)
            self._command_sets[platform] = (
                load_command_set_file(Path(own)) if own else builtin_command_set(platform)
            )
        return self._command_sets[platform]

    async def poll(self, device: Device, *, run_all: bool = False) -> PollResult:
        """Run the device's due commands once; `run_all` ignores intervals (for `chmd poll`)."""
        started = self._monotonic()
        lock = self._locks.setdefault(device.name, asyncio.Lock())
        async with self._sessions_sem, lock:
            try:
                samples, errors, lines = await self._poll_locked(device, run_all)
            except asyncio.CancelledError:  # cut mid-command: the session's state is unknown
                self._drop_session(device.name)
                raise
        return PollResult(
            device.name,
            COLLECTOR,
            tuple(samples),
            self._monotonic() - started,
            tuple(errors),
            lines,
        )

    async def _poll_locked(
        self, device: Device, run_all: bool
    ) -> tuple[list[Sample], list[CollectFailure], int]:
        if device.ssh is None:
            failure = CollectFailure(
                device.name, "connect", "config", f"{device.name}: no ssh access"
            )
            return [], [failure], 0
        try:
            cmdset = self.command_set(device.ssh.platform)
        except ConfigError as exc:
            message = f"{device.name}: command set: {'; '.join(exc.problems)}"
            return [], [CollectFailure(device.name, "command set", "config", message)], 0
        now = self._monotonic()
        deadline = now + device.timeout
        due = [
            c
            for c in cmdset.commands
            if c.enabled
            and (
                run_all
                or is_due(
                    self._last_run.get((device.name, c.command)), c.interval_s, device.interval, now
                )
            )
        ]
        try:
            session = await self._session(device, cmdset)
        except CollectError as exc:
            return [], [_failure(device.name, "connect", exc)], 0
        samples: list[Sample] = []
        errors: list[CollectFailure] = []
        lines = 0
        tags = base_tags(device.name, device.host, device.tags)
        for command in due:
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                message = (
                    f"{device.name}: poll deadline ({device.timeout:g}s) reached "
                    f"before {command.command!r}"
                )
                errors.append(CollectFailure(device.name, command.command, "timeout", message))
                break
            try:
                text = await self._run(session, command, min(device.ssh.command_timeout, remaining))
                lines += text.count("\n")
                samples.extend(self._samples(device.name, command, text, tags))
                self._last_run[(device.name, command.command)] = now
            except CollectError as exc:
                errors.append(_failure(device.name, command.command, exc))
                if isinstance(exc, _FATAL):
                    self._drop_session(device.name)
                    break
        return samples, errors, lines

    async def _session(self, device: Device, cmdset: CommandSet) -> DeviceSession:
        session = self._sessions.get(device.name)
        if session is not None and not session.closed:
            return session
        session = await open_session(
            device,
            self._options,
            interactive=cmdset.session == "interactive",
            pagination=cmdset.pagination,
            prompt=cmdset.prompt,
        )
        if self._metrics is not None:
            self._metrics.connects.labels(device.name).inc()
        self._sessions[device.name] = session
        return session

    async def _run(self, session: DeviceSession, command: Command, timeout_s: float) -> str:
        started = self._monotonic()
        try:
            text = await session.run(command.command, timeout_s)
        except CollectError:
            self._count_command(session.device.name, "error")
            raise
        if self._metrics is not None:
            self._metrics.command_seconds.observe(self._monotonic() - started)
        return text

    def _samples(
        self, device: str, command: Command, text: str, tags: dict[str, str]
    ) -> list[Sample]:
        try:
            records: list[Any] = parse_records(device, command, text)
        except CollectError:
            self._count_command(device, "error")
            raise
        self._count_command(device, "ok")
        if command.kind == "log":
            key = (device, command.command)
            records, self._log_seen[key] = syslog.new_entries(records, self._log_seen.get(key))
        samples = to_samples(command, records, tags, self._clock_ns())
        tracker = self._trackers.setdefault(device, RateTracker())
        return with_rates(samples, tracker, self._monotonic())

    def _count_command(self, device: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.commands.labels(device, outcome).inc()

    def _drop_session(self, name: str) -> None:
        session = self._sessions.pop(name, None)
        if session is not None:
            session.close()

    def forget(self, name: str) -> None:
        """Drop everything held for a device removed from the inventory (its connection too)."""
        self._drop_session(name)
        self._locks.pop(name, None)
        self._trackers.pop(name, None)
        for store in (self._last_run, self._log_seen):
            for key in [k for k in store if k[0] == name]:
                del store[key]

    async def aclose(self) -> None:
        """Close every connection (once, after the last poll)."""
        for name in list(self._sessions):
            self._drop_session(name)


def _failure(device: str, step: str, exc: CollectError) -> CollectFailure:
    return CollectFailure(device, exc.step or step, exc.reason, str(exc))
