"""The Writer: samples → line protocol batches → InfluxDB, spooled to disk when it can't write.

Lifecycle: `await start()` once; `submit(samples)` any number of times from the event loop (it
never blocks and never drops: at worst batches go to the disk spool); `await aclose()` once,
which flushes what it can within `close_timeout` and spools the rest.

Data path. `submit` serialises each sample once and appends it to the open batch of its tier;
a batch is sealed at `batch_size` points or `flush_interval` age. A sealed batch goes straight
to one of `max_in_flight` senders when the server is healthy and the spool is empty; otherwise
(down, slow, not yet ready) it is appended to the spool. One replay task sends the spool's
records in order, oldest first, backing off exponentially with ±20 % jitter (or as long as
Retry-After says) while the server fails. A direct batch that fails is spooled, never
retried in memory. Rejected points (HTTP 400) are found by splitting the batch in halves
and go to `dead-letter.jsonl` with the server's reason; 401/403/404 are logged once and the
data waits in the spool until an operator fixes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from chmd.model import Sample
from chmd.statefile import atomic_write
from chmd.store import lineproto
from chmd.store.metrics import StoreMetrics
from chmd.store.retention import ensure_v1, ensure_v2
from chmd.store.rollup import Closed, Rollups
from chmd.store.settings import StorageSettings
from chmd.store.spool import Record, Spool
from chmd.store.transport import (
    V1Transport,
    V2Transport,
    WriteError,
    backoff_s,
    make_transport,
)

log = structlog.get_logger("chmd.store")

ROLLUP_STATE = "rollup-state.json"
ROLLUP_CLOSED_LOG = "rollup-closed.log"  # windows written since the last state snapshot
DEAD_LETTER = "dead-letter.jsonl"
ROLLUP_SNAPSHOT_S = 30.0  # open rollup windows are saved this often (and at aclose)


@dataclass(slots=True)
class _Open:
    lines: list[str] = field(default_factory=list)
    created_ns: int = 0
    opened_at: float = 0.0  # monotonic


@dataclass(frozen=True, slots=True)
class Batch:
    target: str
    body: bytes
    points: int
    created_ns: int


class Writer:
    """See the module docstring. `metrics` may be shared with the rest of chmd's registry."""

    def __init__(
        self,
        settings: StorageSettings,
        metrics: StoreMetrics,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._clock_ns = clock_ns
        self.transport: V1Transport | V2Transport = make_transport(settings)
        self.dir = Path(settings.spool_dir)
        self.spool = Spool(
            self.dir,
            max_bytes=settings.spool_max_bytes,
            segment_bytes=settings.spool_segment_bytes,
            fsync=settings.fsync,
            on_drop=self._on_drop,
        )
        if self.spool.torn:
            log.warning("spool_torn_records_skipped", count=self.spool.torn)
        raw = settings.retention.raw_name
        self._raw = raw
        self.rollups = Rollups(
            {t.name: t.window for t in settings.retention.rollups},
            exclude_fields=settings.retention.rollup_exclude_fields,
            measurements=settings.retention.rollup_measurements,
        )
        self._load_rollups()
        self._windows_counter = {
            t.name: metrics.rollup_windows.labels(t.name) for t in settings.retention.rollups
        }
        self._marks: dict[str, list[str]] = {}  # tier → closed-window log lines to append
        self._skipped = lineproto.SkipCounts()
        self._open: dict[str, _Open] = {}
        self._pending: deque[Batch] = deque()
        self._max_pending = settings.max_in_flight * 2
        self._wake_senders = asyncio.Event()
        self._wake_replay = asyncio.Event()
        self._ready = asyncio.Event()  # retention ensured and the server took a write
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight = 0
        self._down_since: float | None = None
        self._blocked_kind: str | None = None
        self._closing = False
        self._replaying = False  # a replay round is in flight
        self._idle = asyncio.Event()  # set whenever a sender finishes a batch

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        await self.transport.start()
        self._tasks.append(asyncio.create_task(self._ensure_loop(), name="store-ensure"))
        self._tasks.append(asyncio.create_task(self._replay_loop(), name="store-replay"))
        self._tasks.append(asyncio.create_task(self._tick_loop(), name="store-tick"))
        for i in range(self.settings.max_in_flight):
            self._tasks.append(asyncio.create_task(self._send_loop(), name=f"store-send-{i}"))
        if self.spool.has_records():
            log.info("spool_replay_pending", points=self.spool.pending_points())
            self._wake_replay.set()

    async def aclose(self) -> None:
        """Flush within `close_timeout`; spool whatever is still unsent; persist rollups."""
        self._seal_all(force=True)
        self._closing = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.close_timeout):
                while (
                    self._pending
                    or self._inflight
                    or self._replaying
                    or (self.spool.has_records() and self._healthy())
                ):
                    self._idle.clear()
                    await self._idle.wait()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        while self._pending:
            self._to_spool(self._pending.popleft())
        self._save_rollups()
        self.spool.close()
        await self.transport.aclose()
        self._update_gauges()

    # --- submit (hot path) -----------------------------------------------------------------
    def submit(self, samples: Iterable[Sample]) -> None:
        """Serialise and batch; never blocks, never drops (see the module docstring)."""
        raw = self._open.get(self._raw)
        if raw is None:
            raw = self._open[self._raw] = self._new_open()
        lines = raw.lines
        skipped = self._skipped
        rollups = self.rollups if self.rollups.tiers else None
        size = self.settings.batch_size
        for sample in samples:
            key = lineproto.series_key(sample)
            fields = lineproto.field_set(sample, skipped) if key else ""
            if not fields:
                skipped.samples += 1
                continue
            lines.append(f"{key} {fields} {sample.time_ns}")
            if rollups is not None:
                for closed in rollups.observe(sample, key):
                    self._add_rollup(closed)
            if len(lines) >= size:
                self._seal(self._raw)
                raw = self._open[self._raw] = self._new_open()
                lines = raw.lines
        self._count_skipped()

    def flush(self) -> None:
        """Seal every open batch now (it is then sent or spooled)."""
        self._seal_all(force=True)

    def _new_open(self) -> _Open:
        return _Open([], self._clock_ns(), time.monotonic())

    def _add_rollup(self, closed: Closed) -> None:
        tier, sample = closed.tier, closed.sample
        self._marks.setdefault(tier, []).append(f"{tier}\t{sample.time_ns}\t{closed.series}\n")
        line = lineproto.encode(sample, self._skipped)
        if line is None:
            return
        batch = self._open.get(tier)
        if batch is None:
            batch = self._open[tier] = self._new_open()
        batch.lines.append(line)
        self._windows_counter[tier].inc()
        if len(batch.lines) >= self.settings.batch_size:
            self._seal(tier)

    def _count_skipped(self) -> None:
        s = self._skipped
        if s.samples or s.fields:
            if s.samples:
                self.metrics.skipped.labels("sample").inc(s.samples)
            for reason, count in s.fields.items():
                self.metrics.skipped.labels(reason).inc(count)
            self._skipped = lineproto.SkipCounts()

    def _seal(self, target: str) -> None:
        batch = self._open.pop(target, None)
        if not batch or not batch.lines:
            return
        body = "\n".join(batch.lines).encode()
        self._dispatch(Batch(target, body, len(batch.lines), batch.created_ns))
        marks = self._marks.pop(target, None)
        if marks:  # these windows are now as safe as their batch: never write them again
            with (self.dir / ROLLUP_CLOSED_LOG).open("a", encoding="utf-8") as fh:
                fh.writelines(marks)

    def _seal_all(self, *, force: bool) -> None:
        now = time.monotonic()
        for target, batch in list(self._open.items()):
            if force or now - batch.opened_at >= self.settings.flush_interval:
                self._seal(target)

    def _dispatch(self, batch: Batch) -> None:
        direct = (
            self._ready.is_set()
            and not self._closing
            and not self.spool.has_records()
            and len(self._pending) < self._max_pending
        )
        if direct:
            self._pending.append(batch)
            self._wake_senders.set()
        else:
            self._to_spool(batch)

    def _to_spool(self, batch: Batch) -> None:
        self.spool.append(batch.target, batch.created_ns, batch.points, batch.body)
        self.metrics.spooled_points.inc(batch.points)
        self._wake_replay.set()

    def _on_drop(self, records: int, points: int) -> None:
        self.metrics.dropped_points.labels("spool_full").inc(points)
        log.error(
            "spool_full_dropped_oldest",
            records=records,
            points=points,
            max_bytes=self.settings.spool_max_bytes,
        )

    # --- sending ---------------------------------------------------------------------------
    async def _send_loop(self) -> None:
        while True:
            if not self._pending:
                self._wake_senders.clear()
                await self._wake_senders.wait()
                continue
            batch = self._pending.popleft()
            self._inflight += 1
            try:
                await self._write(batch.target, batch.body, batch.points)
            except WriteError as exc:
                self._to_spool(batch)
                self._note_failure(exc)
            except asyncio.CancelledError:
                self._to_spool(batch)  # aclose: keep it
                raise
            finally:
                self._inflight -= 1
                self._idle.set()

    async def _write(self, target: str, body: bytes, points: int) -> None:
        """Write one batch; rejected points are split out to the dead-letter file."""
        started = time.monotonic()
        try:
            await self.transport.write(target, body)
        except WriteError as exc:
            self.metrics.write_errors.labels(exc.kind).inc()
            if exc.kind != "rejected":
                raise
            await self._split_rejected(target, lineproto.split_lines(body), exc)
            return
        finally:
            self.metrics.write_duration.observe(time.monotonic() - started)
        self.metrics.points_written.labels(target).inc(points)
        self.metrics.batches_written.labels(target).inc()
        self._note_success()

    async def _split_rejected(self, target: str, lines: list[bytes], exc: WriteError) -> None:
        if len(lines) == 1:
            self._dead_letter(target, lines[0], exc)
            return
        half = len(lines) // 2
        for part in (lines[:half], lines[half:]):
            try:
                await self.transport.write(target, b"\n".join(part))
            except WriteError as inner:
                self.metrics.write_errors.labels(inner.kind).inc()
                if inner.kind != "rejected":
                    raise
                await self._split_rejected(target, part, inner)
            else:
                self.metrics.points_written.labels(target).inc(len(part))

    def _dead_letter(self, target: str, line: bytes, exc: WriteError) -> None:
        record = {
            "at": self._clock_ns(),
            "target": target,
            "status": exc.status,
            "reason": str(exc),
            "line": line.decode(errors="replace"),
        }
        with (self.dir / DEAD_LETTER).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.metrics.dead_letter_points.inc()
        log.warning("point_rejected", target=target, reason=str(exc), file=DEAD_LETTER)

    def _healthy(self) -> bool:
        return self._ready.is_set() and self._down_since is None and self._blocked_kind is None

    def _note_failure(self, exc: WriteError) -> None:
        """Log a change of state once: server down, or blocked on auth/not_found."""
        self._idle.set()
        if not exc.retryable:
            if self._blocked_kind != exc.kind:
                self._blocked_kind = exc.kind
                log.error(
                    "store_blocked",
                    error=exc.kind,
                    reason=str(exc),
                    hint="data is kept in the spool until this is fixed",
                )
        elif self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("store_down", error=exc.kind, reason=str(exc))

    def _note_success(self) -> None:
        if self._down_since is not None or self._blocked_kind is not None:
            down_for = time.monotonic() - (self._down_since or time.monotonic())
            log.info("store_recovered", down_for_s=round(down_for, 1))
            self._down_since = None
            self._blocked_kind = None

    # --- replay ----------------------------------------------------------------------------
    async def _replay_loop(self) -> None:
        """Send the spool's oldest records, up to max_in_flight at once, and commit them in
        order. After a failure only the records before it are committed; any later ones that
        did succeed are sent again (InfluxDB overwrites identical points)."""
        attempt = 0
        while True:
            records = self._next_records() if self._ready.is_set() else []
            if not records:
                self._wake_replay.clear()
                await self._wake_replay.wait()
                continue
            self._replaying = True
            try:
                results = await asyncio.gather(
                    *(self._write(r.target, r.body, r.points) for r in records),
                    return_exceptions=True,
                )
            finally:
                self._replaying = False
            failure: WriteError | None = None
            for record, result in zip(records, results, strict=True):
                if isinstance(result, WriteError):
                    failure = result
                    break
                if isinstance(result, BaseException):
                    raise result
                self.spool.commit(record)
                self.metrics.replayed_points.inc(record.points)
            self._idle.set()
            if failure is not None:
                self._note_failure(failure)
                attempt += 1
                await asyncio.sleep(self._backoff(attempt, failure))
                continue
            attempt = 0
            if not self.spool.has_records():
                log.info("spool_replayed")

    def _next_records(self) -> list[Record]:
        records: list[Record] = []
        record = self.spool.peek()
        while record is not None:
            records.append(record)
            if len(records) >= self.settings.max_in_flight:
                break
            record = self.spool.peek(after=record)
        return records

    def _backoff(self, attempt: int, exc: WriteError) -> float:
        jitter = random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not crypto)
        return backoff_s(
            attempt,
            exc,
            initial=self.settings.retry_initial,
            maximum=self.settings.retry_max,
            jitter=jitter,
        )

    async def _ensure_loop(self) -> None:
        attempt = 0
        while not self._ready.is_set():
            try:
                if self.settings.retention.ensure:
                    if isinstance(self.transport, V1Transport):
                        actions = await ensure_v1(self.transport, self.settings)
                    else:
                        actions = await ensure_v2(self.transport, self.settings)
                    for action in actions:
                        log.info("retention_ensured", action=action)
            except WriteError as exc:
                self._note_failure(exc)
                attempt += 1
                await asyncio.sleep(self._backoff(attempt, exc))
                continue
            self._ready.set()
            self._wake_replay.set()

    # --- periodic --------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        interval = min(self.settings.flush_interval, 1.0) / 2
        last_save = time.monotonic()
        last_sync = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            self.tick()
            now = time.monotonic()
            if now - last_sync >= self.settings.fsync_interval:
                self.spool.tick()
                last_sync = now
            if now - last_save >= ROLLUP_SNAPSHOT_S:
                self._save_rollups()
                last_save = now

    def tick(self) -> None:
        """Seal aged batches, close rollup windows that are due, refresh gauges."""
        grace = max(self.settings.flush_interval * 2, 5.0)
        for closed in self.rollups.close_due(self._clock_ns(), grace):
            self._add_rollup(closed)
        self._seal_all(force=False)
        self._update_gauges()

    def _update_gauges(self) -> None:
        m = self.metrics
        m.spool_bytes.set(self.spool.bytes)
        m.spool_points.set(self.spool.pending_points())
        oldest = self.spool.oldest_created_ns() if self.spool.has_records() else None
        m.spool_oldest_age.set(0 if oldest is None else (self._clock_ns() - oldest) / 1e9)
        m.rollup_late.inc(self.rollups.late)
        self.rollups.late = 0

    def _save_rollups(self) -> None:
        """Snapshot the open windows; the closed-window log is then covered and truncated."""
        if not self.rollups.tiers:
            return
        atomic_write(self.dir / ROLLUP_STATE, self.rollups.to_json().encode("utf-8"))
        (self.dir / ROLLUP_CLOSED_LOG).unlink(missing_ok=True)

    def _load_rollups(self) -> None:
        state = self.dir / ROLLUP_STATE
        if state.exists():
            self.rollups.load_json(state.read_text())
        log_file = self.dir / ROLLUP_CLOSED_LOG
        if log_file.exists():  # a crash since the last snapshot: windows written meanwhile
            for line in log_file.read_text(encoding="utf-8").splitlines():
                tier, start, series = line.split("\t", 2)
                self.rollups.mark_closed(tier, series, int(start))
