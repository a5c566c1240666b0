"""The alerts the pipeline tracks, saved in `<state_dir>/notify/alerts.json`.

Written by the daemon whenever the set changes; read back at start-up (so recoveries that
happened while chmd was down are still announced) and by `chmd alerts ack` (to resolve
an id prefix and check the alert is firing).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from chmd.model import Alert, AlertState, Severity
from chmd.statefile import write_json

SNAPSHOT_FILE = "alerts.json"
NOTIFY_SUBDIR = "notify"


def notify_state_dir(state_dir: Path) -> Path:
    """Where the notification stage keeps its files: `<state_dir>/notify/`."""
    return Path(state_dir) / NOTIFY_SUBDIR


log = structlog.get_logger("chmd.alerts")


def write_snapshot(state_dir: Path, alerts: Iterable[Alert]) -> None:
    data = [
        {
            "fingerprint": a.fingerprint,
            "rule": a.rule,
            "labels": dict(a.labels),
            "severity": str(a.severity),
            "state": str(a.state),
            "active_since": a.active_since.isoformat(),
            "fired_at": a.fired_at.isoformat() if a.fired_at else None,
            "value": a.value,
            "summary": a.summary,
            "description": a.description,
        }
        for a in sorted(alerts, key=lambda a: a.fingerprint)
    ]
    write_json(Path(state_dir) / SNAPSHOT_FILE, data)


def read_snapshot(state_dir: Path) -> list[dict[str, Any]]:
    try:
        text = (Path(state_dir) / SNAPSHOT_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return list(json.loads(text)) if text else []


def restore_alerts(state_dir: Path) -> Iterator[Alert]:
    """Alerts from the last snapshot; malformed entries are skipped with a warning."""
    for item in read_snapshot(state_dir):
        try:
            yield Alert(
                rule=item["rule"],
                fingerprint=item["fingerprint"],
                labels=tuple(sorted(item["labels"].items())),
                severity=Severity(item["severity"]),
                state=AlertState(item["state"]),
                value=item.get("value"),
                summary=item.get("summary", ""),
                description=item.get("description", ""),
                active_since=datetime.fromisoformat(item["active_since"]),
                fired_at=datetime.fromisoformat(item["fired_at"]) if item.get("fired_at") else None,
            )
        except (KeyError, ValueError, TypeError, AttributeError):
            log.warning(
                "alert_snapshot_entry_skipped", fingerprint=str(item.get("fingerprint"))[:12]
            )
