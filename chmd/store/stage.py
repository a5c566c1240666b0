"""The storage stage as the daemon runs it: owns one `Writer`, rebuilt when `storage:` changes.

The daemon creates it with the store metrics, lists it among its stages, and hands every
`PollResult.samples` to `submit` (from the scheduler's callback, on the event loop).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import structlog

from chmd.model import Sample
from chmd.store.metrics import StoreMetrics
from chmd.store.settings import StorageSettings
from chmd.store.writer import Writer

if TYPE_CHECKING:  # the daemon imports the stages, never the other way round
    from chmd.config import LoadedConfig

log = structlog.get_logger("chmd.store")


class StoreStage:
    """`apply` (at start and after each reload) starts the Writer, or restarts it when the
    storage settings changed (the spool carries what was not written yet); `aclose` flushes
    or spools. `submit` never blocks; samples submitted before the first `apply` are kept
    in memory and written once it ran."""

    def __init__(self, metrics: StoreMetrics) -> None:
        self.metrics = metrics
        self.writer: Writer | None = None
        self._settings: StorageSettings | None = None
        self._early: list[Sample] = []

    async def apply(self, config: LoadedConfig, diff: object) -> None:
        settings = config.config.storage
        if self.writer is not None and settings == self._settings:
            return
        if self.writer is not None:
            log.info("storage_settings_changed", action="restarting the writer")
            await self.writer.aclose()
        self.writer = Writer(settings, self.metrics)
        self._settings = settings
        await self.writer.start()
        if self._early:
            self.writer.submit(self._early)
            self._early = []

    def submit(self, samples: Iterable[Sample]) -> None:
        if self.writer is None:
            self._early.extend(samples)
        else:
            self.writer.submit(samples)

    async def aclose(self) -> None:
        if self.writer is not None:
            await self.writer.aclose()
            self.writer = None
