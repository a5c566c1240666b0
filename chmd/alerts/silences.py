"""Silences and maintenance windows: alerts they match are not notified.

Two sources, one type: maintenance windows from `notify.maintenance` in the YAML
(one-off with `starts_at`/`ends_at`, or recurring with `time_intervals`), and
silences created at run time (`chmd silence add … --for 2h`) kept in
`<state_dir>/silences.json`. The daemon re-reads that file when it changes, so a
silence added by the CLI takes effect at the next evaluation tick.

`active_silence(silences, labels, now)` is the pure decision.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chmd.alerts.jsonfile import JsonFile
from chmd.alerts.matchers import Matcher, matches_all, parse_matchers
from chmd.alerts.routing import compile_intervals
from chmd.alerts.timeintervals import TimeInterval, in_any
from chmd.notify.settings import NotifySettings

SILENCES_FILE = "silences.json"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime | None
    ends_at: datetime | None  # None only for recurring windows
    comment: str = ""
    created_by: str = ""
    source: str = "cli"  # cli | yaml
    recurring: tuple[TimeInterval, ...] = ()

    def active(self, now: datetime) -> bool:
        if self.starts_at is not None and now < self.starts_at:
            return False
        if self.ends_at is not None and now >= self.ends_at:
            return False
        return not self.recurring or in_any(self.recurring, now)

    def expired(self, now: datetime) -> bool:
        return self.ends_at is not None and now >= self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": [str(m) for m in self.matchers],
            "starts_at": self.starts_at.isoformat() if self.starts_at else None,
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "comment": self.comment,
            "created_by": self.created_by,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Silence:
        return cls(
            id=str(data["id"]),
            matchers=parse_matchers(data["matchers"]),
            starts_at=_time(data.get("starts_at")),
            ends_at=_time(data.get("ends_at")),
            comment=str(data.get("comment", "")),
            created_by=str(data.get("created_by", "")),
        )


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def active_silence(
    silences: Iterable[Silence], labels: Mapping[str, str], now: datetime
) -> Silence | None:
    """The first silence or maintenance window muting these labels at `now`, if any."""
    for silence in silences:
        if silence.active(now) and silence.matches(labels):
            return silence
    return None


def maintenance_windows(settings: NotifySettings) -> tuple[Silence, ...]:
    return tuple(
        Silence(
            id=f"yaml:{w.name}",
            matchers=parse_matchers(w.matchers),
            starts_at=w.starts_at,
            ends_at=w.ends_at,
            comment=w.comment,
            created_by="etc/chmd.yaml",
            source="yaml",
            recurring=compile_intervals(settings.time_intervals, w.time_intervals),
        )
        for w in settings.maintenance
    )


def new_silence(
    matchers: Sequence[str], starts_at: datetime, ends_at: datetime, comment: str, created_by: str
) -> Silence:
    if not matchers:
        raise ValueError("a silence needs at least one matcher, e.g. device=core-sw1")
    if ends_at <= starts_at:
        raise ValueError("a silence must end after it starts")
    return Silence(
        id=secrets.token_hex(6),
        matchers=parse_matchers(matchers),
        starts_at=starts_at,
        ends_at=ends_at,
        comment=comment,
        created_by=created_by,
    )


class SilenceStore:
    """Run-time silences in `<state_dir>/silences.json`, rewritten atomically.

    Both the CLI and the daemon use it; `refresh()` re-reads the file when its
    modification time changed (cheap enough for every tick).
    """

    def __init__(self, state_dir: Path) -> None:
        self._file = JsonFile(Path(state_dir) / SILENCES_FILE)
        self.path = self._file.path
        self._silences: dict[str, Silence] = {}
        self._load()

    def refresh(self) -> None:
        """Re-read the file if another process changed it."""
        if self._file.changed():
            self._load()

    def _load(self) -> None:
        data = self._file.read() or []
        self._silences = {s.id: s for s in (Silence.from_json(d) for d in data)}

    def all(self) -> list[Silence]:
        return sorted(self._silences.values(), key=lambda s: (s.starts_at or _EPOCH, s.id))

    def add(self, silence: Silence) -> Silence:
        with self._file.locked():
            self._load()
            self._silences[silence.id] = silence
            self._save()
        return silence

    def expire(self, silence_id: str, now: datetime) -> Silence:
        """End a silence now. Accepts a unique prefix of the id."""
        with self._file.locked():
            self._load()
            found = [s for s in self._silences.values() if s.id.startswith(silence_id)]
            if len(found) != 1:
                raise KeyError(
                    f"{'no' if not found else 'more than one'} silence with id {silence_id!r}"
                )
            expired = replace(found[0], ends_at=min(now, found[0].ends_at or now))
            self._silences[expired.id] = expired
            self._save()
        return expired

    def _save(self) -> None:
        self._file.write([s.to_json() for s in self.all()])
