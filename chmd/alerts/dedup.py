"""Dedup against what was already sent: a pure decision that says *why*.

The notification log holds, per (receiver, group), the firing and resolved alert
fingerprints of the last message and when it went out. `decide` compares the group's
alerts now with that entry (as Alertmanager's `DedupStage.needsUpdate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chmd.model import Alert, AlertState


class Action(StrEnum):
    SEND = "send"
    SKIP = "skip"
    CLEAR = "clear"  # record "nothing firing" without a message (send_resolved: false)


@dataclass(frozen=True, slots=True)
class Entry:
    """What one receiver was last told about one group."""

    firing: frozenset[str]
    resolved: frozenset[str]
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str
    repeat: bool = False


def decide(
    entry: Entry | None,
    firing: frozenset[str],
    resolved: frozenset[str],
    acked: frozenset[str],
    send_resolved: bool,
    repeat_interval_s: float,
    now: datetime,
) -> Decision:
    """Whether to message a receiver about a group now, and why (pure)."""
    if entry is None:
        if firing:
            return Decision(Action.SEND, "new group: first notification")
        return Decision(Action.SKIP, "nothing firing and nothing sent before")
    if not firing <= entry.firing:
        return Decision(Action.SEND, f"{len(firing - entry.firing)} new firing alert(s)")
    newly_resolved = (resolved & entry.firing) - entry.resolved
    if not firing:
        if not entry.firing:
            return Decision(Action.SKIP, "already told: nothing firing")
        if send_resolved:
            return Decision(Action.SEND, "all alerts resolved")
        return Decision(Action.CLEAR, "all alerts resolved; send_resolved is off")
    if send_resolved and newly_resolved:
        return Decision(Action.SEND, f"{len(newly_resolved)} alert(s) resolved")
    unacked = firing - acked
    if not unacked:
        return Decision(Action.SKIP, "every firing alert is acknowledged: no repeat")
    elapsed = (now - entry.sent_at).total_seconds()
    if elapsed >= repeat_interval_s:
        return Decision(Action.SEND, f"still firing after repeat_interval ({elapsed:.0f}s)", True)
    return Decision(
        Action.SKIP,
        f"already sent {elapsed:.0f}s ago; repeat in {repeat_interval_s - elapsed:.0f}s",
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do for one receiver and group at a flush (pure result of `plan_flush`)."""

    decision: Decision
    entry: Entry  # what the log records once sent (or at once, for CLEAR)
    alerts: tuple[Alert, ...]  # what the message lists (SEND only): firing, then told-resolved
    note: str  # "reminder", an escalation note, or ""


def plan_flush(
    entry: Entry | None,
    visible: Sequence[Alert],
    acked: frozenset[str],
    send_resolved: bool,
    repeat_interval_s: float,
    now: datetime,
    note: str = "",
) -> Plan:
    """The dedup decision for the group's visible alerts, and the message it implies."""
    firing = frozenset(a.fingerprint for a in visible if a.state is AlertState.FIRING)
    resolved = frozenset(a.fingerprint for a in visible if a.state is AlertState.RESOLVED)
    decision = decide(entry, firing, resolved, acked, send_resolved, repeat_interval_s, now)
    if decision.action is Action.CLEAR:
        return Plan(decision, Entry(frozenset(), resolved, now), (), note)
    told = entry.firing if entry else frozenset()
    alerts = tuple(
        a
        for a in visible
        if a.state is AlertState.FIRING or (send_resolved and a.fingerprint in told)
    )
    return Plan(
        decision,
        Entry(firing, resolved, now),
        alerts,
        note or ("reminder" if decision.repeat else ""),
    )


def due_escalations(
    steps_after_s: tuple[float, ...],
    done: frozenset[int],
    unacked_firing_since: datetime | None,
    now: datetime,
) -> list[int]:
    """Indexes of escalation steps that become due now (pure).

    A step is due once the oldest firing, unacknowledged alert of the group has been
    firing for its `after`; steps already taken are in `done`. With everything
    acknowledged (or resolved) `unacked_firing_since` is None and nothing escalates.
    """
    if unacked_firing_since is None:
        return []
    firing_for = (now - unacked_firing_since).total_seconds()
    return [i for i, after in enumerate(steps_after_s) if i not in done and firing_for >= after]
