"""Recurring time intervals (weekdays, times of day, a time zone), as Alertmanager's
`time_intervals`. Used by routes (`active_time_intervals`, `mute_time_intervals`) and
by recurring maintenance windows. Pure: `contains(now)` takes the instant to test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_weekdays(spec: str) -> frozenset[int]:
    """`monday:friday` → {0..4}; `sunday` → {6}. Ranges may not wrap."""
    text = spec.strip().lower()
    first, _, last = text.partition(":")
    for day in (first, last) if last else (first,):
        if day not in WEEKDAYS:
            raise ValueError(f"bad weekday {day!r} (write monday … sunday, or monday:friday)")
    start = WEEKDAYS.index(first)
    end = WEEKDAYS.index(last) if last else start
    if end < start:
        raise ValueError(f"weekday range {spec!r} goes backwards (write e.g. monday:friday)")
    return frozenset(range(start, end + 1))


def parse_clock(text: str) -> int:
    """`08:30` → minutes since midnight; `24:00` is allowed as an end."""
    hours, sep, minutes = text.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"bad time {text!r} (write HH:MM, e.g. 08:00)")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 24 * 60:
        raise ValueError(f"bad time {text!r} (00:00 … 24:00)")
    return value


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r} (write an IANA name like Europe/Zurich)"
        ) from exc


@dataclass(frozen=True, slots=True)
class TimeInterval:
    """One `times`/`weekdays` block in a zone; empty weekdays or times mean 'any'."""

    weekdays: frozenset[int]
    minutes: tuple[tuple[int, int], ...]  # [start, end) in minutes since local midnight
    location: ZoneInfo

    def contains(self, now: datetime) -> bool:
        local = now.astimezone(self.location)
        if self.weekdays and local.weekday() not in self.weekdays:
            return False
        if not self.minutes:
            return True
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.minutes)


def compile_interval(
    weekdays: Sequence[str], times: Sequence[tuple[str, str]], location: str
) -> TimeInterval:
    days: frozenset[int] = frozenset().union(*(parse_weekdays(d) for d in weekdays))
    ranges = []
    for start, end in times:
        lo, hi = parse_clock(start), parse_clock(end)
        if hi <= lo:
            raise ValueError(f"time range {start}-{end} ends before it starts")
        ranges.append((lo, hi))
    return TimeInterval(days, tuple(ranges), zone(location))


def in_any(intervals: Sequence[TimeInterval], now: datetime) -> bool:
    return any(i.contains(now) for i in intervals)


__all__ = ["WEEKDAYS", "TimeInterval", "compile_interval", "in_any"]
