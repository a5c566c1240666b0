"""Acks: signed links (HMAC-SHA256, expiry), when an ack holds, acking by id prefix."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from chmd.alerts.acks import (
    Ack,
    AckError,
    AckStore,
    LinkCheck,
    ack_alert,
    ack_link,
    check_link,
)
from chmd.alerts.snapshot import write_snapshot
from chmd.model import Alert, AlertState, Severity

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
KEY = b"0123456789abcdef0123456789abcdef"


def firing(fp: str = "abc123def456", severity: Severity = Severity.MAJOR) -> Alert:
    return Alert(
        "interface_down",
        fp,
        (("device", "sw1"),),
        severity,
        AlertState.FIRING,
        0.0,
        "sw1 Gi1/0/1 down",
        "",
        T0,
        T0,
    )


def parts(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    query = parse_qs(split.query)
    return split.path.rsplit("/", 1)[1], query["exp"][0], query["sig"][0]


def test_link_verifies_until_it_expires() -> None:
    """A fresh link checks OK; at its expiry time it is EXPIRED (HTTP 410)."""
    fp, exp, sig = parts(ack_link("https://chmd", KEY, "abc123", T0, 3600))
    assert check_link(KEY, fp, exp, sig, T0 + timedelta(seconds=3599)) is LinkCheck.OK
    assert check_link(KEY, fp, exp, sig, T0 + timedelta(seconds=3600)) is LinkCheck.EXPIRED


@pytest.mark.parametrize("field", ["fingerprint", "exp", "sig", "key"])
def test_altered_link_fails_signature(field: str) -> None:
    """Changing fingerprint, expiry, signature or key fails as BAD_SIGNATURE (HTTP 403)."""
    fp, exp, sig = parts(ack_link("https://chmd", KEY, "abc123", T0, 3600))
    key = KEY
    if field == "fingerprint":
        fp = "abc124"
    elif field == "exp":
        exp = str(int(exp) + 86400)  # trying to extend an expired link
    elif field == "sig":
        sig = ("0" if sig[0] != "0" else "1") + sig[1:]
    else:
        key = b"another key"
    assert check_link(key, fp, exp, sig, T0) is LinkCheck.BAD_SIGNATURE


def test_ack_holds_until_severity_rises_or_alert_resolves() -> None:
    """An ack covers its episode at its severity; worse, resolved or a new episode voids it."""
    a = firing()
    ack = Ack(a.fingerprint, T0 + timedelta(minutes=5), "alice", "", Severity.MAJOR)
    assert ack.holds_for(a)
    assert ack.holds_for(replace(a, severity=Severity.MINOR))
    assert not ack.holds_for(replace(a, severity=Severity.CRITICAL))
    assert not ack.holds_for(replace(a, state=AlertState.RESOLVED))
    assert not ack.holds_for(replace(a, active_since=T0 + timedelta(hours=1)))


def test_ack_by_unique_prefix_is_stored(tmp_path: Path) -> None:
    """`ack_alert` resolves a fingerprint prefix against the snapshot and stores the ack."""
    write_snapshot(tmp_path / "notify", [firing("abc123def456"), firing("abd999000111")])
    ack = ack_alert(tmp_path, "abc", "on it", "alice", T0)
    assert (ack.fingerprint, ack.severity, ack.comment) == ("abc123def456", Severity.MAJOR, "on it")
    assert AckStore(tmp_path / "notify").acks["abc123def456"].by == "alice"


@pytest.mark.parametrize(("prefix", "message"), [("ab", "ambiguous"), ("zz", "no active alert")])
def test_ack_refuses_ambiguous_or_unknown_ids(tmp_path: Path, prefix: str, message: str) -> None:
    """An id prefix matching several alerts, or none, is refused with a clear message."""
    write_snapshot(tmp_path / "notify", [firing("abc123def456"), firing("abd999000111")])
    with pytest.raises(AckError, match=message):
        ack_alert(tmp_path, prefix, "", "alice", T0)
