"""Alert state changes as `Sample`s of the `alerts` measurement (Grafana annotations).

Tags: `rule`, `severity`, `fingerprint` and the alert's identifying labels (device, ifName…);
fields: `state` (pending|firing|resolved|inactive), `value`, `summary`, `flapping`.
The daemon hands these to the store's writer like any other sample.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from chmd.model import Alert, FieldValue, Sample

MEASUREMENT = "alerts"


def alert_samples(alerts: Iterable[Alert], now: datetime) -> list[Sample]:
    """One sample per changed alert, stamped `now` (the evaluation tick)."""
    time_ns = int(now.timestamp() * 1e9)
    out: list[Sample] = []
    for alert in alerts:
        tags = {k: v for k, v in alert.labels if v != ""}
        tags.update(rule=alert.rule, severity=alert.severity.value, fingerprint=alert.fingerprint)
        fields: dict[str, FieldValue] = {
            "state": alert.state.value,
            "summary": alert.summary,
            "flapping": alert.flapping,
        }
        if alert.value is not None:
            fields["value"] = float(alert.value)
        out.append(Sample(MEASUREMENT, tags, fields, time_ns))
    return out
