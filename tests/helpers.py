"""Helpers shared by the test modules (not fixtures: plain functions, imported as `helpers`).

The real-server classes live in `tests/harness/`; this module holds the small loops the
tests of several stages used to write for themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from click.testing import CliRunner, Result
from harness.aio import run_sync
from prometheus_client import CollectorRegistry

from chmd.cli import main
from chmd.collect.base import Collector
from chmd.inventory.schema import Device
from chmd.model import PollResult
from chmd.store.metrics import StoreMetrics
from chmd.store.settings import StorageSettings
from chmd.store.writer import Writer

DEADLINE_S = 30.0  # generous: the CI machine is a loaded 2-core box


async def wait_until(
    check: Callable[[], bool],
    what: str = "condition",
    timeout_s: float = DEADLINE_S,
    step_s: float = 0.05,
) -> None:
    """Re-check `check` every `step_s` until it holds; fail naming `what` after `timeout_s`.

    For conditions filled from other threads or tasks (sinks, schedulers): wait with a
    deadline, never assert a timing."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():  # the condition fills from other threads/tasks
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout_s:g}s")
        await asyncio.sleep(step_s)


def poll_once(collector: Collector, device: Device) -> PollResult:
    """One poll and the collector's `aclose`, on a private event loop (a collector's
    sockets follow the loop they were made on)."""

    async def once() -> PollResult:
        try:
            return await collector.poll(device)
        finally:
            await collector.aclose()

    return run_sync(once())


def invoke_cli(args: Sequence[str], env: Mapping[str, str] | None = None) -> Result:
    """Run `chmd ARGS` in-process on a worker thread.

    A verb that calls `asyncio.run()` would otherwise set this thread's event loop to None,
    dropping pytest-asyncio's loop unclosed (a ResourceWarning that fails a later test)."""
    runner = CliRunner(env=dict(env) if env else None)
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(runner.invoke, main, list(args), catch_exceptions=False)
        return job.result(timeout=120)


def rollup_writer(spool_dir: Path, now_ns: int) -> Writer:
    """A Writer with a 5-minute rollup tier, its state in `spool_dir`, its clock at `now_ns`
    (never started: for tests of its rollup and state files without a server)."""
    settings = StorageSettings.model_validate(
        {
            "spool_dir": str(spool_dir),
            "retention": {"rollups": [{"name": "5m", "window": "5m", "keep": "1d"}]},
        }
    )
    return Writer(settings, StoreMetrics(CollectorRegistry()), clock_ns=lambda: now_ns)
