"""The durable on-disk spool: append-only segment files of checksummed records, read in order.

A record is one batch: `u32 length | u32 crc32(payload) | payload`, with payload
`u16 target length | target | u64 created_ns | u32 points | [i64 lo_ns | i64 hi_ns] |
line protocol`. The time range of the batch's points (oldest, newest) is there when the high
bit of the target length is set (records of older chmd versions have none). Segments are
`NNNNNNNNNNNNNNNN.seg` files; a new one starts at start-up and when the current one reaches
`segment_bytes`. The read position (`cursor`: segment number and offset) is committed after
each replayed record by an atomic rename.

Guarantees: a record is acknowledged once `append` returns; its bytes are then in the kernel
(a kill -9 of chmd loses nothing) and, with `fsync: always|batch`, on disk. A torn last record
(crash mid-write) or a corrupt one fails its length/CRC check and is skipped, counted. When
the spool would exceed `max_bytes`, the oldest segment is deleted: its records are counted as
dropped, the only way the spool loses data. Replay after a crash between a successful write
and the cursor commit resends that one batch; InfluxDB overwrites identical points, so
nothing is doubled.

Not thread-safe; used from the event loop (small sequential writes; fsync per policy).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

_HEADER = struct.Struct("<II")
_META = struct.Struct("<QI")
_RANGE = struct.Struct("<qq")
_HAS_RANGE = 0x8000
_MAX_RECORD = 512 * 1024 * 1024

FsyncPolicy = Literal["always", "batch", "interval", "never"]

try:  # ISA-L's CRC-32 (the same checksum as zlib's, ~10x faster on large records)
    from isal.isal_zlib import crc32 as _crc32
except ImportError:  # pragma: no cover (no isal wheel for this platform)
    _crc32 = zlib.crc32


@dataclass(frozen=True, slots=True)
class Record:
    """One spooled batch and where it sits (`segment`, `offset`, `end`)."""

    target: str
    created_ns: int
    points: int
    body: bytes
    segment: int
    offset: int
    end: int
    lo_ns: int | None = None  # oldest and newest point (None: not recorded)
    hi_ns: int | None = None


def encode_record(
    target: str,
    created_ns: int,
    points: int,
    body: bytes,
    time_range: tuple[int, int] | None = None,
) -> bytes:
    name = target.encode()
    head = [struct.pack("<H", len(name) | (_HAS_RANGE if time_range else 0)), name]
    head.append(_META.pack(created_ns, points))
    if time_range:
        head.append(_RANGE.pack(*time_range))
    payload = b"".join((*head, body))
    return _HEADER.pack(len(payload), _crc32(payload)) + payload


def decode_payload(payload: bytes) -> tuple[str, int, int, bytes]:
    """(target, created_ns, points, body) of a record's payload."""
    target, created_ns, points, body, _ = decode_record(payload)
    return target, created_ns, points, body


def decode_record(payload: bytes) -> tuple[str, int, int, bytes, tuple[int, int] | None]:
    """(target, created_ns, points, body, time range or None) of a record's payload."""
    (flagged,) = struct.unpack_from("<H", payload)
    size = flagged & ~_HAS_RANGE
    target = payload[2 : 2 + size].decode()
    created_ns, points = _META.unpack_from(payload, 2 + size)
    at = 2 + size + _META.size
    time_range: tuple[int, int] | None = None
    if flagged & _HAS_RANGE:
        time_range = _RANGE.unpack_from(payload, at)
        at += _RANGE.size
    return target, created_ns, points, payload[at:], time_range


def scan(data: bytes, start: int = 0) -> tuple[list[tuple[int, int, bytes]], int, int]:
    """Valid records in `data` from `start`: ([(offset, end, payload)], valid_end, bad).

    Stops at the first record whose header or checksum does not hold (a torn tail or
    corruption); `bad` is 1 when such bytes were found after `valid_end`, else 0.
    """
    out: list[tuple[int, int, bytes]] = []
    pos, n = start, len(data)
    while pos + _HEADER.size <= n:
        length, crc = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size + length
        if length > _MAX_RECORD or end > n:
            break
        payload = data[pos + _HEADER.size : end]
        if _crc32(payload) != crc:
            break
        out.append((pos, end, payload))
        pos = end
    return out, pos, int(pos < n)


