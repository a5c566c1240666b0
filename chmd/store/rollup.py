"""Rollups computed by chmd: per series and window, mean/min/max/last of every numeric field.

Pure core (`Rollups.observe`, `Rollups.close_due` take times, never read a clock) plus JSON
persistence of the open windows (`to_json`/`from_json`), so a restart neither loses nor
doubles a window.

Windows are aligned to the epoch like InfluxQL's `GROUP BY time(5m)`; a closed window becomes
one `Sample` with the raw sample's measurement and tags, time = window start, and fields
`<field>_mean`, `<field>_min`, `<field>_max`, `<field>_last` (all floats) for every int/float
field (booleans and strings are not rolled up). A window closes when a sample of the same
series arrives in a later window, or when `close_due(now)` finds it ended more than `grace`
ago. A sample older than its series' open window (or of an already closed window) is late:
counted, not rolled up (a closed window is never written twice).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chmd.model import Sample

SUFFIXES = ("mean", "min", "max", "last")


@dataclass(slots=True)
class _Agg:
    count: int = 0
    total: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")
    last: float = 0.0
    last_ns: int = -1

    def add(self, value: float, time_ns: int) -> None:
        self.count += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        if time_ns >= self.last_ns:
            self.last, self.last_ns = value, time_ns


@dataclass(slots=True)
class _Window:
    start_ns: int
    measurement: str
    tags: dict[str, str]
    aggs: dict[str, _Agg] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Closed:
    tier: str
    sample: Sample


class Rollups:
    """Open windows for every (tier, series); `tiers` maps tier name → window in seconds."""

    def __init__(self, tiers: Mapping[str, float]) -> None:
        self.tiers = {name: int(seconds * 1e9) for name, seconds in tiers.items()}
        self._open: dict[tuple[str, str], _Window] = {}
        self._closed_upto: dict[tuple[str, str], int] = {}  # last closed window start
        self.late = 0

    def observe(self, sample: Sample, series: str) -> list[Closed]:
        """Add one raw sample (`series` = its line-protocol series key); returns closed windows."""
        numeric = [
            (k, float(v))
            for k, v in sample.fields.items()
            if type(v) is float or (type(v) is int and not isinstance(v, bool))
        ]
        if not numeric:
            return []
        out: list[Closed] = []
        t = sample.time_ns
        for tier, width in self.tiers.items():
            start = t - t % width
            key = (tier, series)
            window = self._open.get(key)
            if window is None or start > window.start_ns:
                if start <= self._closed_upto.get(key, -1):
                    self.late += 1
                    continue
                if window is not None:
                    out.append(self._close(key, window))
                window = _Window(start, sample.measurement, dict(sample.tags))
                self._open[key] = window
            elif start < window.start_ns:
                self.late += 1
                continue
            aggs = window.aggs
            for name, value in numeric:
                if value != value or value in (float("inf"), float("-inf")):
                    continue
                agg = aggs.get(name)
                if agg is None:
                    agg = aggs[name] = _Agg()
                agg.add(value, t)
        return out

    def close_due(self, now_ns: int, grace_s: float = 0.0) -> list[Closed]:
        """Close every window that ended more than `grace_s` before `now_ns`."""
        grace = int(grace_s * 1e9)
        out = []
        for key, window in list(self._open.items()):
            if window.start_ns + self.tiers[key[0]] + grace <= now_ns:
                out.append(self._close(key, window))
        return out

    def _close(self, key: tuple[str, str], window: _Window) -> Closed:
        del self._open[key]
        self._closed_upto[key] = window.start_ns
        fields: dict[str, float] = {}
        for name, agg in window.aggs.items():
            if agg.count:
                fields[f"{name}_mean"] = agg.total / agg.count
                fields[f"{name}_min"] = agg.low
                fields[f"{name}_max"] = agg.high
                fields[f"{name}_last"] = agg.last
        return Closed(key[0], Sample(window.measurement, window.tags, fields, window.start_ns))

    def open_windows(self) -> int:
        return len(self._open)

    # --- persistence -----------------------------------------------------------------------
    def to_json(self) -> str:
        windows = [
            {
                "tier": tier,
                "series": series,
                "start_ns": w.start_ns,
                "measurement": w.measurement,
                "tags": w.tags,
                "aggs": {
                    k: [a.count, a.total, a.low, a.high, a.last, a.last_ns]
                    for k, a in w.aggs.items()
                },
            }
            for (tier, series), w in self._open.items()
        ]
        closed = [[t, s, v] for (t, s), v in self._closed_upto.items()]
        return json.dumps({"version": 1, "windows": windows, "closed": closed})

    def load_json(self, text: str) -> None:
        """Restore open windows saved by `to_json` (tiers no longer configured are dropped)."""
        data: dict[str, Any] = json.loads(text)
        for item in data.get("windows", []):
            if item["tier"] not in self.tiers:
                continue
            window = _Window(item["start_ns"], item["measurement"], dict(item["tags"]))
            for name, (count, total, low, high, last, last_ns) in item["aggs"].items():
                window.aggs[name] = _Agg(count, total, low, high, last, last_ns)
            self._open[(item["tier"], item["series"])] = window
        for tier, series, start in data.get("closed", []):
            if tier in self.tiers:
                self._closed_upto[(tier, series)] = start
