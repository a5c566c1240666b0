"""The alert state machine alone: `advance(record, breached, now, timing)`, pure."""

from __future__ import annotations

from chmd.model import AlertState
from chmd.rules.state import AlertRecord, Timing, advance, start

FOR_2M = Timing(for_s=120.0, flap_window_s=3600.0, flap_threshold=4, retention_s=900.0)


def walk(breaches: list[bool], timing: Timing, step_s: float = 60.0) -> list[str]:
    """Feed one breach flag per step; the visible state after each (or `gone`)."""
    rec: AlertRecord | None = None
    out = []
    for i, breached in enumerate(breaches):
        now = i * step_s
        if rec is None:
            if not breached:
                out.append("gone")
                continue
            rec = start("r", "fp", (("device", "sw1"),), None, now)
        rec, _ = advance(rec, breached, now, timing)
        out.append(rec.state.value + ("*" if rec and rec.flapping else "") if rec else "gone")
    return out


def test_fires_only_after_hold() -> None:
    """A breach must last for the rule's `for:` (2m) before the alert fires."""
    assert walk([True, True, True], FOR_2M) == ["pending", "pending", "firing"]


def test_pending_that_clears_goes_inactive() -> None:
    """A breach shorter than `for:` never fires; the record goes inactive."""
    assert walk([True, False], FOR_2M) == ["pending", "inactive"]


def test_resolved_then_forgotten_after_retention() -> None:
    """A resolved alert is remembered for `retention_s` (15m) then dropped."""
    timing = Timing(for_s=0.0, retention_s=900.0, flap_window_s=60.0)
    states = walk([True, False] + [False] * 16, timing)
    assert states[:2] == ["firing", "resolved"]
    assert states[-1] == "gone"


def test_keep_firing_for_holds_through_a_gap() -> None:
    """keep_firing_for 3m: a 2-minute gap does not resolve, a 3-minute one does."""
    timing = Timing(for_s=0.0, keep_firing_for_s=180.0)
    assert walk([True, False, False, True, False, False, False], timing) == [
        "firing", "firing", "firing", "firing", "firing", "firing", "resolved",
    ]  # fmt: skip


def test_flapping_alert_stays_firing_and_is_marked() -> None:
    """Four firing/resolved flips within the hour mark it flapping: it stays firing."""
    timing = Timing(for_s=0.0, flap_threshold=4, flap_window_s=3600.0)
    states = walk([True, False, True, False, True, False, True, False], timing)
    assert states[:3] == ["firing", "resolved", "firing"]
    assert states[3] == "firing*"  # the 4th transition: flapping instead of resolving
    assert set(states[3:]) == {"firing*"}


def test_flapping_ends_after_a_quiet_window() -> None:
    """After a whole flap window without flips the alert leaves flapping and resolves."""
    timing = Timing(for_s=0.0, flap_threshold=4, flap_window_s=600.0)
    states = walk([True, False, True, False] + [False] * 12, timing)
    first_flap = states.index("firing*")
    after = states[first_flap:]
    quiet = after.index("resolved")
    assert set(after[:quiet]) == {"firing*"}
    assert quiet * 60.0 >= 600.0  # resolved only once the flips are a window old


def test_changed_flag_reports_only_visible_changes() -> None:
    """`advance` says changed exactly when the visible state or the flapping flag moves."""
    rec = start("r", "fp", (), None, 0.0)
    flags = []
    for i, breached in enumerate([True, True, True, True, False, False]):
        nxt, changed = advance(rec, breached, i * 60.0, FOR_2M)
        assert nxt is not None
        rec = nxt
        flags.append(changed)
    assert flags == [True, False, True, False, True, False]
    assert rec.state is AlertState.RESOLVED
    assert (rec.active_since, rec.fired_at, rec.resolved_at) == (0.0, 120.0, 240.0)
