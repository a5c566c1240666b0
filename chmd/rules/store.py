"""In-memory series windows, columnar: a `Table` per measurement, a `Column` per field rules need.

Rows are series (a measurement's tag set); a column keeps the last two values of each row and,
when a rule needs history, fixed-slot rings bucketed by time:

* a *raw* ring (`last` per bucket of `raw_resolution`, float64 value + float32 offset = 12 bytes a
  slot): a 1-hour window at 60 s is 61 slots = 732 bytes a series;
* *downsampled* rings for long windows (mean per bucket, float32 + uint16 count = 6 bytes a slot),
  e.g. 8 days of hourly means = 192 slots = 1,152 bytes.

Slot `bucket % slots` holds bucket `bucket`, so every row shares one slot→time mapping and a
window is read for many rows with one numpy gather. Memory is bounded by design: slots never
grow with the poll rate. Nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from chmd.model import Labels, Sample

F64 = npt.NDArray[np.float64]
NEVER = -(1 << 62)


@dataclass(frozen=True, slots=True)
class RingSpec:
    bucket_s: float
    slots: int
    mean: bool  # downsampled: mean per bucket; raw: last value per bucket with its time


class Ring:
    """A time-bucketed window of one field for every row of a table."""

    def __init__(self, spec: RingSpec, capacity: int) -> None:
        self.spec = spec
        dtype = np.float32 if spec.mean else np.float64
        self.vals = np.full((capacity, spec.slots), np.nan, dtype=dtype)
        self.aux = (
            np.zeros((capacity, spec.slots), dtype=np.uint16)
            if spec.mean
            else np.zeros((capacity, spec.slots), dtype=np.float32)
        )  # mean rings: count per bucket; raw rings: time offset within the bucket
        self.last_bid = np.full(capacity, NEVER, dtype=np.int64)

    def grow(self, capacity: int) -> None:
        extra = capacity - len(self.last_bid)
        self.vals = np.concatenate(
            [self.vals, np.full((extra, self.spec.slots), np.nan, dtype=self.vals.dtype)]
        )
        self.aux = np.concatenate([self.aux, np.zeros((extra, self.spec.slots), self.aux.dtype)])
        self.last_bid = np.concatenate([self.last_bid, np.full(extra, NEVER, dtype=np.int64)])

    def write(self, row: int, t: float, v: float) -> None:
        spec = self.spec
        bid = int(t // spec.bucket_s)
        last = int(self.last_bid[row])
        slot = bid % spec.slots
        if bid > last:
            gap = bid - last
            if gap >= spec.slots:
                self.vals[row, :] = np.nan
            else:
                for missing in range(last + 1, bid):
                    self.vals[row, missing % spec.slots] = np.nan
            self.last_bid[row] = bid
            self.vals[row, slot] = v
            self.aux[row, slot] = 1 if spec.mean else t - bid * spec.bucket_s
        elif bid > last - spec.slots:
            if not spec.mean:
                self.vals[row, slot] = v
                self.aux[row, slot] = t - bid * spec.bucket_s
                return
            count = int(self.aux[row, slot])
            old = float(self.vals[row, slot])
            if count == 0 or math.isnan(old):
                self.vals[row, slot], self.aux[row, slot] = v, 1
            else:
                self.vals[row, slot] = old + (v - old) / (count + 1)
                self.aux[row, slot] = min(count + 1, 65535)

    def view(
        self, rows: npt.NDArray[np.int64], now_s: float, span_s: float, *, times: bool = True
    ) -> tuple[F64, F64]:
        """(values, times) for `rows` over the last `span_s`, oldest first; missing → NaN.

        Raw rings give each value's own time (values older than `span_s` are dropped);
        mean rings give bucket centres. `times=False` skips the times (bucket precision).
        """
        spec = self.spec
        cur = int(now_s // spec.bucket_s)
        count = min(spec.slots, math.ceil(span_s / spec.bucket_s) + 1)
        bids = np.arange(cur - count + 1, cur + 1, dtype=np.int64)
        order = bids % spec.slots
        vals: F64 = np.take(self._rows(rows), order, axis=1).astype(np.float64, copy=False)
        last = self.last_bid[rows]
        if last.size and int(last.min()) < cur:  # some rows missed recent buckets
            vals[bids[None, :] > last[:, None]] = np.nan
        stamps: F64
        if spec.mean:
            stamps = np.broadcast_to((bids + 0.5) * spec.bucket_s, vals.shape)
        elif times:
            aux = (
                self.aux[int(rows[0]) : int(rows[-1]) + 1]
                if vals.size and _run(rows)
                else self.aux[rows]
            )
            offsets: F64 = np.take(aux, order, axis=1).astype(np.float64)
            stamps = bids[None, :] * spec.bucket_s + offsets
            vals[stamps < now_s - span_s] = np.nan
        else:
            stamps = np.broadcast_to(bids * spec.bucket_s, vals.shape).astype(np.float64)
        return vals, stamps

    def _rows(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.floating[Any]]:
        """The ring's rows: a view when `rows` is a contiguous run (the common case)."""
        if _run(rows):
            return self.vals[int(rows[0]) : int(rows[-1]) + 1]
        return np.take(self.vals, rows, axis=0)

    def block(
        self, rows: npt.NDArray[np.int64], now_s: float, span_s: float
    ) -> npt.NDArray[np.floating[Any]]:
        """The last `span_s` of `rows` in slot order (not time order), missing → NaN: for
        order-free reductions (avg, min, max), without reordering or copying when it can."""
        spec = self.spec
        cur = int(now_s // spec.bucket_s)
        count = min(spec.slots, math.ceil(span_s / spec.bucket_s) + 1)
        base = self._rows(rows)
        bids = np.arange(cur - count + 1, cur + 1, dtype=np.int64)
        if count < spec.slots:
            base = np.take(base, bids % spec.slots, axis=1)
        else:
            bids = bids[np.argsort(bids % spec.slots)]  # slot s holds bucket bids[s]
        last = self.last_bid[rows]
        if last.size and int(last.min()) < cur:
            base = np.array(base)  # a copy we may write into
            base[bids[None, :] > last[:, None]] = np.nan
        return base

    def nbytes_per_row(self) -> int:
        return int(self.vals.itemsize + self.aux.itemsize) * self.spec.slots + 8


def _run(rows: npt.NDArray[np.int64]) -> bool:
    """True when sorted `rows` are one contiguous run, so a slice can replace a gather."""
    return bool(len(rows)) and int(rows[-1]) - int(rows[0]) + 1 == len(rows)


class Column:
    """One numeric field of a table: last two values per row and optional rings."""

    def __init__(self, capacity: int) -> None:
        self.last_v = np.full(capacity, np.nan)
        self.last_t = np.full(capacity, np.nan)
        self.prev_v = np.full(capacity, np.nan)
        self.prev_t = np.full(capacity, np.nan)
        self.rings: dict[RingSpec, Ring] = {}

    def ring(self, spec: RingSpec) -> Ring:
        if spec not in self.rings:
            self.rings[spec] = Ring(spec, len(self.last_v))
        return self.rings[spec]

    def grow(self, capacity: int) -> None:
        extra = capacity - len(self.last_v)
        pad = np.full(extra, np.nan)
        self.last_v = np.concatenate([self.last_v, pad])
        self.last_t = np.concatenate([self.last_t, pad])
        self.prev_v = np.concatenate([self.prev_v, pad])
        self.prev_t = np.concatenate([self.prev_t, pad])
        for ring in self.rings.values():
            ring.grow(capacity)

    def write(self, row: int, t: float, v: float) -> None:
        last_t = self.last_t[row]
        if not last_t >= t:  # newer (or first) value; NaN compares False
            self.prev_v[row], self.prev_t[row] = self.last_v[row], last_t
            self.last_v[row], self.last_t[row] = v, t
        for ring in self.rings.values():
            ring.write(row, t, v)

    def nbytes_per_row(self) -> int:
        return 32 + sum(r.nbytes_per_row() for r in self.rings.values())


class TextColumn:
    """One string field (sysDescr, ifAlias, SSH output lines): last value and when it changed."""

    def __init__(self) -> None:
        self.last: dict[int, str] = {}
        self.last_t: dict[int, float] = {}
        self.changed_t: dict[int, float] = {}
        self.previous: dict[int, str] = {}

    def write(self, row: int, t: float, v: str) -> None:
        if self.last_t.get(row, -math.inf) > t:
            return
        old = self.last.get(row)
        if old is not None and old != v:
            self.previous[row] = old
            self.changed_t[row] = t
        self.last[row], self.last_t[row] = v, t


class Table:
    """Every series of one measurement that some rule selects."""

    def __init__(self, measurement: str, capacity: int = 64) -> None:
        self.measurement = measurement
        self.index: dict[Labels, int] = {}
        self.labels: list[Labels] = []
        self.capacity = capacity
        self.first_t = np.full(capacity, np.nan)
        self.seen_t = np.full(capacity, np.nan)  # last sample of any field
        self.alive = np.zeros(capacity, dtype=bool)
        self.columns: dict[str, Column] = {}
        self.texts: dict[str, TextColumn] = {}
        self._pairs: dict[tuple[str, str], tuple[str, str]] = {}

    @property
    def size(self) -> int:
        return len(self.labels)

    def column(self, field: str) -> Column:
        if field not in self.columns:
            self.columns[field] = Column(self.capacity)
        return self.columns[field]

    def text(self, field: str) -> TextColumn:
        if field not in self.texts:
            self.texts[field] = TextColumn()
        return self.texts[field]

    def row(self, key: Labels) -> int:
        found = self.index.get(key)
        if found is not None:
            return found
        row = len(self.labels)
        if row >= self.capacity:
            self._grow(self.capacity * 2)
        pairs = self._pairs  # (tag, value) pairs shared between rows: ~400 bytes less a row
        key = tuple(pairs.setdefault(pair, pair) for pair in key)
        self.index[key] = row
        self.labels.append(key)
        self.alive[row] = True
        return row

    def restore_rows(self, labels: list[Labels], alive: npt.NDArray[np.bool_]) -> None:
        """Re-create saved rows with their saved ids (retired rows included, unindexed)."""
        if self.labels:
            raise ValueError("restore_rows needs an empty table")
        capacity = self.capacity
        while capacity < len(labels):
            capacity *= 2
        if capacity != self.capacity:
            self._grow(capacity)
        pairs = self._pairs
        for row, key in enumerate(labels):
            key = tuple(pairs.setdefault(pair, pair) for pair in key)
            self.labels.append(key)
            if alive[row]:
                self.index[key] = row
        self.alive[: len(labels)] = alive

    def _grow(self, capacity: int) -> None:
        extra = capacity - self.capacity
        self.first_t = np.concatenate([self.first_t, np.full(extra, np.nan)])
        self.seen_t = np.concatenate([self.seen_t, np.full(extra, np.nan)])
        self.alive = np.concatenate([self.alive, np.zeros(extra, dtype=bool)])
        for column in self.columns.values():
            column.grow(capacity)
        self.capacity = capacity

    def retire(self, row: int) -> None:
        """Forget a series (it stopped reporting long ago); its row is never reused."""
        self.alive[row] = False
        self.index.pop(self.labels[row], None)

    def observe(self, tags: Labels, fields: Iterable[tuple[str, object]], t: float) -> None:
        row = self.row(tags)
        if not self.alive[row]:
            self.alive[row] = True
        if math.isnan(self.first_t[row]):
            self.first_t[row] = t
        if not self.seen_t[row] >= t:
            self.seen_t[row] = t
        for name, value in fields:
            if isinstance(value, str):
                text = self.texts.get(name)
                if text is not None:
                    text.write(row, t, value)
                continue
            column = self.columns.get(name)
            if column is not None:
                column.write(row, t, float(value))  # type: ignore[arg-type]


class SeriesStore:
    """Tables by measurement; only measurements and fields some rule needs are kept."""

    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}

    def table(self, measurement: str) -> Table:
        if measurement not in self.tables:
            self.tables[measurement] = Table(measurement)
        return self.tables[measurement]

    def observe(self, samples: Iterable[Sample]) -> int:
        """Feed samples in; returns how many were kept (a rule selects their measurement)."""
        kept = 0
        tables = self.tables
        for sample in samples:
            table = tables.get(sample.measurement)
            if table is None:
                continue
            key = tuple(sorted(sample.tags.items()))
            table.observe(key, sample.fields.items(), sample.time_ns / 1e9)
            kept += 1
        return kept
