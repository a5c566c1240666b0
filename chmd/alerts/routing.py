"""The routing tree, compiled once from settings, matched per alert (as Alertmanager).

An alert enters at the root and descends depth-first into the first child whose
matchers match; with `continue: true` on that child, later siblings are tried too.
A node none of whose children matched is where the alert lands. Receiver, group_by,
timings and send_resolved inherit from the parent when unset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from chmd.alerts.matchers import Matcher, matches_all, parse_matchers
from chmd.alerts.timeintervals import TimeInterval, compile_interval, in_any
from chmd.notify.settings import NotifySettings, Route, TimeIntervalSpec

DEFAULT_GROUP_BY = ("device", "rule")
DEFAULT_GROUP_WAIT_S = 30.0
DEFAULT_GROUP_INTERVAL_S = 300.0
DEFAULT_REPEAT_INTERVAL_S = 4 * 3600.0
GROUP_BY_ALL = "..."


@dataclass(frozen=True, slots=True)
class Step:
    after_s: float
    receivers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RouteNode:
    id: str  # "root", "root.0", "root.0.1": stable while the config is unchanged
    receiver: str
    matchers: tuple[Matcher, ...]
    continue_: bool
    group_by: tuple[str, ...]
    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float
    send_resolved: bool
    active_intervals: tuple[TimeInterval, ...] = ()
    mute_intervals: tuple[TimeInterval, ...] = ()
    escalation: tuple[Step, ...] = ()
    children: tuple[RouteNode, ...] = field(default=())

    def muted_at(self, now: datetime) -> bool:
        """True outside the active intervals (if any) or inside a mute interval."""
        if self.active_intervals and not in_any(self.active_intervals, now):
            return True
        return in_any(self.mute_intervals, now)

    def group_labels(self, labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        if GROUP_BY_ALL in self.group_by:
            return tuple(sorted(labels.items()))
        return tuple((name, labels.get(name, "")) for name in self.group_by)


def compile_intervals(
    specs: Mapping[str, Sequence[TimeIntervalSpec]], names: Sequence[str]
) -> tuple[TimeInterval, ...]:
    return tuple(
        compile_interval(s.weekdays, [(t.start, t.end) for t in s.times], s.location)
        for name in names
        for s in specs[name]
    )


def compile_routes(settings: NotifySettings) -> RouteNode | None:
    if settings.route is None:
        return None
    root_defaults = RouteNode(
        id="",
        receiver=settings.route.receiver or "",
        matchers=(),
        continue_=False,
        group_by=DEFAULT_GROUP_BY,
        group_wait_s=DEFAULT_GROUP_WAIT_S,
        group_interval_s=DEFAULT_GROUP_INTERVAL_S,
        repeat_interval_s=DEFAULT_REPEAT_INTERVAL_S,
        send_resolved=True,
    )
    return _compile(settings.route, root_defaults, "root", settings)


def _compile(route: Route, parent: RouteNode, node_id: str, settings: NotifySettings) -> RouteNode:
    """This node with unset values inherited from `parent`, then its children from it."""
    intervals = settings.time_intervals
    node = RouteNode(
        id=node_id,
        receiver=route.receiver or parent.receiver,
        matchers=parse_matchers(route.matchers),
        continue_=route.continue_,
        group_by=tuple(route.group_by) if route.group_by is not None else parent.group_by,
        group_wait_s=_pick(route.group_wait, parent.group_wait_s),
        group_interval_s=_pick(route.group_interval, parent.group_interval_s),
        repeat_interval_s=_pick(route.repeat_interval, parent.repeat_interval_s),
        send_resolved=parent.send_resolved if route.send_resolved is None else route.send_resolved,
        active_intervals=compile_intervals(intervals, route.active_time_intervals)
        or parent.active_intervals,
        mute_intervals=compile_intervals(intervals, route.mute_time_intervals)
        or parent.mute_intervals,
        escalation=tuple(Step(s.after, tuple(s.receivers)) for s in route.escalation)
        or parent.escalation,
    )
    children = tuple(
        _compile(child, node, f"{node_id}.{i}", settings) for i, child in enumerate(route.routes)
    )
    return replace(node, children=children)


def _pick(value: float | None, inherited: float) -> float:
    return inherited if value is None else value


def match_routes(root: RouteNode, labels: Mapping[str, str]) -> list[RouteNode]:
    """The nodes an alert with these match labels lands on (one, or more via `continue`)."""
    if not matches_all(root.matchers, labels):
        return []
    return _descend(root, labels)


def _descend(node: RouteNode, labels: Mapping[str, str]) -> list[RouteNode]:
    found: list[RouteNode] = []
    for child in node.children:
        if not matches_all(child.matchers, labels):
            continue
        found.extend(_descend(child, labels))
        if not child.continue_:
            break
    return found or [node]
