"""The dedup decision and escalation timing: pure functions of (log entry, alerts, now)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chmd.alerts.dedup import Action, Entry, decide, due_escalations, plan_flush
from chmd.model import Alert, AlertState, Severity

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
F = frozenset


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_first_notification_for_a_new_group() -> None:
    """Nothing logged and something firing: send, because the group is new."""
    d = decide(None, F({"a"}), F(), F(), True, 3600, T0)
    assert (d.action, d.reason) == (Action.SEND, "new group: first notification")


def test_nothing_to_say_without_log_and_without_firing() -> None:
    """Nothing logged and nothing firing (a blip resolved before the first flush): skip."""
    assert decide(None, F(), F({"a"}), F(), True, 3600, T0).action is Action.SKIP


def test_same_alerts_within_repeat_interval_are_skipped_with_reason() -> None:
    """The same firing set 10 minutes later is skipped, saying when the repeat comes."""
    d = decide(Entry(F({"a"}), F(), T0), F({"a"}), F(), F(), True, 3600, at(10))
    assert d.action is Action.SKIP
    assert d.reason == "already sent 600s ago; repeat in 3000s"


def test_new_firing_alert_is_sent() -> None:
    """A firing alert the receiver was not told about triggers a message."""
    d = decide(Entry(F({"a"}), F(), T0), F({"a", "b"}), F(), F(), True, 3600, at(1))
    assert (d.action, d.reason) == (Action.SEND, "1 new firing alert(s)")


def test_partial_recovery_is_sent_with_send_resolved() -> None:
    """One of two alerts resolving is news when send_resolved is on, not when off."""
    entry = Entry(F({"a", "b"}), F(), T0)
    assert decide(entry, F({"a"}), F({"b"}), F(), True, 3600, at(1)).action is Action.SEND
    assert decide(entry, F({"a"}), F({"b"}), F(), False, 3600, at(1)).action is Action.SKIP


def test_full_recovery_without_send_resolved_is_recorded_silently() -> None:
    """Everything resolved with send_resolved off: CLEAR (log it, send nothing)."""
    d = decide(Entry(F({"a"}), F(), T0), F(), F({"a"}), F(), False, 3600, at(1))
    assert d.action is Action.CLEAR


def test_repeat_after_interval_is_flagged_as_repeat() -> None:
    """After repeat_interval the unchanged group is sent again, flagged as a repeat."""
    d = decide(Entry(F({"a"}), F(), T0), F({"a"}), F(), F(), True, 3600, at(60))
    assert (d.action, d.repeat) == (Action.SEND, True)


def test_acknowledged_alerts_are_not_repeated() -> None:
    """With every firing alert acknowledged, the repeat is skipped and the reason says so."""
    d = decide(Entry(F({"a"}), F(), T0), F({"a"}), F(), F({"a"}), True, 3600, at(120))
    assert (d.action, d.reason) == (Action.SKIP, "every firing alert is acknowledged: no repeat")


def test_escalation_steps_become_due_in_order() -> None:
    """Steps at 15m and 60m: none at 14m, the first at 15m, both at 60m unless already done."""
    steps = (900.0, 3600.0)
    assert due_escalations(steps, F(), T0, at(14)) == []
    assert due_escalations(steps, F(), T0, at(15)) == [0]
    assert due_escalations(steps, F({0}), T0, at(60)) == [1]


def test_no_escalation_when_nothing_unacknowledged_fires() -> None:
    """All firing alerts acknowledged (no oldest unacked time): nothing escalates."""
    assert due_escalations((60.0,), F(), None, at(600)) == []


def _alert(fp: str, state: AlertState) -> Alert:
    return Alert("r", fp, (("device", "d"),), Severity.MAJOR, state, None, "", "", T0, T0)


def test_plan_lists_firing_and_only_told_recoveries() -> None:
    """A message lists the firing alerts and recoveries of alerts the receiver was told about."""
    visible = [
        _alert("a", AlertState.FIRING),
        _alert("b", AlertState.RESOLVED),
        _alert("c", AlertState.RESOLVED),
    ]
    plan = plan_flush(Entry(F({"b"}), F(), T0), visible, F(), True, 3600, at(5))
    assert plan.decision.action is Action.SEND
    assert [a.fingerprint for a in plan.alerts] == ["a", "b"]
    assert plan.entry == Entry(F({"a"}), F({"b", "c"}), at(5))


def test_plan_marks_repeats_as_reminders() -> None:
    """A repeat after repeat_interval carries the note `reminder`; an explicit note wins."""
    visible = [_alert("a", AlertState.FIRING)]
    entry = Entry(F({"a"}), F(), T0)
    assert plan_flush(entry, visible, F(), True, 3600, at(60)).note == "reminder"
    assert plan_flush(entry, visible, F(), True, 3600, at(60), "escalated").note == "escalated"
