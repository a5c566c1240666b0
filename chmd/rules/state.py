"""The alert state machine, pure: `advance(record, breached, now)` → the next record.

inactive → pending (breach, waiting `for`) → firing → resolved (no breach, after
`keep_firing_for`) → pending/firing again on a new breach. Too many firing/resolved
transitions within `flap_window_s` mark the alert *flapping*: it then stays firing (one
change reported) until the raw state has been quiet for a whole window.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from chmd.model import AlertState, Labels


@dataclass(frozen=True, slots=True)
class Timing:
    """The time parameters of one rule plus the engine's flap settings."""

    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    flap_window_s: float = 3600.0
    flap_threshold: int = 6  # transitions in the window that make an alert flapping
    retention_s: float = 900.0  # a resolved/inactive record is kept this long (flap memory)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """What the engine remembers about one alert (one fingerprint). Times are epoch seconds."""

    rule: str
    fingerprint: str
    labels: Labels
    series: Labels | None  # the row's tags (None for composites), to re-bind after restart
    state: AlertState
    raw: AlertState  # the state without flap damping
    active_since: float
    last_breach: float
    value: float | None = None
    fired_at: float | None = None
    resolved_at: float | None = None
    changed_at: float = 0.0
    flapping: bool = False
    transitions: tuple[float, ...] = ()
    annotations: tuple[tuple[str, str], ...] = field(default=())
    summary: str = ""
    description: str = ""
    severity: str = "warning"


def _raw_next(rec: AlertRecord, breached: bool, now: float, timing: Timing) -> AlertRecord:
    """The undamped machine."""
    raw = rec.raw
    if breached:
        if raw in (AlertState.INACTIVE, AlertState.RESOLVED):
            start = AlertState.FIRING if timing.for_s <= 0 else AlertState.PENDING
            return replace(
                rec,
                raw=start,
                active_since=now,
                last_breach=now,
                fired_at=now if start is AlertState.FIRING else None,
                resolved_at=None,
            )
        if raw is AlertState.PENDING and now - rec.active_since >= timing.for_s:
            return replace(rec, raw=AlertState.FIRING, fired_at=now, last_breach=now)
        return replace(rec, last_breach=now)
    if raw is AlertState.PENDING:
        return replace(rec, raw=AlertState.INACTIVE)
    if raw is AlertState.FIRING and now - rec.last_breach >= timing.keep_firing_for_s:
        return replace(rec, raw=AlertState.RESOLVED, resolved_at=now)
    return rec


def advance(
    rec: AlertRecord, breached: bool, now: float, timing: Timing
) -> tuple[AlertRecord | None, bool]:
    """Next record (None: forget it) and whether its visible state changed."""
    nxt = _raw_next(rec, breached, now, timing)
    transitions = tuple(t for t in rec.transitions if now - t < timing.flap_window_s)
    crossed = (nxt.raw is AlertState.FIRING) != (rec.raw is AlertState.FIRING)
    if crossed and AlertState.FIRING in (nxt.raw, rec.raw):
        transitions = (*transitions, now)
    nxt = replace(nxt, transitions=transitions)
    flapping = rec.flapping
    if not flapping and len(transitions) >= timing.flap_threshold:
        flapping = True
    elif flapping and (not transitions or now - transitions[-1] >= timing.flap_window_s):
        flapping = False
    state = AlertState.FIRING if flapping else nxt.raw
    resolved_at = nxt.resolved_at
    if state is AlertState.RESOLVED and rec.state is not AlertState.RESOLVED:
        resolved_at = now
    fired_at = nxt.fired_at if nxt.fired_at is not None else rec.fired_at
    if state is AlertState.FIRING and rec.state is not AlertState.FIRING and fired_at is None:
        fired_at = now
    changed = state is not rec.state or flapping != rec.flapping
    nxt = replace(
        nxt,
        state=state,
        flapping=flapping,
        resolved_at=resolved_at if state is AlertState.RESOLVED else None,
        fired_at=fired_at if state in (AlertState.FIRING, AlertState.RESOLVED) else None,
        changed_at=now if changed else rec.changed_at,
    )
    if (
        not changed
        and state in (AlertState.INACTIVE, AlertState.RESOLVED)
        and not breached
        and now - rec.changed_at >= timing.retention_s
        and not transitions
    ):
        return None, False
    return nxt, changed


def start(
    rule: str,
    fingerprint: str,
    labels: Labels,
    series: Labels | None,
    now: float,
    severity: str = "warning",
) -> AlertRecord:
    """A fresh, inactive record for a series that just breached."""
    return AlertRecord(
        rule,
        fingerprint,
        labels,
        series,
        AlertState.INACTIVE,
        AlertState.INACTIVE,
        now,
        now,
        changed_at=now,
        severity=severity,
    )
