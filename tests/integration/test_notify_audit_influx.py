"""Audit events as `alerts` samples, written to the real InfluxDB 1.6.7 next to the rule
engine's state-change samples (no field-type conflicts, tags queryable)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from harness import InfluxDB

from chmd.alerts.audit import AuditEvent, audit_samples
from chmd.model import Alert, AlertState, Severity
from chmd.rules.samples import alert_samples
from chmd.store.lineproto import SkipCounts, encode_many

pytestmark = pytest.mark.integration


def test_audit_samples_land_in_influxdb(influxdb: InfluxDB) -> None:
    """Rule state changes and audit events share the measurement; both are stored and
    the audit events can be selected by their `event` tag."""
    db = f"notify_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(db)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    alert = Alert(
        "device_unreachable",
        "00ff00ff00ff00ff",
        (("device", "sw1"),),
        Severity.CRITICAL,
        AlertState.FIRING,
        None,
        "sw1 is unreachable",
        "",
        t0,
        t0,
    )
    events = [
        AuditEvent(
            "delivery",
            t0 + timedelta(seconds=31),
            {"receiver": "ops", "outcome": "delivered", "attempts": 1, "alerts": 1, "title": "x"},
        ),
        AuditEvent(
            "ack",
            t0 + timedelta(seconds=60),
            {
                "fingerprint": alert.fingerprint,
                "by": "alice",
                "comment": 'on it, "quoted"',
                "device": "sw1",
                "rule": alert.rule,
            },
        ),
        AuditEvent(
            "escalation",
            t0 + timedelta(seconds=90),
            {"receiver": "oncall", "step": 0, "group": 'root|[["device", "sw1"]]'},
        ),
    ]
    skipped = SkipCounts()
    lines = encode_many(
        [*alert_samples([alert], t0 + timedelta(seconds=30)), *audit_samples(events)], skipped
    )
    influxdb.write("\n".join(lines), db)
    result = influxdb.query("SELECT * FROM alerts WHERE \"event\" != '' ORDER BY time", db=db)
    series = result["results"][0]["series"][0]
    rows = [dict(zip(series["columns"], values, strict=True)) for values in series["values"]]
    assert [r["event"] for r in rows] == ["delivery", "ack", "escalation"]
    assert rows[1]["comment"] == 'on it, "quoted"'
    assert rows[1]["fingerprint"] == alert.fingerprint
    assert rows[2]["step"] == 0
    states = influxdb.query("SELECT state, summary FROM alerts", db=db)["results"][0]["series"][0]
    assert [v[1:] for v in states["values"]] == [["firing", "sw1 is unreachable"]]