@dataclass(slots=True)
class _Segment:
    number: int
    path: Path
    size: int  # valid bytes
    records: int
    points: int


class Spool:
    """Append-only, size-bounded, replayed in order. `on_drop(records, points)` is told of loss."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        segment_bytes: int,
        fsync: FsyncPolicy = "batch",
        on_drop: Callable[[int, int], None] | None = None,
    ) -> None:
        self.dir = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self._on_drop = on_drop
        self.torn = 0  # torn/corrupt tails found at open
        self._segments: list[_Segment] = []
        self._fd: int | None = None
        self._dirty = False
        self._cursor = (0, 0)
        self._head_done_points = 0  # points already replayed from the first segment
        self.dir.mkdir(parents=True, exist_ok=True)
        self._open()

    # --- state -----------------------------------------------------------------------------
    def _open(self) -> None:
        cursor_file = self.dir / "cursor"
        if cursor_file.exists():
            seg_text, off_text = cursor_file.read_text().split()
            self._cursor = (int(seg_text), int(off_text))
        for path in sorted(self.dir.glob("*.seg")):
            number = int(path.stem)
            data = path.read_bytes()
            records, valid, bad = scan(data)
            self.torn += bad
            points = sum(decode_payload(p)[2] for _, _, p in records)
            self._segments.append(_Segment(number, path, valid, len(records), points))
        seg, off = self._cursor
        for segment in list(self._segments):
            if segment.number < seg or (segment.number == seg and off >= segment.size):
                segment.path.unlink()  # fully replayed before the restart
                self._segments.remove(segment)
        if self._segments and self._segments[0].number > seg:
            self._cursor = (self._segments[0].number, 0)
        elif self._segments and off:
            done = scan(self._segments[0].path.read_bytes()[:off])[0]
            self._head_done_points = sum(decode_payload(p)[2] for _, _, p in done)
        self._new_segment()

    def _new_segment(self) -> None:
        if self._fd is not None:
            self._sync(force=self.fsync != "never")
            os.close(self._fd)
        number = (self._segments[-1].number + 1) if self._segments else self._cursor[0] + 1
        path = self.dir / f"{number:016d}.seg"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._segments.append(_Segment(number, path, 0, 0, 0))
        if not self.has_records():
            self._cursor = (number, 0)
        self._sync_dir()

    def _sync_dir(self) -> None:
        if self.fsync == "never":
            return
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _sync(self, *, force: bool = False) -> None:
        if self._fd is not None and (force or self._dirty):
            os.fsync(self._fd)
            self._dirty = False

    # --- writing ---------------------------------------------------------------------------
    def append(
        self,
        target: str,
        created_ns: int,
        points: int,
        body: bytes,
        time_range: tuple[int, int] | None = None,
    ) -> None:
        """Add one batch (`time_range`: its oldest and newest point); durable per the fsync
        policy when this returns."""
        record = encode_record(target, created_ns, points, body, time_range)
        active = self._segments[-1]
        if active.size and active.size + len(record) > self.segment_bytes:
            self._new_segment()
            active = self._segments[-1]
        self._make_room(len(record))
        if self._fd is None:
            raise RuntimeError("spool is closed")
        os.write(self._fd, record)
        active.size += len(record)
        active.records += 1
        active.points += points
        self._dirty = True
        if self.fsync in ("always", "batch"):
            self._sync()

    def _make_room(self, incoming: int) -> None:
        while self.bytes + incoming > self.max_bytes and len(self._segments) > 1:
            oldest = self._segments.pop(0)
            seg, off = self._cursor
            records, points = oldest.records, oldest.points
            if seg == oldest.number and off:
                consumed = scan(oldest.path.read_bytes()[:off])[0]
                records -= len(consumed)
                points -= sum(decode_payload(p)[2] for _, _, p in consumed)
            oldest.path.unlink(missing_ok=True)
            self._head_done_points = 0
            if seg <= oldest.number:
                self._cursor = (self._segments[0].number, 0)
                self._write_cursor()
            if self._on_drop and records:
                self._on_drop(records, points)

    def tick(self) -> None:
        """For `fsync: interval`: called every fsync_interval."""
        if self.fsync == "interval":
            self._sync()

    def close(self) -> None:
        if self._fd is not None:
            self._sync(force=self.fsync != "never")
            os.close(self._fd)
            self._fd = None

    # --- reading ---------------------------------------------------------------------------
    @property
    def bytes(self) -> int:
        """Bytes not yet replayed (whole segments minus the replayed part of the first)."""
        total = sum(s.size for s in self._segments)
        seg, off = self._cursor
        if self._segments and self._segments[0].number == seg:
            total -= min(off, self._segments[0].size)
        return total

    def has_records(self) -> bool:
        return self.bytes > 0

    def pending_points(self) -> int:
        return sum(s.points for s in self._segments) - self._head_done_points

    def peek(self, after: Record | None = None) -> Record | None:
        """The oldest record not yet committed (or the one right after `after`), or None.
        Reads just that record."""
        seg, off = (after.segment, after.end) if after else self._cursor
        for segment in self._segments:
            if segment.number < seg:
                continue
            start = off if segment.number == seg else 0
            if start >= segment.size:
                continue
            with segment.path.open("rb") as fh:
                fh.seek(start)
                header = fh.read(_HEADER.size)
                length, crc = _HEADER.unpack(header) if len(header) == _HEADER.size else (0, 0)
                end = start + _HEADER.size + length
                payload = fh.read(length) if end <= segment.size else b""
            if len(payload) != length or not length or _crc32(payload) != crc:
                self.torn += 1  # unreadable rest of a segment: skip it
                if after is None:
                    self._cursor = (segment.number, segment.size)
                continue
            target, created_ns, points, body, time_range = decode_record(payload)
            lo, hi = time_range or (None, None)
            return Record(target, created_ns, points, body, segment.number, start, end, lo, hi)
        return None

    def commit(self, record: Record) -> None:
        """Mark `record` replayed; delete segments that are done (except the active one)."""
        self._cursor = (record.segment, record.end)
        self._head_done_points += record.points
        while len(self._segments) > 1 and (
            self._segments[0].number < self._cursor[0]
            or (
                self._segments[0].number == self._cursor[0]
                and self._cursor[1] >= self._segments[0].size
            )
        ):
            done = self._segments.pop(0)
            done.path.unlink(missing_ok=True)
            self._head_done_points = 0
            if self._cursor[0] == done.number:
                self._cursor = (self._segments[0].number, 0)
        self._write_cursor()

    def _write_cursor(self) -> None:
        tmp = self.dir / "cursor.tmp"
        with tmp.open("w") as fh:
            fh.write(f"{self._cursor[0]} {self._cursor[1]}\n")
            if self.fsync == "always":
                fh.flush()
                os.fsync(fh.fileno())
        tmp.replace(self.dir / "cursor")

    def oldest_created_ns(self) -> int | None:
        """Creation time of the oldest unreplayed record (reads its header only)."""
        seg, off = self._cursor
        for segment in self._segments:
            start = off if segment.number == seg else 0
            if segment.number < seg or start >= segment.size:
                continue
            with segment.path.open("rb") as fh:
                fh.seek(start + _HEADER.size)
                head = fh.read(2)
                if len(head) < 2:
                    return None
                (size,) = struct.unpack("<H", head)
                fh.seek(size, os.SEEK_CUR)
                meta = fh.read(_META.size)
            return _META.unpack(meta)[0] if len(meta) == _META.size else None
        return None
