"""The rollup state on disk: the snapshot of the open windows and the closed-window log.

`<spool_dir>/rollup-state.json` holds the open windows and the last closed window per series
(`Rollups.to_json`). `<spool_dir>/rollup-closed.log` gets a line `tier<TAB>start<TAB>series` for
every window written since that snapshot, appended when its batch is handed to the sender or
the spool. At start the snapshot is loaded and every log replayed, so after a kill -9 no window
that was written is written again.

The periodic snapshot runs without stalling the event loop: the log is renamed to
`rollup-closed.log.<n>` (windows closed from then on are marked in a new log), the state is
serialised in pieces with the loop free between them, then written and fsynced on a worker
thread; only then is `rollup-closed.log.<n>` deleted. A kill -9 at any point leaves the
previous snapshot (or the new one) and every mark since it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from chmd.statefile import atomic_write
from chmd.store.rollup import Rollups

ROLLUP_STATE = "rollup-state.json"
ROLLUP_CLOSED_LOG = "rollup-closed.log"  # windows written since the last state snapshot
# The closed-window log a running snapshot has not covered yet: `rollup-closed.log.<n>`.
ROLLUP_CLOSED_ROTATED = ROLLUP_CLOSED_LOG + ".{}"


class RollupFiles:
    """`load()` once at start; `mark(lines)` whenever closed windows are handed on;
    `await snapshot()` now and then (one at a time); `save()` at shutdown."""

    def __init__(self, directory: Path, rollups: Rollups) -> None:
        self.dir = directory
        self.rollups = rollups
        self._generation = 0  # the last rotated log's number

    def load(self) -> None:
        state = self.dir / ROLLUP_STATE
        if state.exists():
            self.rollups.load_json(state.read_text())
        # A crash since the last snapshot: windows written meanwhile (a snapshot that was
        # running left its rotated log, and the log after it).
        logs = self._rotated()
        if logs:
            self._generation = logs[-1][0]
        for log_file in [path for _, path in logs] + [self.dir / ROLLUP_CLOSED_LOG]:
            if not log_file.exists():
                continue
            for line in log_file.read_text(encoding="utf-8").splitlines():
                tier, start, series = [*line.split("\t", 2), "", ""][:3]
                if series and start.isdigit():  # else a line torn by a kill -9
                    self.rollups.mark_closed(tier, series, int(start))

    def mark(self, lines: list[str]) -> None:
        """Append closed-window lines (`tier\\tstart\\tseries\\n`) to the log."""
        with (self.dir / ROLLUP_CLOSED_LOG).open("a", encoding="utf-8") as fh:
            fh.writelines(lines)

    async def snapshot(self) -> None:
        """Rotate the log, serialise in pieces, write on a worker thread, drop the rotated
        log (see the module docstring). Windows closed so far must have been marked."""
        self._generation += 1
        generation = self._generation
        active = self.dir / ROLLUP_CLOSED_LOG
        if active.exists():
            active.rename(self.dir / ROLLUP_CLOSED_ROTATED.format(generation))
        pieces: list[str] = []
        for piece in self.rollups.json_pieces():
            pieces.append(piece)
            await asyncio.sleep(0)
        await asyncio.to_thread(_write_pieces, self.dir / ROLLUP_STATE, pieces)
        self._drop_rotated(upto=generation)

    def save(self) -> None:
        """The whole state at once (at shutdown); every log is then covered and deleted."""
        atomic_write(self.dir / ROLLUP_STATE, self.rollups.to_json().encode("utf-8"))
        (self.dir / ROLLUP_CLOSED_LOG).unlink(missing_ok=True)
        self._drop_rotated()

    def _rotated(self) -> list[tuple[int, Path]]:
        prefix = ROLLUP_CLOSED_ROTATED.format("")
        found = []
        for path in self.dir.glob(ROLLUP_CLOSED_ROTATED.format("*")):
            suffix = path.name.removeprefix(prefix)
            if suffix.isdigit():
                found.append((int(suffix), path))
        return sorted(found)

    def _drop_rotated(self, *, upto: int | None = None) -> None:
        for number, path in self._rotated():
            if upto is None or number <= upto:
                path.unlink(missing_ok=True)


def _write_pieces(path: Path, pieces: list[str]) -> None:
    """Join, encode and atomically write a snapshot (runs on a worker thread)."""
    atomic_write(path, "".join(pieces).encode("utf-8"))
