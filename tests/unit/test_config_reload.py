"""The Daemon skeleton's config lifecycle: start, coalesced reloads, bad reloads, stop.

The daemon runs in the test's event loop with a fake loader (no files, no sockets);
waits are on conditions with deadlines, never on timing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from chmd import native
from chmd.config import ChmdConfig, LoadedConfig
from chmd.daemon import Daemon, DeviceDiff, diff_devices
from chmd.errors import ConfigError
from chmd.inventory.load import Inventory
from chmd.inventory.schema import Device

DEADLINE_S = 10.0


def loaded(*devices: Device) -> LoadedConfig:
    return LoadedConfig(Path("chmd.yaml"), ChmdConfig(), Inventory(tuple(devices)))


def device(name: str, host: str = "192.0.2.1") -> Device:
    return Device(name=name, host=host)


async def reloads(daemon: Daemon, count: int) -> None:
    """Wait until `count` reloads were attempted, failing after DEADLINE_S."""
    async with asyncio.timeout(DEADLINE_S):
        await daemon.wait_reloads(count)


class RecordingStage:
    """A Stage that records what it was given."""

    def __init__(self) -> None:
        self.applied: list[tuple[LoadedConfig, DeviceDiff]] = []
        self.closed = False

    async def apply(self, config: LoadedConfig, diff: DeviceDiff) -> None:
        self.applied.append((config, diff))

    async def aclose(self) -> None:
        self.closed = True


class Loader:
    """Returns (or raises) the next queued result; counts calls."""

    def __init__(self, *results: LoadedConfig | ConfigError) -> None:
        self.results = list(results)
        self.calls = 0

    def __call__(self, path: Path) -> LoadedConfig:
        self.calls += 1
        result = self.results.pop(0)
        if isinstance(result, ConfigError):
            raise result
        return result


@pytest.fixture
def stage() -> RecordingStage:
    return RecordingStage()


async def start(daemon: Daemon) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    async with asyncio.timeout(DEADLINE_S):
        await daemon.ready.wait()
    return stop, task


async def test_start_applies_every_device_as_added(stage: RecordingStage) -> None:
    """At start each stage gets the config with every device in `added`."""
    first = loaded(device("a"), device("b"))
    daemon = Daemon(Path("chmd.yaml"), config=first, stages=[stage])
    stop, task = await start(daemon)
    stop.set()
    await task
    assert stage.applied == [(first, DeviceDiff(added=("a", "b")))]
    assert stage.closed


async def test_reload_requests_coalesce(stage: RecordingStage) -> None:
    """Three reload requests made before the daemon gets to them cause one reload."""
    loader = Loader(loaded(device("a")), loaded(device("a")))
    daemon = Daemon(Path("chmd.yaml"), config=loaded(device("a")), loader=loader, stages=[stage])
    stop, task = await start(daemon)
    for _ in range(3):
        daemon.request_reload()
    await reloads(daemon, 1)
    stop.set()
    await task
    assert loader.calls == 1
    assert daemon.reload_attempts == 1


async def test_reload_applies_the_device_diff(stage: RecordingStage) -> None:
    """A good reload hands stages the added, removed and changed devices."""
    new = loaded(device("a", "192.0.2.9"), device("c"))
    daemon = Daemon(
        Path("chmd.yaml"),
        config=loaded(device("a"), device("b")),
        loader=Loader(new),
        stages=[stage],
    )
    stop, task = await start(daemon)
    with capture_logs() as logs:
        daemon.request_reload()
        await reloads(daemon, 1)
    stop.set()
    await task
    assert stage.applied[-1] == (new, DeviceDiff(added=("c",), removed=("b",), changed=("a",)))
    assert daemon.last_reload_ok is True
    assert {
        "event": "reloaded",
        "log_level": "info",
        "devices": 2,
        "added": 1,
        "removed": 1,
        "changed": 1,
        "rule_files": 0,
    } in logs


async def test_bad_reload_keeps_running_config(stage: RecordingStage) -> None:
    """A reload that fails validation logs every problem and keeps the old config."""
    old = loaded(device("a"))
    problems = ["devices.yaml:3:11: devices.a.host: bad host address 'x y' (hint)"]
    daemon = Daemon(
        Path("chmd.yaml"), config=old, loader=Loader(ConfigError(problems)), stages=[stage]
    )
    stop, task = await start(daemon)
    with capture_logs() as logs:
        daemon.request_reload()
        await reloads(daemon, 1)
    assert daemon.config is old
    assert daemon.last_reload_ok is False
    assert not task.done()
    stop.set()
    await task
    assert len(stage.applied) == 1
    failed = [e for e in logs if e["event"] == "reload_failed"]
    assert failed == [
        {
            "event": "reload_failed",
            "log_level": "error",
            "config": "chmd.yaml",
            "errors": 1,
            "problems": problems,
            "kept": "previous configuration",
        }
    ]


async def test_invalid_config_at_start_raises() -> None:
    """Without a preloaded config, `run` raises the loader's ConfigError: nothing starts."""
    daemon = Daemon(Path("chmd.yaml"), loader=Loader(ConfigError(["x: bad"])))
    with pytest.raises(ConfigError):
        await daemon.run(asyncio.Event())
    assert not daemon.ready.is_set()


async def test_summary_says_it_does_not_poll() -> None:
    """The start line counts devices and rule files, states that nothing polls yet, and says
    whether the hot path runs compiled."""
    daemon = Daemon(Path("chmd.yaml"), config=loaded(device("a"), device("b")))
    with capture_logs() as logs:
        stop, task = await start(daemon)
        stop.set()
        await task
    started = [e for e in logs if e["event"] == "started"]
    assert started == [
        {
            "event": "started",
            "log_level": "info",
            "config": "chmd.yaml",
            "devices": 2,
            "enabled": 2,
            "rule_files": 0,
            "rules": 0,
            "polling": False,
            "native": native.guard().reason,
        }
    ]


def test_diff_devices_is_by_name_and_content() -> None:
    """diff_devices compares by name; a device whose settings differ is `changed`."""
    old = [device("a"), device("b"), device("c")]
    new = [device("a"), device("b", "192.0.2.2"), device("d")]
    assert diff_devices(old, new) == DeviceDiff(
        added=("d",), removed=("c",), changed=("b",), unchanged=("a",)
    )
