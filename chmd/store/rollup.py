"""Rollups computed by chmd: per series and window, aggregates of gauges and rates.

Pure core (`Rollups.observe`, `Rollups.close_due` take times, never read a clock) plus JSON
persistence of the open windows (`to_json`/`load_json`), so a restart neither loses nor
doubles a window.

Fields: a numeric field whose name ends in `_rate` is a rate → `<field>_mean`, `<field>_max`;
any other int/float field is a gauge → `<field>_mean`, `_min`, `_max`, `_last` — except fields
matching an exclude pattern (raw counters such as `*Octets`: their rate is rolled up instead).
All rollup fields are floats. Booleans and strings are not rolled up.

Windows are aligned to the epoch like InfluxQL's `GROUP BY time(5m)`; a closed window becomes
one `Sample` with the raw sample's measurement and tags at time = window start. Tiers cascade:
raw samples feed the smallest window, each closed window feeds the next tier (every window
must be a multiple of the one before), so a raw sample costs one update whatever the number
of tiers, and the 1h mean is exactly the mean of the raw points. A window closes when data of
a later window of the same series arrives, or when `close_due(now)` finds it ended more than
`grace` ago. A sample older than its series' open window (or of an already closed window) is
late: counted, not rolled up (a closed window is never written twice).
"""

from __future__ import annotations

import fnmatch
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import reduce
from operator import add, itemgetter
from typing import Any

from chmd.model import Sample

NativeFold = Callable[
    [dict[str, list[Any]], dict[str, int], tuple[str, ...], tuple[int, ...], list[Any], int], bool
]
native_fold: NativeFold | None
native_aggs_json: Callable[[dict[str, list[Any]]], str | None] | None
try:  # the C fold and JSON (chmd.native builds them; absent or stale: the Python below)
    from chmd.store._speedups import aggs_json as native_aggs_json
    from chmd.store._speedups import fold_rows as native_fold
except ModuleNotFoundError:
    native_fold = native_aggs_json = None

SKIP, GAUGE, RATE = 0, 1, 2
MISSING: Any = object()
RATE_SUFFIX = "_rate"

# count, sum, min, max, last
Agg = list[float]


@dataclass(slots=True)
class _Window:
    start_ns: int
    measurement: str
    tags: Mapping[str, str]
    aggs: dict[str, Agg] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    last_ns: int = -1
    # Samples of one field layout not yet folded into `aggs`: one tuple of the rolled-up
    # values per sample, in arrival order (appending is cheaper than updating every agg).
    plan: _Plan | None = None
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    last_row: int = -1  # the latest row that was the window's newest sample when it came


@dataclass(frozen=True, slots=True)
class _Plan:
    """The fields of one (measurement, field keys) layout that are rolled up."""

    names: tuple[str, ...]
    kinds: tuple[int, ...]
    pick: Callable[[tuple[Any, ...]], tuple[Any, ...]]  # all values → these fields' values


