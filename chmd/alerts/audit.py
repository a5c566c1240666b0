"""The audit trail: acks, silences, escalations and deliveries.

Each event is one JSON line appended to `<state_dir>/audit.jsonl` (never rewritten)
and can be turned into a `Sample` of the `alerts` measurement (tag `event`) so the
daemon writes it to InfluxDB next to the rule engine's state changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from chmd.model import Sample

AUDIT_FILE = "audit.jsonl"
# Fields that become InfluxDB tags (small, bounded sets); the rest become fields.
_TAG_KEYS = ("receiver", "device", "rule", "outcome", "by", "fingerprint")  # as chmd.rules.samples


@dataclass(frozen=True, slots=True)
class AuditEvent:
    kind: str  # ack | silence_add | silence_expire | escalation | delivery | held_back
    at: datetime
    data: Mapping[str, str | int | float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"at": self.at.isoformat(), "event": self.kind, **self.data}


class AuditLog:
    """Append-only JSON lines; one `write` per event, flushed at once."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / AUDIT_FILE

    def append(self, event: AuditEvent) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(event.to_json(), sort_keys=True, default=str)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    def read(self) -> list[dict[str, object]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def audit_samples(events: Iterable[AuditEvent]) -> list[Sample]:
    """`alerts` measurement points for audit events (tag `event`, bounded tags, rest as fields)."""
    samples = []
    for event in events:
        tags = {"event": event.kind}
        fields: dict[str, str | int | float] = {}
        for key, value in event.data.items():
            if key in _TAG_KEYS and isinstance(value, str) and value:
                tags[key] = value
            else:
                fields[key] = value
        if not fields:
            fields["count"] = 1
        time_ns = int(event.at.timestamp()) * 1_000_000_000 + event.at.microsecond * 1000
        samples.append(Sample("alerts", tags, fields, time_ns))
    return samples
