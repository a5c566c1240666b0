"""The typed values that cross chmd's stages: collect → store → rules → alerts → notify.

Nothing here does I/O. Every value is frozen, so a stage can hand it to several
consumers (the writer and the rule engine both get each Sample) without copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

Labels = tuple[tuple[str, str], ...]
"""Sorted (name, value) pairs: a hashable identity for a series or an alert."""

FieldValue = float | int | str | bool


def labels_of(mapping: Mapping[str, str]) -> Labels:
    """The canonical, sorted, hashable form of a tag mapping."""
    return tuple(sorted(mapping.items()))


@dataclass(frozen=True, slots=True)
class Sample:
    """One InfluxDB point, shaped like a Telegraf metric.

    `tags` always carry `device` (chmd's name) and `agent_host`; `time_ns` is the
    collection time in nanoseconds since the epoch (never the write time).
    """

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_ns: int


@dataclass(frozen=True, slots=True)
class CollectError:
    """One failed step of a poll. `reason` is a small, bounded word usable as a metric label."""

    device: str
    step: str  # e.g. "walk interfaces", "get system", "show version"
    reason: str  # timeout | auth | refused | parse | protocol | no_such_object | ...
    message: str  # for humans; never contains a secret


@dataclass(frozen=True, slots=True)
class PollResult:
    """One poll of one device by one collector, partial failures included."""

    device: str
    collector: str  # "snmp" | "ssh"
    samples: tuple[Sample, ...]
    duration_s: float
    errors: tuple[CollectError, ...] = ()
    varbinds: int = 0  # SNMP varbinds (or SSH output lines) read, for self-metrics

    @property
    def ok(self) -> bool:
        """True when the device answered at all (some samples, whatever the errors)."""
        return bool(self.samples)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class AlertState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One rule, one series, one tick."""

    rule: str
    labels: Labels
    value: float | None  # None: no data in the window
    breached: bool
    at: datetime  # the tick's time, passed in
    detail: Mapping[str, str] = field(default_factory=dict)  # e.g. predicted time for forecasts


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as the rule engine sees it; `fingerprint` is stable across restarts."""

    rule: str
    fingerprint: str
    labels: Labels  # identifying labels: rule labels + series tags (device, ifName, ...)
    severity: Severity
    state: AlertState
    value: float | None
    summary: str
    description: str
    active_since: datetime
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    flapping: bool = False

    def label(self, name: str, default: str = "") -> str:
        for key, value in self.labels:
            if key == name:
                return value
        return default


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one receiver (a receiver name, never its Apprise URL)."""

    receiver: str
    title: str
    body: str
    resolved: bool
    alerts: tuple[Alert, ...]
