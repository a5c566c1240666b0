"""Scheduler behaviour with in-process collectors (real asyncio timing, deadlines not sleeps)."""

from __future__ import annotations

import asyncio

from helpers import wait_until

from chmd.collect.scheduler import Scheduler, phase_s
from chmd.inventory.schema import Device
from chmd.model import PollResult, Sample


def dev(name: str, interval: float = 0.05, timeout: float = 0.2) -> Device:
    return Device.model_validate(
        {
            "name": name,
            "host": "192.0.2.1",
            "interval": interval,
            "timeout": timeout,
            "snmp": {"community": "c"},
        }
    )


class FakeCollector:
    def __init__(self, slow: set[str] | None = None, dead: set[str] | None = None) -> None:
        self.slow = slow or set()
        self.dead = dead or set()
        self.forgotten: list[str] = []

    async def poll(self, device: Device) -> PollResult:
        if device.name in self.slow:
            await asyncio.sleep(10)
        if device.name in self.dead:
            raise RuntimeError("boom")
        sample = Sample("system", {"device": device.name}, {"uptime": 1.0}, 1)
        return PollResult(device.name, "snmp", (sample,), 0.0)

    def forget(self, name: str) -> None:
        self.forgotten.append(name)

    async def aclose(self) -> None:
        return None


def test_phase_is_deterministic_and_within_interval() -> None:
    """The same name always gets the same offset, inside [0, interval)."""
    assert phase_s("core-sw1", 60) == phase_s("core-sw1", 60)
    assert 0 <= phase_s("core-sw1", 60) < 60


async def test_slow_and_broken_devices_do_not_delay_others() -> None:
    """A device stuck past its deadline and one whose poll raises don't stop a healthy one."""
    results: list[PollResult] = []
    collector = FakeCollector(slow={"slow"}, dead={"dead"})
    scheduler = Scheduler({"snmp": collector}, results.append)
    scheduler.update([dev("ok"), dev("slow"), dev("dead")])
    stop = asyncio.Event()
    runner = asyncio.create_task(scheduler.run(stop))
    await wait_until(lambda: sum(r.device == "ok" for r in results) >= 5)
    await wait_until(lambda: any(r.device == "slow" for r in results))
    stop.set()
    await runner
    slow = next(r for r in results if r.device == "slow")
    assert slow.errors[0].reason == "deadline"
    dead = next(r for r in results if r.device == "dead")
    assert dead.errors[0].reason == "internal"


async def test_overrun_is_skipped_and_counted() -> None:
    """A poll longer than the interval skips the missed slots and counts them."""
    results: list[PollResult] = []

    class Slowish(FakeCollector):
        async def poll(self, device: Device) -> PollResult:
            await asyncio.sleep(0.12)
            return await super().poll(device)

    scheduler = Scheduler({"snmp": Slowish()}, results.append)
    scheduler.update([dev("a", interval=0.03, timeout=1)])
    stop = asyncio.Event()
    runner = asyncio.create_task(scheduler.run(stop))
    await wait_until(lambda: len(results) >= 3)
    stop.set()
    await runner
    assert scheduler.overruns[("a", "snmp")] >= 2


async def test_update_removes_and_keeps_by_diff() -> None:
    """update() stops removed devices (forgetting their state) and keeps unchanged ones running."""
    results: list[PollResult] = []
    collector = FakeCollector()
    scheduler = Scheduler({"snmp": collector}, results.append)
    scheduler.update([dev("a"), dev("b")])
    stop = asyncio.Event()
    runner = asyncio.create_task(scheduler.run(stop))
    await wait_until(lambda: {r.device for r in results} == {"a", "b"})
    task_a = scheduler._tasks[("a", "snmp")]
    scheduler.update([dev("a")])
    assert collector.forgotten == ["b"]
    assert scheduler._tasks[("a", "snmp")] is task_a
    results.clear()
    await wait_until(lambda: len(results) >= 4)
    assert {r.device for r in results} == {"a"}
    stop.set()
    await runner


async def test_down_and_recovery_are_logged_once_each() -> None:
    """A device failing several polls logs device_down once, then device_recovered once."""
    from structlog.testing import capture_logs

    results: list[PollResult] = []
    collector = FakeCollector(dead={"flaky"})
    scheduler = Scheduler({"snmp": collector}, results.append)
    scheduler.update([dev("flaky", interval=0.02)])
    stop = asyncio.Event()
    with capture_logs() as logs:
        runner = asyncio.create_task(scheduler.run(stop))
        await wait_until(lambda: len(results) >= 4)
        collector.dead.clear()
        await wait_until(lambda: len(results) >= 8 and results[-1].ok)
        stop.set()
        await runner
    events = [e["event"] for e in logs if e["event"].startswith("device_")]
    assert events == ["device_down", "device_recovered"]
