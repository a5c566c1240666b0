"""Matchers, time intervals and the routing tree (compiled from settings, matched per alert)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from chmd.alerts.matchers import parse_matcher
from chmd.alerts.routing import compile_routes, match_routes
from chmd.alerts.timeintervals import compile_interval
from chmd.notify.settings import NotifySettings


def tree(route: dict[str, Any], **top: Any) -> NotifySettings:
    receivers = {n: {"urls": [f"json://127.0.0.1:9/{n}"]} for n in ("ops", "noc", "db", "pager")}
    return NotifySettings.model_validate({"receivers": receivers, "route": route, **top})


def receivers(cfg: NotifySettings, **labels: str) -> list[str]:
    root = compile_routes(cfg)
    assert root is not None
    return [n.receiver for n in match_routes(root, labels)]


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("device=sw1", {"device": "sw1"}, True),
        ("device=sw1", {"device": "sw10"}, False),
        ("device!=sw1", {"device": "sw2"}, True),
        ('device=~"core-.*"', {"device": "core-1"}, True),
        ("device=~core", {"device": "core-1"}, False),  # regexes are anchored
        ("device!~core-.*", {"device": "core-1"}, False),
        ("site=", {}, True),  # a missing label equals the empty string
        ("group=core", {"groups": "campus,core"}, True),
        ("group!=core", {"groups": "campus"}, True),
        ("tag=~pci.*", {"tags": "pci-dss,prod"}, True),
    ],
)
def test_matcher_semantics(text: str, labels: dict[str, str], expected: bool) -> None:
    """Each matcher form matches exactly as Alertmanager's (plus group/tag set membership)."""
    assert parse_matcher(text).matches(labels) is expected


def test_bad_matcher_says_how_to_write_one() -> None:
    """An unparsable matcher names itself and the accepted forms."""
    with pytest.raises(ValueError, match=r"bad matcher 'device' \(write label=value"):
        parse_matcher("device")


def test_first_matching_child_wins_without_continue() -> None:
    """Children are tried in order; the first match stops the search."""
    cfg = tree(
        {
            "receiver": "ops",
            "routes": [
                {"matchers": ["severity=critical"], "receiver": "pager"},
                {"matchers": ["role=core"], "receiver": "noc"},
            ],
        }
    )
    assert receivers(cfg, severity="critical", role="core") == ["pager"]
    assert receivers(cfg, severity="minor", role="core") == ["noc"]
    assert receivers(cfg, severity="minor", role="access") == ["ops"]


def test_continue_and_nested_routes() -> None:
    """`continue: true` tries later siblings too; a nested match lands on the deepest node."""
    cfg = tree(
        {
            "receiver": "ops",
            "routes": [
                {
                    "matchers": ["site=zrh"],
                    "receiver": "noc",
                    "continue": True,
                    "routes": [{"matchers": ["rule=~db_.*"], "receiver": "db"}],
                },
                {"matchers": ["severity=critical"], "receiver": "pager"},
            ],
        }
    )
    assert receivers(cfg, site="zrh", rule="db_slow", severity="critical") == ["db", "pager"]
    assert receivers(cfg, site="zrh", rule="cpu", severity="minor") == ["noc"]


def test_children_inherit_timings_and_group_by() -> None:
    """Unset group_by, timings and send_resolved come from the parent."""
    cfg = tree(
        {
            "receiver": "ops",
            "group_by": ["site"],
            "repeat_interval": "2h",
            "send_resolved": False,
            "routes": [{"matchers": ["role=core"], "receiver": "noc", "group_wait": "5s"}],
        }
    )
    root = compile_routes(cfg)
    assert root is not None
    [node] = match_routes(root, {"role": "core"})
    assert (node.group_by, node.repeat_interval_s, node.send_resolved) == (("site",), 7200.0, False)
    assert (node.group_wait_s, node.group_interval_s) == (5.0, 300.0)


def test_unknown_receiver_in_route_is_a_config_error() -> None:
    """A route naming a receiver that does not exist is refused at load, listing the known ones."""
    with pytest.raises(ValidationError, match=r"route.routes\[0\]: unknown receiver 'nobody'"):
        tree({"receiver": "ops", "routes": [{"receiver": "nobody"}]})


def test_time_interval_weekdays_times_and_zone() -> None:
    """monday:friday 08:00-18:00 Europe/Zurich holds at 09:00 local, not at 19:00 or on Saturday."""
    hours = compile_interval(["monday:friday"], [("08:00", "18:00")], "Europe/Zurich")
    assert hours.contains(datetime(2026, 11, 25, 8, 0, tzinfo=UTC))  # 09:00 CET, Wednesday
    assert not hours.contains(datetime(2026, 11, 25, 18, 0, tzinfo=UTC))  # 19:00 CET
    assert not hours.contains(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))  # Saturday


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"weekdays": ["funday"]}, "bad weekday 'funday'"),
        ({"times": [{"start": "18:00", "end": "08:00"}]}, "ends before it starts"),
        ({"location": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_time_interval_is_refused(spec: dict[str, Any], message: str) -> None:
    """Weekday typos, backwards ranges and unknown zones are load errors with a hint."""
    with pytest.raises(ValidationError, match=message):
        tree({"receiver": "ops"}, time_intervals={"x": [spec]})