def _picker(positions: list[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    if len(positions) == 1:  # itemgetter of one index returns the item, not a 1-tuple
        (only,) = positions
        return lambda values: (values[only],)
    return itemgetter(*positions) if positions else (lambda values: ())


_PLAN_LIMIT = 4096
_NUMERIC = frozenset((int, float))


def _fold(window: _Window) -> None:
    """Fold the window's buffered rows into its aggregates, exactly as if each row had been
    added on arrival: the same additions in the same order (`reduce`, not `sum`, which
    compensates since Python 3.12), and min/max/last keep the same one of equal values.
    `native_fold` (C, when built) does the same arithmetic."""
    rows, plan, last_row = window.rows, window.plan, window.last_row
    window.rows = []
    window.last_row = -1
    if plan is None or not rows:
        return
    aggs, kinds = window.aggs, window.kinds
    if native_fold is not None and native_fold(aggs, kinds, plan.names, plan.kinds, rows, last_row):
        return
    count = float(len(rows))
    for i, column in enumerate(zip(*rows, strict=True)):
        name = plan.names[i]
        agg = aggs.get(name)
        if agg is None:
            first = column[0]
            aggs[name] = [
                count,
                reduce(add, column[1:], first),
                min(column),
                max(column),
                column[last_row] if last_row >= 0 else first,
            ]
            kinds[name] = plan.kinds[i]
            continue
        agg[0] += count
        agg[1] = reduce(add, column, agg[1])
        low, high = min(column), max(column)
        if low < agg[2]:
            agg[2] = low
        if high > agg[3]:
            agg[3] = high
        if last_row >= 0:
            agg[4] = column[last_row]


_Shape = tuple[tuple[str, ...], tuple[bool, ...]]
_OUT_SHAPES: dict[tuple[tuple[str, ...], tuple[int, ...]], _Shape] = {}


def _out_shape(aggs: dict[str, Agg], kinds: dict[str, int]) -> _Shape:
    """The rollup field names of a window's fields (gauges: mean, max, min, last; rates: mean,
    max) and which fields are gauges; cached per field names and kinds."""
    names = tuple(aggs)
    key = (names, tuple(map(kinds.__getitem__, names)))
    shape = _OUT_SHAPES.get(key)
    if shape is None:
        out: list[str] = []
        for name, kind in zip(*key, strict=True):
            out += (f"{name}_mean", f"{name}_max")
            if kind == GAUGE:
                out += (f"{name}_min", f"{name}_last")
        shape = (tuple(out), tuple(kind == GAUGE for kind in key[1]))
        if len(_OUT_SHAPES) >= _PLAN_LIMIT:
            _OUT_SHAPES.clear()
        _OUT_SHAPES[key] = shape
    return shape


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _window_json(key: tuple[str, str], window: _Window) -> dict[str, Any]:
    if window.rows:
        _fold(window)
    return {
        "tier": key[0],
        "series": key[1],
        "start_ns": window.start_ns,
        "last_ns": window.last_ns,
        "measurement": window.measurement,
        "tags": dict(window.tags),
        "aggs": window.aggs,
        "kinds": window.kinds,
    }


def _window_text(key: tuple[str, str], window: _Window) -> str:
    """`_dumps(_window_json(key, window))`, with the aggregates (most of the numbers, and of
    a snapshot's CPU) written by `native_aggs_json` when it is built."""
    data = _window_json(key, window)
    aggs = native_aggs_json(data["aggs"]) if native_aggs_json is not None else None
    if aggs is None:
        return _dumps(data)
    del data["aggs"]
    return f'{_dumps(data)[:-1]},"aggs":{aggs}}}'


@dataclass(frozen=True, slots=True)
class Closed:
    """A closed window: `names[i]` = `values[i]` (all floats), at `time_ns` (window start)."""

    tier: str
    series: str  # the raw series key (line protocol `measurement,tags`)
    measurement: str
    tags: Mapping[str, str]
    time_ns: int
    names: tuple[str, ...]
    values: list[float]

    @property
    def sample(self) -> Sample:
        """The window as a Sample (the Writer formats `names`/`values` directly)."""
        return Sample(
            self.measurement,
            self.tags,
            dict(zip(self.names, self.values, strict=True)),
            self.time_ns,
        )


class Rollups:
    """Open windows for every (tier, series); `tiers` maps tier name → window in seconds."""

    def __init__(
        self,
        tiers: Mapping[str, float],
        *,
        exclude_fields: Iterable[str] = (),
        measurements: Iterable[str] = ("*",),
    ) -> None:
        ordered = sorted(tiers.items(), key=lambda item: item[1])
        self.tiers = {name: int(seconds * 1e9) for name, seconds in ordered}
        self._names = list(self.tiers)
        self._width0 = next(iter(self.tiers.values()), 1)
        widths = list(self.tiers.values())
        for small, big in itertools.pairwise(widths):
            if big % small:
                raise ValueError("each rollup window must be a multiple of the smaller ones")
        self._exclude = tuple(exclude_fields)
        self._measurements = tuple(measurements)
        self._kinds: dict[str, Any] = {}  # measurement → {field: kind}, None: not rolled up
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan | None] = {}
        self._plans_by_layout: dict[tuple[str, object], _Plan | None] = {}
        self.buffer_rows = True  # False: every sample updates the aggregates at once (tests)
        self._open: dict[tuple[str, str], _Window] = {}
        self._closed_upto: dict[tuple[str, str], int] = {}  # last closed window start
        self._by_start: dict[tuple[str, int], set[str]] = {}  # (tier, start) → open series
        self.late = 0

    def kind(self, measurement: str, name: str) -> int:
        """SKIP, GAUGE or RATE for a field (cached per measurement and field)."""
        kinds = self._kinds_of(measurement)
        if kinds is None:
            return SKIP
        found = kinds.get(name)
        return self._field_kind(kinds, name) if found is None else found

    def _kinds_of(self, measurement: str) -> dict[str, int] | None:
        if measurement not in self._kinds:
            wanted = any(fnmatch.fnmatchcase(measurement, p) for p in self._measurements)
            self._kinds[measurement] = {} if wanted else None
        kinds: dict[str, int] | None = self._kinds[measurement]
        return kinds

    def _field_kind(self, kinds: dict[str, int], name: str) -> int:
        if any(fnmatch.fnmatchcase(name, p) for p in self._exclude):
            found = SKIP
        else:
            found = RATE if name.endswith(RATE_SUFFIX) else GAUGE
        kinds[name] = found
        return found

    def _plan(self, measurement: str, keys: tuple[str, ...]) -> _Plan | None:
        """The rolled-up fields of a field layout (None: the measurement is not rolled up)."""
        kinds = self._kinds_of(measurement)
        plan = None
        if kinds is not None:
            positions = []
            for i, name in enumerate(keys):
                kind = kinds.get(name)
                if kind is None:
                    kind = self._field_kind(kinds, name)
                if kind:
                    positions.append(i)
            plan = _Plan(
                tuple(keys[i] for i in positions),
                tuple(kinds[keys[i]] for i in positions),
                _picker(positions),
            )
        if len(self._plans) >= _PLAN_LIMIT:
            self._plans.clear()
        self._plans[(measurement, keys)] = plan
        return plan

    def observe(
        self, sample: Sample, series: str, clean: tuple[object, tuple[Any, ...]] | None = None
    ) -> list[Closed]:
        """Add one raw sample (`series` = its line-protocol series key); returns closed windows.
        `clean`: `lineproto.field_set_layout`'s (layout, values) when every field of the sample
        is a plain int or a finite float (saves looking at the values again)."""
        if not self._names:
            return []
        fields = sample.fields
        if clean is not None:
            by_layout = (sample.measurement, clean[0])
            plan = self._plans_by_layout.get(by_layout, MISSING)
            if plan is MISSING:
                plan = self._plans_by_layout[by_layout] = self._plan(
                    sample.measurement, tuple(fields)
                )
                if len(self._plans_by_layout) >= _PLAN_LIMIT:
                    self._plans_by_layout.clear()
        else:
            layout = (sample.measurement, tuple(fields))
            plan = self._plans.get(layout, MISSING)
            if plan is MISSING:
                plan = self._plan(*layout)
        if plan is None:
            return []
        out: list[Closed] = []
        t = sample.time_ns
        window = self._open.get((self._names[0], series))  # the common case: still open
        if window is None or t - t % self._width0 != window.start_ns:
            window = self._window(0, series, t, sample, out)
            if window is None:
                return out
        is_last = t >= window.last_ns
        if is_last:
            window.last_ns = t
        if not plan.names:
            return out
        if clean is not None and self.buffer_rows:  # checked by the line-protocol layout
            values = plan.pick(clean[1])
            buffered = True
        else:
            values = plan.pick(tuple(fields.values()))
            # The common case: every rolled-up value a plain int or float, all finite (a sum
            # that overflows takes the per-field path too). Such a sample is one row to fold
            # later.
            buffered = (
                self.buffer_rows
                and _NUMERIC.issuperset(map(type, values))
                and (total := sum(values)) - total == 0
            )
        if buffered:
            if window.plan is not plan:
                if window.rows:
                    _fold(window)
                window.plan = plan
            if is_last:
                window.last_row = len(window.rows)
            window.rows.append(values)
            return out
        if window.rows:
            _fold(window)
        aggs = window.aggs
        for name, kind, number in zip(plan.names, plan.kinds, values, strict=True):
            kind_of = type(number)
            if kind_of is not float and kind_of is not int:  # bool, str
                continue
            if number - number != 0:  # NaN, ±inf
                continue
            agg = aggs.get(name)
            if agg is None:
                aggs[name] = [1.0, number, number, number, number]
                window.kinds[name] = kind
                continue
            agg[0] += 1.0
            agg[1] += number
            if number < agg[2]:
                agg[2] = number
            elif number > agg[3]:
                agg[3] = number
            if is_last:
                agg[4] = number
        return out

    def _window(
        self, level: int, series: str, time_ns: int, like: Sample | _Window, out: list[Closed]
    ) -> _Window | None:
        """The open window of tier `level` for `time_ns`, closing the previous one; None: late."""
        tier = self._names[level]
        width = self.tiers[tier]
        start = time_ns - time_ns % width
        key = (tier, series)
        window = self._open.get(key)
        if window is not None and start == window.start_ns:
            return window
        if window is not None and start < window.start_ns:
            self.late += 1
            return None
        if start <= self._closed_upto.get(key, -1):
            self.late += 1
            return None
        if window is not None:
            self._close(level, series, window, out)
        tags = like.tags
        window = _Window(start, like.measurement, tags)
        self._add_open(key, window)
        return window

    def close_due(self, now_ns: int, grace_s: float = 0.0) -> list[Closed]:
        """Close every window that ended more than `grace_s` before `now_ns` (smallest first).
        Cheap when nothing is due: open windows are indexed by tier and start."""
        grace = int(grace_s * 1e9)
        out: list[Closed] = []
        for level, tier in enumerate(self._names):
            width = self.tiers[tier]
            due = sorted(
                start
                for (name, start) in self._by_start
                if name == tier and start + width + grace <= now_ns
            )
            for start in due:
                for series in list(self._by_start.get((tier, start), ())):
                    window = self._open.get((tier, series))
                    if window is not None and window.start_ns == start:
                        self._close(level, series, window, out)
        return out

    def _add_open(self, key: tuple[str, str], window: _Window) -> None:
        self._open[key] = window
        self._by_start.setdefault((key[0], window.start_ns), set()).add(key[1])

    def _drop_open(self, key: tuple[str, str], window: _Window) -> None:
        del self._open[key]
        bucket = (key[0], window.start_ns)
        members = self._by_start.get(bucket)
        if members is not None:
            members.discard(key[1])
            if not members:
                del self._by_start[bucket]

    def _close(self, level: int, series: str, window: _Window, out: list[Closed]) -> None:
        tier = self._names[level]
        self._drop_open((tier, series), window)
        self._closed_upto[(tier, series)] = window.start_ns
        if window.rows:
            _fold(window)
        aggs, kinds = window.aggs, window.kinds
        if aggs:  # a window of fields that are never rolled up writes nothing
            shape = _out_shape(aggs, kinds)
            values: list[float] = []
            extend = values.extend
            for (count, total, low, high, last), gauge in zip(aggs.values(), shape[1], strict=True):
                # always floats: an int gauge's max too
                if gauge:
                    extend((total / count, float(high), float(low), float(last)))
                else:
                    extend((total / count, float(high)))
            out.append(
                Closed(
                    tier, series, window.measurement, window.tags, window.start_ns, shape[0], values
                )
            )
        if level + 1 < len(self._names):
            upper = self._window(level + 1, series, window.start_ns, window, out)
            if upper is not None:
                upper.last_ns = window.start_ns
                if not upper.aggs:  # the first window of the upper one
                    upper.aggs = {name: agg.copy() for name, agg in aggs.items()}
                    upper.kinds = kinds.copy()
                    return
                have_aggs = upper.aggs
                for name, agg in aggs.items():
                    have = have_aggs.get(name)
                    if have is None:
                        have_aggs[name] = agg.copy()
                        upper.kinds[name] = kinds[name]
                    else:
                        have[0] += agg[0]
                        have[1] += agg[1]
                        if agg[2] < have[2]:
                            have[2] = agg[2]
                        if agg[3] > have[3]:
                            have[3] = agg[3]
                        have[4] = agg[4]

    def mark_closed(self, tier: str, series: str, start_ns: int) -> None:
        """Record that this window was written (replaying the closed-window log after a
        crash): it is never written again, and an open copy of it is dropped."""
        if tier not in self.tiers:
            return
        key = (tier, series)
        if start_ns > self._closed_upto.get(key, -1):
            self._closed_upto[key] = start_ns
        window = self._open.get(key)
        if window is not None and window.start_ns <= start_ns:
            self._drop_open(key, window)

    def open_windows(self) -> int:
        return len(self._open)

    # --- persistence -----------------------------------------------------------------------
    def to_json(self) -> str:
        """The whole state as one JSON text (`load_json` reads it back)."""
        return "".join(self.json_pieces(chunk=1 << 30))

    def json_pieces(self, chunk: int = 256) -> Iterator[str]:
        """`to_json`'s text in pieces of up to `chunk` windows, so a caller can do other work
        between pieces (the periodic snapshot runs on the event loop).

        The first piece is produced only after the closed marks and the list of open series
        have been copied: that moment is the snapshot's. Each later piece serialises the
        live state of its series when it is produced: a window closed since the start is left
        out, or the series' newer window written instead; series opened since the start are
        not in it. Windows closed after the start must therefore be remembered elsewhere
        (the Writer's closed-window log) until this snapshot is on disk.
        """
        closed = [[t, s, v] for (t, s), v in self._closed_upto.items()]
        keys = list(self._open)
        yield '{"version":2,"windows":['
        sep = ""
        for i in range(0, len(keys), chunk):
            parts = []
            for key in keys[i : i + chunk]:
                window = self._open.get(key)
                if window is not None:
                    parts.append(_window_text(key, window))
            if parts:
                yield sep + ",".join(parts)
                sep = ","
        yield '],"closed":['
        sep = ""
        for i in range(0, len(closed), chunk * 8):
            yield sep + _dumps(closed[i : i + chunk * 8])[1:-1]
            sep = ","
        yield "]}"

    def load_json(self, text: str) -> None:
        """Restore state saved by `to_json` (tiers no longer configured are dropped)."""
        data: dict[str, Any] = json.loads(text)
        if data.get("version") != 2:
            return
        for item in data.get("windows", []):
            if item["tier"] not in self.tiers:
                continue
            window = _Window(
                item["start_ns"],
                item["measurement"],
                dict(item["tags"]),
                {k: list(v) for k, v in item["aggs"].items()},
                dict(item["kinds"]),
                item["last_ns"],
            )
            self._add_open((item["tier"], item["series"]), window)
        for tier, series, start in data.get("closed", []):
            if tier in self.tiers:
                self._closed_upto[(tier, series)] = start
