"""The collector contract: what the scheduler, the daemon and `chmd poll` rely on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from chmd.inventory.schema import Device
from chmd.model import PollResult


class Collector(Protocol):
    """Polls devices of one access kind (`snmp`, `ssh`).

    `poll` runs at most once at a time per device (the scheduler guarantees it), is
    bounded by `Device.timeout`, never raises for a device's failure (failed steps go into
    `PollResult.errors`) and lets `CancelledError` through. `forget(name)` drops the state of a
    device removed from the inventory. `aclose` runs once, after the last poll.
    """

    async def poll(self, device: Device) -> PollResult: ...

    def forget(self, name: str) -> None: ...

    async def aclose(self) -> None: ...


CollectorFactory = Callable[[Any], Collector]
"""Builds a collector from the loaded configuration (`chmd.config.LoadedConfig`, or None for
an ad-hoc `chmd poll` without a config file)."""
