"""The scheduler: every device on its own interval, in its own task, phases spread.

* Phase: a device's first poll is at `crc32(name) / 2**32 * interval` after start, so a
  restart spreads the same way every time (deterministic) and devices don't poll in bursts.
* Overruns: a poll that ends past its next slot skips the missed slots (counted), never
  piles up. Each poll is bounded by `Device.timeout` in the collector, and again here.
* Isolation: one task per (device, collector); a slow or dead device delays nobody.
* Down devices: after a failed poll the device is polled again at its next slot; the SNMP
  collector's first step is one GET of the system group, so a dead device costs one
  request (plus retries) per interval until it answers. Down/up are logged once each.
* `update(devices)` diffs: new devices start, removed ones stop (their collector state is
  forgotten), changed ones restart; unchanged ones keep running and keep counter baselines.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import structlog

from chmd.collect.base import Collector
from chmd.collect.metrics import CollectMetrics
from chmd.inventory.schema import Device
from chmd.model import CollectError, PollResult

log = structlog.get_logger("chmd.collect.scheduler")
Key = tuple[str, str]  # (device name, collector name)
ResultCallback = Callable[[PollResult], Awaitable[None] | None]


def phase_s(name: str, interval_s: float) -> float:
    """The deterministic offset of a device's polls within its interval."""
    return zlib.crc32(name.encode()) / 2**32 * interval_s


def collectors_for(device: Device) -> list[str]:
    return [name for name, access in (("snmp", device.snmp), ("ssh", device.ssh)) if access]


class Scheduler:
    """Runs `collectors[...]` on each enabled device; hands every PollResult to `on_result`."""

    def __init__(
        self,
        collectors: Mapping[str, Collector],
        on_result: ResultCallback,
        *,
        metrics: CollectMetrics | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        grace_s: float = 1.0,
    ) -> None:
        self._collectors = collectors
        self._on_result = on_result
        self._metrics = metrics
        self._monotonic = monotonic
        self._wall = wall
        self._grace = grace_s
        self._devices: dict[Key, Device] = {}
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._running = False
        self._start = 0.0
        self.overruns: dict[Key, int] = {}

    def update(self, devices: Iterable[Device]) -> None:
        """Apply a new inventory by diff (callable before or during `run`)."""
        wanted: dict[Key, Device] = {}
        for device in devices:
            if device.enabled:
                for name in collectors_for(device):
                    if name in self._collectors:
                        wanted[(device.name, name)] = device
        for key in [k for k in self._devices if k not in wanted]:
            self._stop(key)
            self._collectors[key[1]].forget(key[0])
            del self._devices[key]
        for key, device in wanted.items():
            if self._devices.get(key) != device:
                self._stop(key)
                self._devices[key] = device
                if self._running:
                    self._spawn(key)

    def _stop(self, key: Key) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()

    def _spawn(self, key: Key) -> None:
        self._tasks[key] = asyncio.create_task(self._loop(key), name=f"poll {key[1]} {key[0]}")

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; then cancel every poll and return."""
        self._running = True
        self._start = self._monotonic()
        for key in self._devices:
            self._spawn(key)
        try:
            await stop.wait()
        finally:
            self._running = False
            tasks = list(self._tasks.values())
            self._tasks.clear()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self, key: Key) -> None:
        device = self._devices[key]
        collector = self._collectors[key[1]]
        interval = max(device.interval, 0.001)
        next_at = self._start + phase_s(device.name, interval)
        while next_at < self._monotonic() - interval:  # restarted mid-run: next slot ahead
            next_at += interval
        down_since: float | None = None
        while True:
            delay = next_at - self._monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            behind = self._monotonic() - next_at
            if behind >= interval:  # overran: skip the missed slots, and count them
                missed = int(behind // interval)
                next_at += missed * interval
                self.overruns[key] = self.overruns.get(key, 0) + missed
                if self._metrics:
                    self._metrics.overruns.labels(key[1], key[0]).inc(missed)
            result = await self._poll_once(collector, device, key)
            down_since = self._track_state(key, result, down_since)
            await self._deliver(result)
            next_at += interval

    async def _poll_once(self, collector: Collector, device: Device, key: Key) -> PollResult:
        started = self._monotonic()
        try:
            async with asyncio.timeout(device.timeout + self._grace):
                return await collector.poll(device)
        except TimeoutError:
            reason, message = "deadline", f"{device.name}: poll exceeded {device.timeout:g}s"
        except Exception as exc:  # noqa: BLE001 - the per-device boundary: a bug stays one device's
            reason, message = "internal", f"{device.name}: {type(exc).__name__}: {exc}"
        error = CollectError(device.name, "poll", reason, message)
        return PollResult(device.name, key[1], (), self._monotonic() - started, (error,))

    def _track_state(self, key: Key, result: PollResult, down_since: float | None) -> float | None:
        now = self._monotonic()
        if not result.ok and down_since is None:
            reason = result.errors[0].reason if result.errors else "no_data"
            log.warning("device_down", device=key[0], collector=key[1], reason=reason)
            return now
        if result.ok and down_since is not None:
            log.info(
                "device_recovered",
                device=key[0],
                collector=key[1],
                down_for_s=round(now - down_since, 1),
            )
            return None
        return down_since

    async def _deliver(self, result: PollResult) -> None:
        if self._metrics:
            self._metrics.observe(result, self._wall())
        try:
            outcome: Any = self._on_result(result)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            log.exception("result_callback_failed", device=result.device)
