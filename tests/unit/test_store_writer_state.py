"""The Writer's rollup state across a crash (no server: batches go to the spool; no sockets)."""

from __future__ import annotations

from pathlib import Path

from helpers import rollup_writer

from chmd.model import Sample
from chmd.store.rollupfiles import ROLLUP_CLOSED_LOG

MIN = 60 * 10**9


def cpu(t_min: int, value: float) -> Sample:
    return Sample("cpu", {"device": "a"}, {"load": value}, t_min * MIN)


def test_window_written_before_a_crash_is_not_written_again(tmp_path: Path) -> None:
    """A window closed and spooled after the last snapshot is remembered through the closed
    log: after a kill -9 (no aclose), the restarted Writer neither rewrites nor reopens it."""
    first = rollup_writer(tmp_path, 100 * MIN)
    first._save_rollups()  # the periodic snapshot, taken before the window closes
    first.submit([cpu(0, 1.0), cpu(1, 3.0)])
    first.tick()  # window [0, 5m) is long over: closed, spooled with its closed mark
    first.flush()
    assert (tmp_path / ROLLUP_CLOSED_LOG).read_text().startswith("5m\t0\t")
    assert first.spool.pending_points() == 3  # 2 raw + 1 rollup point
    # crash: no aclose
    second = rollup_writer(tmp_path, 100 * MIN)
    second.submit([cpu(2, 50.0)])
    second.tick()
    assert second.metrics.rollup_late._value.get() == 1  # not rolled up again
    second.flush()
    assert second.spool.pending_points() == 4  # only the new raw point was added
