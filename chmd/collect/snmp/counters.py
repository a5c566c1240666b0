"""Per-second rates from SNMP counters: wrap-safe, reset-safe, bounded by link speed. Pure.

Nothing here reads a clock: every call takes `now` (seconds, monotonic or epoch, as long as
one device always uses the same clock). A `RateTracker` holds one device's baselines.

Semantics (the contract in docs/snmp.md):

* Counter32 that went down (and the device did not restart) wrapped: delta = cur + 2**32 - prev.
* Counter64 that went down was reset (2⁶⁴ is never reached): no rate, counted as `reset`.
* sysUpTime went backwards (not its own 2³² wrap), or is smaller than the time since the
  last poll: the device restarted; every baseline is dropped, no rate that interval (`reset`).
* A row's ifCounterDiscontinuityTime changed: that row's baselines are dropped (`reset`).
* A rate above the given maximum (the interface speed) is never returned (`over_speed`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, MutableMapping
from typing import Any

from chmd.collect.snmp.ber import COUNTER32, VarBind

Index = tuple[int, ...]

WRAP32 = 1 << 32
WRAP64 = 1 << 64
TICKS_PER_S = 100.0


def counter_delta(prev: int, cur: int, bits: int) -> int | None:
    """The increase from `prev` to `cur`, across one wrap for 32-bit counters; None = reset."""
    if cur >= prev:
        return cur - prev
    if bits == 32:
        return cur + WRAP32 - prev
    return None


def restarted(prev_ticks: int, prev_at: float, ticks: int, now: float) -> bool:
    """Did the agent restart between two sysUpTime readings taken at `prev_at` and `now`?"""
    elapsed_ticks = max(0.0, (now - prev_at) * TICKS_PER_S)
    if ticks < prev_ticks:
        wrapped = prev_ticks + elapsed_ticks - WRAP32  # where a 497-day wrap would put it
        return abs(ticks - wrapped) > max(1000.0, 0.1 * elapsed_ticks)
    return ticks + 1000 < elapsed_ticks * 0.9  # up for less time than since the last poll


class RateTracker:
    """Baselines of one device's counters; `stats` counts why rates were withheld.

    Baselines are kept per row (`(row, field)` keys), so dropping a row's baselines on a
    discontinuity is one dict operation, and `rates_into` reads a whole row's counters with
    one lookup of the row.
    """

    def __init__(self) -> None:
        self._rows: dict[Hashable, dict[Hashable, tuple[int, float]]] = {}
        self._uptime: tuple[int, float] | None = None
        self._discontinuity: dict[Hashable, int] = {}
        self.stats: Counter[str] = Counter()

    def observe_uptime(self, ticks: int | None, now: float) -> bool:
        """Feed sysUpTime at the start of a poll. True (and all baselines dropped) on restart."""
        if ticks is None:
            return False
        previous, self._uptime = self._uptime, (ticks, now)
        if previous is not None and restarted(previous[0], previous[1], ticks, now):
            self._rows.clear()
            self._discontinuity.clear()
            self.stats["restart"] += 1
            return True
        return False

    def observe_discontinuity(self, row: Hashable, value: int | None) -> bool:
        """Feed a row's ifCounterDiscontinuityTime; True (row baselines dropped) if it changed."""
        if value is None:
            return False
        previous = self._discontinuity.get(row)
        self._discontinuity[row] = value
        if previous is not None and previous != value:
            self._rows.pop(row, None)
            self.stats["discontinuity"] += 1
            return True
        return False

    def rate(
        self,
        key: tuple[Hashable, Hashable],
        value: int,
        bits: int,
        now: float,
        max_per_s: float | None = None,
    ) -> float | None:
        """Per-second increase since the last reading of `key`, or None (counted why).

        Keys are `(row, field)` so `observe_discontinuity(row, …)` can drop a row.
        """
        row, field = key
        baselines = self._rows.get(row)
        if baselines is None:
            baselines = self._rows[row] = {}
        previous = baselines.get(field)
        baselines[field] = (value, now)
        if previous is None:
            return None
        return self._per_s(previous, value, bits, now, max_per_s)

    def _per_s(
        self,
        previous: tuple[int, float],
        value: int,
        bits: int,
        now: float,
        max_per_s: float | None,
    ) -> float | None:
        prev_value, prev_at = previous
        elapsed = now - prev_at
        if elapsed <= 0:
            return None
        delta = counter_delta(prev_value, value, bits)
        if delta is None:
            self.stats["reset"] += 1
            return None
        if value < prev_value:
            self.stats["wrap"] += 1
        per_s = delta / elapsed
        if max_per_s is not None and max_per_s > 0 and per_s > max_per_s:
            self.stats["over_speed"] += 1
            return None
        return per_s

    def row_rates(
        self,
        row: Hashable,
        counters: Iterable[tuple[str, str, bool, Mapping[Index, float] | None]],
        cells: Mapping[str, VarBind],
        index: Index,
        now: float,
        bound_per_s: float | None,
        out: MutableMapping[str, Any],
    ) -> None:
        """The rates of one walked table row, as `rate((row, field), …)` gives each.

        `counters` are `(field, rate field, bounded, read times by index)`; `cells` the row's
        varbinds by field (Counter32 wraps at 2**32, any other at 2**64); a counter's time is
        its read time at `index`, else `now`; `bounded` ones have `bound_per_s` as max_per_s.
        Every rate not withheld is stored as `out[rate field]`. One loop and one lookup of
        the row for all its counters: this runs for every counter of every poll."""
        baselines = self._rows.get(row)
        if baselines is None:
            baselines = self._rows[row] = {}
        last = baselines.get
        cell_of = cells.get
        bound = bound_per_s if bound_per_s is not None and bound_per_s > 0 else None
        for field, out_name, bounded, times in counters:
            cell = cell_of(field)
            if cell is None:
                continue
            value = cell[2]
            if not isinstance(value, int):
                continue
            at = times.get(index, now) if times else now
            previous = last(field)
            baselines[field] = (value, at)
            if previous is None:
                continue
            prev_value, prev_at = previous
            if prev_at < at and prev_value <= value:  # the common case, inline
                per_s = (value - prev_value) / (at - prev_at)
                if bounded and bound is not None and per_s > bound:
                    self.stats["over_speed"] += 1
                else:
                    out[out_name] = per_s
            else:
                bits = 32 if cell[1] == COUNTER32 else 64
                max_per_s = bound_per_s if bounded else None
                if (rate := self._per_s(previous, value, bits, at, max_per_s)) is not None:
                    out[out_name] = rate

    def forget_rows(self, table: str, keep: set[Hashable]) -> None:
        """Drop baselines of `table`'s rows not in `keep` (interfaces that disappeared).

        Keys are `((table, index), field)`; rows are `(table, index)`.
        """
        gone = [
            row
            for row in self._rows
            if isinstance(row, tuple) and row[:1] == (table,) and row not in keep
        ]
        for row in gone:
            del self._rows[row]
            self._discontinuity.pop(row, None)


def utilisation_percent(octets_per_s: float | None, speed_bps: float | None) -> float | None:
    """Octets/s as a percentage of the link speed in bits/s (None if either is unknown)."""
    if octets_per_s is None or not speed_bps:
        return None
    return octets_per_s * 8.0 * 100.0 / speed_bps


# (derived field, its sources in order of preference, utilisation field)
_DIRECTIONS = (
    ("in_octets_rate", "ifHCInOctets_rate", "ifInOctets_rate", "in_utilization"),
    ("out_octets_rate", "ifHCOutOctets_rate", "ifOutOctets_rate", "out_utilization"),
)


def octet_rates_into(fields: MutableMapping[str, Any], speed_bps: float | None) -> None:
    """`in/out_octets_rate` from the HC octet rate (else the 32-bit one) and `in/out_utilization`
    against `speed_bps`: the interface fields every collector derives the same way."""
    for name, hc, low, pct_name in _DIRECTIONS:
        octets = fields.get(hc)
        if octets is None:
            octets = fields.get(low)
        if isinstance(octets, float):
            fields[name] = octets
            if (pct := utilisation_percent(octets, speed_bps)) is not None:
                fields[pct_name] = pct
