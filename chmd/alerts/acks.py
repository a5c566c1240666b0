"""Acknowledgements: stored acks, whether one still holds, and signed ack links.

An ack stops repeats and escalation for one alert (by fingerprint) until the alert
resolves or its severity rises above the acknowledged one. Acks live in
`<state_dir>/notify/acks.json` so `chmd alerts ack` (another process) and the daemon share
them; the daemon re-reads the file when it changes.

Ack links carry `exp` (unix seconds) and `sig` = hex HMAC-SHA256(key, "<fingerprint>:<exp>").
An altered link fails the signature (HTTP 403); an expired one is refused with 410.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chmd.alerts.audit import AuditEvent, AuditLog
from chmd.alerts.jsonfile import JsonFile
from chmd.alerts.snapshot import notify_state_dir, read_snapshot
from chmd.model import Alert, AlertState, Severity

ACKS_FILE = "acks.json"


@dataclass(frozen=True, slots=True)
class Ack:
    fingerprint: str
    at: datetime
    by: str
    comment: str
    severity: Severity  # the severity acknowledged; a higher one voids the ack

    def holds_for(self, alert: Alert) -> bool:
        """True while `alert` is the same firing episode, no worse than when acked."""
        return (
            alert.fingerprint == self.fingerprint
            and alert.state is not AlertState.RESOLVED
            and self.at >= alert.active_since
            and alert.severity.rank <= self.severity.rank
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        data["severity"] = str(self.severity)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Ack:
        return cls(
            fingerprint=str(data["fingerprint"]),
            at=datetime.fromisoformat(str(data["at"])),
            by=str(data.get("by", "")),
            comment=str(data.get("comment", "")),
            severity=Severity(str(data["severity"])),
        )


def acked_fingerprints(acks: Mapping[str, Ack], alerts: Iterable[Alert]) -> frozenset[str]:
    return frozenset(
        a.fingerprint for a in alerts if (ack := acks.get(a.fingerprint)) and ack.holds_for(a)
    )


class AckStore:
    """Acks by fingerprint in `<state_dir>/acks.json`."""

    def __init__(self, state_dir: Path) -> None:
        self._file = JsonFile(Path(state_dir) / ACKS_FILE)
        self._acks: dict[str, Ack] = {}
        self._load()

    def refresh(self) -> None:
        """Re-read the file if another process changed it."""
        if self._file.changed():
            self._load()

    def _load(self) -> None:
        data = self._file.read() or []
        self._acks = {a.fingerprint: a for a in (Ack.from_json(d) for d in data)}

    @property
    def acks(self) -> Mapping[str, Ack]:
        return self._acks

    def add(self, ack: Ack) -> None:
        with self._file.locked():
            self._load()
            self._acks[ack.fingerprint] = ack
            self._save()

    def forget(self, fingerprints: Iterable[str]) -> None:
        """Drop acks of alerts that resolved (their episode is over)."""
        gone = [fp for fp in fingerprints if fp in self._acks]
        if gone:
            with self._file.locked():
                self._load()
                for fp in gone:
                    self._acks.pop(fp, None)
                self._save()

    def _save(self) -> None:
        self._file.write(
            [a.to_json() for a in sorted(self._acks.values(), key=lambda a: a.fingerprint)]
        )


class AckError(Exception):
    """An ack could not be made (unknown or ambiguous id, alert not firing)."""


def ack_alert(
    state_dir: Path, alert_id: str, comment: str, by: str, now: datetime, *, audit: bool = True
) -> Ack:
    """Acknowledge a firing alert by fingerprint or unique fingerprint prefix.

    This is what `chmd alerts ack ID [--comment]` calls; it resolves the id against the
    alerts the daemon last saw (`<state_dir>/notify/alerts.json`), stores the ack and (by
    default) appends it to the audit log. `state_dir` is chmd's state dir.
    """
    directory = notify_state_dir(state_dir)
    known = [a for a in read_snapshot(directory) if str(a["fingerprint"]).startswith(alert_id)]
    if not alert_id or not known:
        raise AckError(f"no active alert with id {alert_id!r}")
    if len(known) > 1:
        raise AckError(f"id {alert_id!r} is ambiguous ({len(known)} alerts); give more characters")
    alert = known[0]
    if alert["state"] != str(AlertState.FIRING):
        raise AckError(f"alert {alert_id} is {alert['state']}, not firing")
    ack = Ack(str(alert["fingerprint"]), now, by, comment, Severity(alert["severity"]))
    AckStore(directory).add(ack)
    if audit:
        AuditLog(directory).append(
            AuditEvent("ack", now, {"fingerprint": ack.fingerprint, "by": by, "comment": comment})
        )
    return ack


# -- signed links ------------------------------------------------------------------------


class LinkCheck(StrEnum):
    OK = "ok"
    BAD_SIGNATURE = "bad_signature"  # HTTP 403
    EXPIRED = "expired"  # HTTP 410


def sign(key: bytes, fingerprint: str, expires: int) -> str:
    return hmac.new(key, f"{fingerprint}:{expires}".encode(), hashlib.sha256).hexdigest()


def ack_link(base_url: str, key: bytes, fingerprint: str, now: datetime, ttl_s: float) -> str:
    expires = int(now.timestamp() + ttl_s)
    sig = sign(key, fingerprint, expires)
    return f"{base_url.rstrip('/')}/-/ack/{quote(fingerprint, safe='')}?exp={expires}&sig={sig}"


def check_link(key: bytes, fingerprint: str, exp: str, sig: str, now: datetime) -> LinkCheck:
    """Verify a link's signature first (any alteration → 403), then its expiry (→ 410)."""
    if not exp.isdigit():
        return LinkCheck.BAD_SIGNATURE
    if not hmac.compare_digest(sign(key, fingerprint, int(exp)), sig):
        return LinkCheck.BAD_SIGNATURE
    if now.timestamp() >= int(exp):
        return LinkCheck.EXPIRED
    return LinkCheck.OK
