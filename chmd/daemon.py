"""The daemon as an object a test can run: `Daemon(path).run(stop)` and `request_reload()`.

Lifecycle:

    run(stop)        load the config (ConfigError if invalid: nothing starts), `apply` it,
                     log a one-line summary, then serve until `stop` is set; finally close
                     every stage within SHUTDOWN_TIMEOUT_S.
    request_reload() ask for a reload; requests arriving before or while one runs are
                     coalesced into one. A reload re-reads and re-validates every file; on
                     any problem the problems are logged and the running config is kept.
    apply(config)    hand a validated config to every stage together with the device diff
                     against the previous one (added / removed / changed / unchanged), so a
                     stage starts, stops or restarts per-device work only where needed.

The daemon owns no signals and no argv: `chmd.cli.run` maps SIGTERM/SIGINT to `stop`
and SIGHUP to `request_reload`. Stages (collection, storage, rules, alerts) are wired in
`_build_stages`; this skeleton has none yet, so it validates and reloads configuration
but does not poll — the summary line says so (`polling=False`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import structlog

from chmd import log as chmd_log
from chmd.config import LoadedConfig, load_config
from chmd.errors import ConfigError
from chmd.inventory.schema import Device

SHUTDOWN_TIMEOUT_S = 4.0  # the CLI promises exit within 5 s of SIGTERM

logger = structlog.get_logger("chmd.daemon")


@dataclass(frozen=True, slots=True)
class DeviceDiff:
    """How the inventory changed between two configs, by device name."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff_devices(old: Sequence[Device], new: Sequence[Device]) -> DeviceDiff:
    """Compare two inventories (pure). A device is `changed` when any setting differs."""
    before = {d.name: d for d in old}
    after = {d.name: d for d in new}
    return DeviceDiff(
        added=tuple(n for n in after if n not in before),
        removed=tuple(n for n in before if n not in after),
        changed=tuple(n for n in after if n in before and after[n] != before[n]),
        unchanged=tuple(n for n in after if n in before and after[n] == before[n]),
    )


class Stage(Protocol):
    """A part of the running daemon. `apply` runs once at start (with every device `added`)
    and after each successful reload, never concurrently; it must return promptly (start
    tasks, don't await them). `aclose` runs once, at shutdown, after the last `apply`."""

    async def apply(self, config: LoadedConfig, diff: DeviceDiff) -> None: ...

    async def aclose(self) -> None: ...


Loader = Callable[[Path], LoadedConfig]


class Daemon:
    """Runs chmd from a config file until told to stop. See the module docstring."""

    def __init__(
        self,
        config_path: Path,
        *,
        config: LoadedConfig | None = None,
        loader: Loader = load_config,
        stages: Sequence[Stage] = (),
    ) -> None:
        self.config_path = config_path
        self._config = config  # already loaded by the caller (the CLI checks before starting)
        self._loader = loader
        self._stages: list[Stage] = list(stages)
        self._reload_wanted = asyncio.Event()
        self.ready = asyncio.Event()  # set once the first config is applied
        self.reload_attempts = 0  # reloads tried, for tests and metrics
        self.last_reload_ok: bool | None = None  # None until the first reload
        self._reload_finished_cond = asyncio.Condition()

    @property
    def config(self) -> LoadedConfig | None:
        """The config now running (None before `run` loaded it)."""
        return self._config

    def request_reload(self) -> None:
        """Ask for a reload (from the event loop's thread, e.g. a signal handler)."""
        self._reload_wanted.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Load, apply, serve until `stop` is set, close. Raises ConfigError on a bad config."""
        config = self._config
        if config is None:
            config = await asyncio.to_thread(self._loader, self.config_path)
        self._config = None  # `apply` diffs against the previous config: none yet
        self._stages.extend(self._build_stages(config))
        try:
            await self.apply(config)
            self._log_started(config)
            self.ready.set()
            reloader = asyncio.create_task(self._reload_loop(), name="chmd-reload")
            try:
                await stop.wait()
            finally:
                reloader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reloader
        finally:
            await self._shutdown()
        logger.info("stopped")

    async def apply(self, config: LoadedConfig) -> None:
        """Hand `config` to every stage with the device diff against the running config."""
        previous = self._config
        diff = diff_devices(previous.devices if previous else (), config.devices)
        for stage in self._stages:
            await stage.apply(config, diff)
        if previous is not None and previous.config.log != config.config.log:
            chmd_log.configure(config.config.log.level, config.config.log.format)
        self._config = config

    def _build_stages(self, config: LoadedConfig) -> list[Stage]:
        """The stages for this config. None yet: collection, storage, rules and alerts are
        added here as they are built (each a `Stage`)."""
        return []

    def _log_started(self, config: LoadedConfig) -> None:
        for warning in config.warnings:
            logger.warning("config_warning", problem=warning)
        devices = config.devices
        logger.info(
            "started",
            config=str(config.path),
            devices=len(devices),
            enabled=sum(1 for d in devices if d.enabled),
            rule_files=len(config.rule_files),
            rules=len(config.rules.rules),
            polling=bool(self._stages),
        )

    async def _reload_loop(self) -> None:
        while True:
            await self._reload_wanted.wait()
            self._reload_wanted.clear()  # requests from now on mean one more reload
            try:
                await self._reload()
            except Exception:  # a reload bug must not end reloading; the old config stays
                logger.exception("reload_crashed", kept="previous configuration")
                await self._reload_finished(ok=False)

    async def _reload(self) -> None:
        logger.info("reload_started", config=str(self.config_path))
        try:
            config = await asyncio.to_thread(self._loader, self.config_path)
        except ConfigError as exc:
            problems = exc.problems
        else:
            problems = []
        if problems:
            logger.error(
                "reload_failed",
                config=str(self.config_path),
                errors=len(problems),
                problems=problems,
                kept="previous configuration",
            )
            await self._reload_finished(ok=False)
            return
        previous = self._config
        diff = diff_devices(previous.devices if previous else (), config.devices)
        await self.apply(config)
        for warning in config.warnings:
            logger.warning("config_warning", problem=warning)
        logger.info(
            "reloaded",
            devices=len(config.devices),
            added=len(diff.added),
            removed=len(diff.removed),
            changed=len(diff.changed),
            rule_files=len(config.rule_files),
        )
        await self._reload_finished(ok=True)

    async def _reload_finished(self, ok: bool) -> None:
        self.reload_attempts += 1
        self.last_reload_ok = ok
        async with self._reload_finished_cond:
            self._reload_finished_cond.notify_all()

    async def wait_reloads(self, count: int) -> None:
        """Return once `count` reloads have been attempted (successful or not)."""
        async with self._reload_finished_cond:
            await self._reload_finished_cond.wait_for(lambda: self.reload_attempts >= count)

    async def _shutdown(self) -> None:
        """Close stages in reverse order, all within SHUTDOWN_TIMEOUT_S."""
        try:
            async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
                for stage in reversed(self._stages):
                    await stage.aclose()
        except TimeoutError:
            logger.error("shutdown_timeout", timeout_s=SHUTDOWN_TIMEOUT_S)  # noqa: TRY400 (no traceback: the timeout is the news)
