"""The Writer's periodic rollup snapshot: taken in pieces between other work on the event loop,
and safe against a kill -9 at any point (no server: batches go to the spool; no sockets)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from helpers import rollup_writer

from chmd.model import Sample
from chmd.store.rollupfiles import ROLLUP_CLOSED_LOG, ROLLUP_STATE

MIN = 60 * 10**9


def cpu(t_min: int, value: float, device: str = "a") -> Sample:
    return Sample("cpu", {"device": device}, {"load": value, "temp": value / 2}, t_min * MIN)


def many(series: int, t_min: int) -> list[Sample]:
    return [cpu(t_min, float(i), f"d{i}") for i in range(series)]


async def test_loop_runs_while_a_big_snapshot_is_taken(tmp_path: Path) -> None:
    """While the snapshot of 3,000 open windows is taken, other tasks on the loop keep running
    (a ticker advances between its pieces), and the file holds every window."""
    w = rollup_writer(tmp_path, 100 * MIN)
    w.submit(many(3000, 0))
    ticks = 0
    running = True

    async def ticker() -> None:
        nonlocal ticks
        while running:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    await w.snapshot_rollups()
    during = ticks - before
    running = False
    await task
    assert during >= 5  # the loop went round between the pieces
    state = json.loads((tmp_path / ROLLUP_STATE).read_text())
    assert len(state["windows"]) == 3000
    w.spool.close()


async def test_window_closed_during_snapshot_is_not_rewritten_after_crash(
    tmp_path: Path,
) -> None:
    """A window that closes (and is spooled) while a snapshot is being taken, which still
    holds it as open, is not written again after a kill -9 that follows the snapshot."""
    first = rollup_writer(tmp_path, 100 * MIN)
    first.submit([cpu(0, 1.0), *many(2000, 1)])
    snapshot = asyncio.create_task(first.snapshot_rollups())
    await asyncio.sleep(0)  # the snapshot has started: window [0, 5m) of "a" is in it, open
    first.submit([cpu(6, 7.0)])  # closes that window
    first.flush()  # its batch goes to the spool, with its closed mark
    await snapshot
    pending = first.spool.pending_points()
    # kill -9: no aclose
    second = rollup_writer(tmp_path, 100 * MIN)
    assert second.spool.pending_points() == pending
    second.tick()  # every open window is long over: closed now
    second.flush()
    rollup_points = second.spool.pending_points() - pending
    assert rollup_points == 2000 + 1  # the 2,000 others and [5m, 10m) of "a"; not [0, 5m)
    second.spool.close()
    first.spool.close()


async def test_crash_in_the_middle_of_a_snapshot_loses_no_mark(tmp_path: Path) -> None:
    """A kill -9 while a snapshot is half done (its closed-window log rotated, the file not
    yet written) keeps the marks of the windows written before it and during it."""
    first = rollup_writer(tmp_path, 100 * MIN)
    first.submit([cpu(0, 1.0), cpu(0, 1.0, "b")])
    await first.snapshot_rollups()  # holds both windows open
    first.submit([cpu(5, 2.0)])  # closes "a" [0, 5m): marked in the closed-window log
    first.flush()
    snapshot = asyncio.create_task(first.snapshot_rollups())
    await asyncio.sleep(0)  # started: the log is rotated
    assert not (tmp_path / ROLLUP_CLOSED_LOG).exists()
    first.submit([cpu(5, 3.0, "b")])  # closes "b" [0, 5m): marked in the new log
    first.flush()
    snapshot.cancel()  # kill -9 before the snapshot is written
    pending = first.spool.pending_points()
    second = rollup_writer(tmp_path, 100 * MIN)
    second.submit([cpu(1, 9.0), cpu(1, 9.0, "b")])  # late for the windows already written
    second.tick()
    assert second.metrics.rollup_late._value.get() == 2
    second.flush()
    # 2 raw points, and the [5m, 10m) windows of "a" and "b" were lost with the crash (they
    # were open since the last snapshot): no rollup of [0, 5m) again
    assert second.spool.pending_points() - pending == 2
    second.spool.close()
    first.spool.close()
