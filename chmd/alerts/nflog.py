"""The notification log: what each receiver was told about each group, and when.

Entries become *confirmed* when a delivery succeeds (or is held back by the storm
cap) and are then written to `<state_dir>/notify-log.json`, so a restart neither
re-sends nor forgets. While a message is in flight its entry is *pending*: dedup
sees it (no second message for the same change), and a failed delivery rolls it
back so the next flush tries again. Group state (creation time, escalation steps
taken) is kept in the same file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from chmd.alerts.dedup import Entry
from chmd.statefile import write_json

NFLOG_FILE = "notify-log.json"

Key = tuple[str, str]  # (receiver, group key)


@dataclass
class GroupRecord:
    created_at: datetime
    escalated: set[int] = field(default_factory=set)


class NotificationLog:
    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / NFLOG_FILE
        self._confirmed: dict[Key, Entry] = {}
        self._pending: dict[Key, Entry] = {}
        self.groups: dict[str, GroupRecord] = {}
        self._dirty = False
        self._load()

    def get(self, receiver: str, group: str) -> Entry | None:
        key = (receiver, group)
        return self._pending.get(key) or self._confirmed.get(key)

    def in_flight(self, group: str) -> bool:
        return any(g == group for _, g in self._pending)

    def begin(self, receiver: str, group: str, entry: Entry) -> None:
        self._pending[(receiver, group)] = entry

    def finish(self, receiver: str, group: str, entry: Entry, ok: bool) -> None:
        key = (receiver, group)
        if self._pending.get(key) is entry:
            del self._pending[key]
        if ok:
            self._confirmed[key] = entry
            self._dirty = True

    def confirm(self, receiver: str, group: str, entry: Entry) -> None:
        self._confirmed[(receiver, group)] = entry
        self._dirty = True

    def forget_group(self, group: str) -> None:
        for key in [k for k in self._confirmed if k[1] == group]:
            del self._confirmed[key]
        self.groups.pop(group, None)
        self._dirty = True

    def mark_dirty(self) -> None:
        self._dirty = True

    def save(self) -> None:
        """Write confirmed entries and group records if anything changed (atomic replace)."""
        if not self._dirty:
            return
        data = {
            "entries": [
                {
                    "receiver": r,
                    "group": g,
                    "firing": sorted(e.firing),
                    "resolved": sorted(e.resolved),
                    "sent_at": e.sent_at.isoformat(),
                }
                for (r, g), e in sorted(self._confirmed.items())
            ],
            "groups": [
                {
                    "group": g,
                    "created_at": rec.created_at.isoformat(),
                    "escalated": sorted(rec.escalated),
                }
                for g, rec in sorted(self.groups.items())
            ],
        }
        write_json(self.path, data, sort_keys=False)
        self._dirty = False

    def _load(self) -> None:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        for item in data.get("entries", []):
            self._confirmed[(item["receiver"], item["group"])] = Entry(
                frozenset(item["firing"]),
                frozenset(item["resolved"]),
                datetime.fromisoformat(item["sent_at"]),
            )
        for item in data.get("groups", []):
            self.groups[item["group"]] = GroupRecord(
                datetime.fromisoformat(item["created_at"]), set(item["escalated"])
            )
