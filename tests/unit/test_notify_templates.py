"""Message templates: the defaults' exact text, overrides, and load-time checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chmd.model import Alert, AlertState, Severity
from chmd.notify.templates import Templates, check_template, render

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def port_down(if_name: str, value: float = 2.0) -> Alert:
    return Alert(
        rule="interface_down",
        fingerprint=f"0123456789ab{if_name}",
        labels=(("device", "core-sw1"), ("ifName", if_name), ("site", "zrh")),
        severity=Severity.MAJOR,
        state=AlertState.FIRING,
        value=value,
        summary=f"core-sw1 {if_name} is down",
        description="",
        active_since=T0,
        fired_at=T0,
    )


def test_default_single_alert_message() -> None:
    """One alert: the title says status, severity, device, summary; the body value, since, ack."""
    title, body = render(
        Templates(),
        "ops",
        [port_down("Gi1/0/1")],
        T0 + timedelta(minutes=15),
        lambda a: "https://chmd/-/ack/x?exp=1&sig=2",
    )
    assert title == "[FIRING] MAJOR core-sw1: core-sw1 Gi1/0/1 is down"
    assert body == (
        "FIRING MAJOR interface_down on core-sw1 Gi1/0/1 at site zrh: core-sw1 Gi1/0/1 is down\n"
        "  value 2, since 2026-11-25 10:00 UTC (15m), id 0123456789ab\n"
        "  ack: https://chmd/-/ack/x?exp=1&sig=2"
    )


def test_group_title_counts_and_resolved_alerts_have_no_ack_link() -> None:
    """A group title counts alerts per rule; resolved alerts come last and carry no ack link."""
    done = port_down("Gi1/0/2")
    done = Alert(
        **{
            **{f: getattr(done, f) for f in done.__slots__},  # type: ignore[arg-type]
            "state": AlertState.RESOLVED,
            "resolved_at": T0 + timedelta(minutes=5),
        }
    )
    title, body = render(
        Templates(),
        "ops",
        [done, port_down("Gi1/0/1")],
        T0 + timedelta(minutes=9),
        lambda a: "https://ack",
    )
    assert title == "[FIRING] MAJOR core-sw1: 2 alerts: interface_down x2"
    first, second = body.split("\n\n")
    assert first.startswith("FIRING")
    assert "ack: https://ack" in first
    assert second.startswith("RESOLVED")
    assert "ack:" not in second
    assert "(5m)" in second


def test_receiver_override_for_sms() -> None:
    """A short per-receiver template (for SMS) renders only what it names."""
    sms = Templates(title="$SEVERITY $device", body="$headline ($count)", alert_line="")
    title, body = render(sms, "sms", [port_down("Gi1/0/1")], T0, lambda a: None)
    assert (title, body) == ("MAJOR core-sw1", "core-sw1 Gi1/0/1 is down (1)")


@pytest.mark.parametrize(
    ("text", "message"),
    [("$devcie down", "unknown template field"), ("cost: $", "bad template")],
)
def test_template_errors_at_load(text: str, message: str) -> None:
    """Typos in field names and stray `$` are refused when the config is loaded."""
    with pytest.raises(ValueError, match=message):
        check_template(text)
