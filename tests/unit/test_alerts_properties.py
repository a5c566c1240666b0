"""Properties of the pipeline over random alert timelines (hypothesis, clock passed in).

`process` never awaits anything (delivery is queued), so it is driven synchronously here;
that it completes in one step is itself checked.
"""

from __future__ import annotations

import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chmd.alerts.pipeline import AlertPipeline
from chmd.model import Alert, AlertState, Notification, Severity
from chmd.notify.dispatcher import Outcome
from chmd.notify.settings import NotifySettings

T0 = datetime(2026, 11, 25, tzinfo=UTC)
GROUP_WAIT, GROUP_INTERVAL, REPEAT = 60, 300, 1800
CFG = NotifySettings.model_validate(
    {
        "receivers": {"ops": {"urls": ["json://127.0.0.1:9/ops"]}},
        "route": {
            "receiver": "ops",
            "group_by": ["device"],
            "group_wait": f"{GROUP_WAIT}s",
            "group_interval": f"{GROUP_INTERVAL}s",
            "repeat_interval": f"{REPEAT}s",
        },
    }
)


def run_sync(coro: Coroutine[Any, Any, None]) -> None:
    try:
        coro.send(None)
    except StopIteration:
        return
    raise AssertionError("process() awaited something: it must never block")


@dataclass
class Sent:
    at: datetime
    firing: frozenset[str]
    resolved: frozenset[str]


class Sender:
    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.now = T0

    def submit(self, note: Notification, kind: str, on_done: Any = None) -> None:
        firing = frozenset(a.fingerprint for a in note.alerts if a.state is AlertState.FIRING)
        resolved = frozenset(a.fingerprint for a in note.alerts if a.state is AlertState.RESOLVED)
        self.sent.append(Sent(self.now, firing, resolved))
        if on_done:
            on_done(Outcome.DELIVERED)


def make_alert(port: int, since: datetime, state: AlertState, until: datetime | None) -> Alert:
    return Alert(
        "interface_down",
        f"fp{port}",
        (("device", "sw1"), ("ifName", f"p{port}")),
        Severity.MAJOR,
        state,
        0.0,
        f"p{port} down",
        "",
        since,
        since,
        until,
    )


# Each port's state per minute: True = firing.
timelines = st.lists(st.lists(st.booleans(), min_size=60, max_size=60), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(timelines)
def test_messages_are_spaced_and_never_redundant(ports: list[list[bool]]) -> None:
    """Within a group's life messages are at least group_interval apart and each says something
    new (a new firing alert, a recovery) unless repeat_interval passed; and at the end of any
    firing run longer than group_wait + group_interval, the last message says it fires."""
    with tempfile.TemporaryDirectory() as tmp:
        sender = Sender()
        p = AlertPipeline(CFG, Path(tmp), sender)
        since: dict[int, datetime] = {}
        for minute in range(60):
            now = T0 + timedelta(minutes=minute)
            sender.now = now
            active, changed = [], []
            for port, states in enumerate(ports):
                if states[minute]:
                    since.setdefault(port, now)
                    active.append(make_alert(port, since[port], AlertState.FIRING, None))
                elif port in since:
                    changed.append(make_alert(port, since.pop(port), AlertState.RESOLVED, now))
            run_sync(p.process(changed, active, now))
    for before, after in zip(sender.sent, sender.sent[1:], strict=False):
        gap = (after.at - before.at).total_seconds()
        if not before.firing:
            continue  # that was the recovery closing the group; `after` opens a new one
        assert gap >= GROUP_INTERVAL
        news = not after.firing <= before.firing or bool(after.resolved - before.resolved)
        assert news or gap >= REPEAT
    longest_silence = (GROUP_WAIT + GROUP_INTERVAL) // 60
    for port, states in enumerate(ports):
        for start, end in runs(states):
            if end - start > longest_silence:
                before_end = [m for m in sender.sent if (m.at - T0).total_seconds() / 60 < end]
                assert before_end
                assert f"fp{port}" in before_end[-1].firing


def runs(states: list[bool]) -> list[tuple[int, int]]:
    """[start, end) minutes of each firing run."""
    found, start = [], None
    for minute, firing in enumerate([*states, False]):
        if firing and start is None:
            start = minute
        elif not firing and start is not None:
            found.append((start, minute))
            start = None
    return found
