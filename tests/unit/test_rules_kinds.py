"""Every rule kind, evaluated by the engine on a passed-in clock (no sleeps, no sockets)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from chmd.model import Alert, AlertState, Sample
from chmd.rules.engine import RuleEngine
from chmd.rules.load import load_rule_files

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, 00:00 UTC
TAGS = {"device": "sw1", "agent_host": "192.0.2.1"}


def engine(tmp_path: Path, rules: str) -> RuleEngine:
    path = tmp_path / "rules.yaml"
    body = textwrap.indent(textwrap.dedent(rules), "      ")
    path.write_text(f"groups:\n  - name: g\n    interval: 60s\n    rules:\n{body}")
    return RuleEngine(load_rule_files([path]))


def sample(
    measurement: str, at: datetime, tags: dict[str, str] | None = None, **fields: object
) -> Sample:
    return Sample(measurement, {**TAGS, **(tags or {})}, fields, int(at.timestamp() * 1e9))  # type: ignore[arg-type]


def run(
    eng: RuleEngine, feed: Iterable[tuple[datetime, list[Sample]]]
) -> dict[datetime, list[Alert]]:
    """Observe each instant's samples, evaluate at that instant; the changes per instant."""
    out = {}
    for at, samples in feed:
        eng.observe(samples)
        out[at] = eng.evaluate(at)
    return out


def states(eng: RuleEngine, rule: str) -> list[AlertState]:
    return sorted(a.state for a in eng.all_alerts() if a.rule == rule)


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


CPU_RULE = """
- name: cpu_high
  kind: threshold
  select: {measurement: cpu, field: usage}
  op: ">"
  value: 90
  clear: 80
  for: 3m
"""


def test_threshold_waits_for_the_for_duration(tmp_path: Path) -> None:
    """A breach is pending until it has lasted `for:` (3m), then fires."""
    eng = engine(tmp_path, CPU_RULE)
    seen = []
    for m in range(6):
        run(eng, [(minutes(m), [sample("cpu", minutes(m), {"name": "0"}, usage=95)])])
        seen.append(states(eng, "cpu_high"))
    assert seen == [["pending"]] * 3 + [["firing"]] * 3


def test_threshold_hysteresis_does_not_flap_on_a_noisy_boundary(tmp_path: Path) -> None:
    """Once firing, values wobbling around the limit (82..93) keep it firing until below `clear`."""
    eng = engine(tmp_path, CPU_RULE)
    rng = np.random.default_rng(7)
    noisy = [95, 95, 95, 95, *rng.uniform(82, 93, 40), 70]
    changes: list[tuple[int, str]] = []
    for m, value in enumerate(noisy):
        for alert in run(
            eng, [(minutes(m), [sample("cpu", minutes(m), {"name": "0"}, usage=float(value))])]
        )[minutes(m)]:
            changes.append((m, alert.state.value))
    assert changes == [(0, "pending"), (3, "firing"), (44, "resolved")]


def test_threshold_without_clear_follows_the_limit(tmp_path: Path) -> None:
    """Without `clear`, a value back under the limit resolves a firing alert at once."""
    eng = engine(tmp_path, CPU_RULE.replace("  clear: 80\n", "").replace("for: 3m", "for: 0s"))
    run(eng, [(minutes(0), [sample("cpu", minutes(0), usage=95)])])
    assert states(eng, "cpu_high") == ["firing"]
    run(eng, [(minutes(1), [sample("cpu", minutes(1), usage=89)])])
    assert states(eng, "cpu_high") == ["resolved"]


def test_keep_firing_for_bridges_short_gaps(tmp_path: Path) -> None:
    """`keep_firing_for: 5m` keeps an alert firing through a 3-minute dip."""
    eng = engine(
        tmp_path,
        CPU_RULE.replace("for: 3m", "for: 0s\n  keep_firing_for: 5m").replace("  clear: 80\n", ""),
    )
    values = [95, 50, 50, 50, 95, 50, 50, 50, 50, 50, 50]
    for m, v in enumerate(values):
        run(eng, [(minutes(m), [sample("cpu", minutes(m), usage=v)])])
        if m == 3:
            assert states(eng, "cpu_high") == ["firing"]
    assert states(eng, "cpu_high") == ["resolved"]  # 5 minutes after the last breach at 4m


def test_where_condition_on_another_field(tmp_path: Path) -> None:
    """interface down counts only while ifAdminStatus is 1 (admin up)."""
    eng = engine(
        tmp_path,
        """
        - name: down
          kind: threshold
          select:
            measurement: interface
            field: ifOperStatus
            where: [{field: ifAdminStatus, op: "==", value: 1}]
          op: "=="
          value: 2
        """,
    )
    run(
        eng,
        [
            (
                minutes(0),
                [
                    sample(
                        "interface", minutes(0), {"ifName": "Gi1"}, ifOperStatus=2, ifAdminStatus=1
                    ),
                    sample(
                        "interface", minutes(0), {"ifName": "Gi2"}, ifOperStatus=2, ifAdminStatus=2
                    ),
                ],
            )
        ],
    )
    assert [a.label("ifName") for a in eng.active()] == ["Gi1"]


def test_tag_matchers_equality_regex_negation(tmp_path: Path) -> None:
    """Selectors: `core` equals, `~Gi.*` regex, `!~Lo.*` negated regex, `!lab` not equal."""
    eng = engine(
        tmp_path,
        """
        - name: sel
          kind: threshold
          select:
            measurement: interface
            field: x
            tags: {role: core, ifName: "~Gi.*", ifDescr: "!~Lo.*", site: "!lab"}
          op: ">"
          value: 0
        """,
    )
    rows = [
        ({"role": "core", "ifName": "Gi1", "ifDescr": "Gig", "site": "dc"}, True),
        ({"role": "edge", "ifName": "Gi1", "ifDescr": "Gig", "site": "dc"}, False),
        ({"role": "core", "ifName": "Te1", "ifDescr": "Gig", "site": "dc"}, False),
        ({"role": "core", "ifName": "Gi2", "ifDescr": "Loop", "site": "dc"}, False),
        ({"role": "core", "ifName": "Gi3", "ifDescr": "Gig", "site": "lab"}, False),
    ]
    run(eng, [(minutes(0), [sample("interface", minutes(0), tags, x=1) for tags, _ in rows])])
    assert {a.label("ifName") + a.label("site") for a in eng.active()} == {"Gi1dc"}


def test_rate_counts_per_second_and_survives_a_counter_reset(tmp_path: Path) -> None:
    """rate: 600 errors a minute is 10/s; across a reset the new count (600) is the increase."""
    eng = engine(
        tmp_path,
        """
        - name: errs
          kind: rate
          select: {measurement: interface, field: ifInErrors}
          window: 5m
          op: ">"
          value: 5
        """,
    )
    counts = [1000, 1600, 2200, 2800, 600, 1200, 1800]
    for m, c in enumerate(counts):
        run(eng, [(minutes(m), [sample("interface", minutes(m), {"ifName": "Gi1"}, ifInErrors=c)])])
    (alert,) = eng.active()
    assert alert.value == pytest.approx(10.0)


def test_rate_resets_detects_uptime_going_backwards(tmp_path: Path) -> None:
    """resets: sysUpTime dropping from 1e6 to 500 counts one reset within the window."""
    eng = engine(
        tmp_path,
        """
        - name: reboot
          kind: rate
          select: {measurement: system, field: sysUpTime}
          function: resets
          window: 10m
          op: ">"
          value: 0
        """,
    )
    for m, up in enumerate([1_000_000, 1_006_000, 500, 6500]):
        run(eng, [(minutes(m), [sample("system", minutes(m), sysUpTime=up)])])
    (alert,) = eng.active()
    assert alert.value == 1.0


FORECAST = """
- name: fill
  kind: trend
  select: {measurement: memory, field: used_percent}
  window: 2h
  resolution: 1m
  method: METHOD
  limit: 100
  within: 3h
"""


@pytest.mark.parametrize("method", ["least_squares", "theil_sen"])
def test_forecast_time_on_linear_growth(tmp_path: Path, method: str) -> None:
    """used_percent = 20 + 0.5/min reaches 100 at minute 160; predicted within one bucket."""
    eng = engine(tmp_path, FORECAST.replace("METHOD", method))
    for m in range(0, 61):
        run(
            eng,
            [
                (
                    minutes(m),
                    [sample("memory", minutes(m), {"name": "p"}, used_percent=20 + 0.5 * m)],
                )
            ],
        )
    (alert,) = eng.active()
    predicted = datetime.fromisoformat(alert.annotations["predicted_at"])
    assert abs((predicted - minutes(160)).total_seconds()) <= 60
    assert float(alert.annotations["slope_per_hour"]) == pytest.approx(30.0, rel=0.02)


def test_theil_sen_ignores_outliers_that_bend_least_squares(tmp_path: Path) -> None:
    """Flat memory with a few huge spikes: the robust fit predicts nothing, least squares does."""
    values = [50.0] * 61
    for m in (50, 55, 58, 60):
        values[m] = 99.0
    fired = {}
    for method in ("least_squares", "theil_sen"):
        eng = engine(
            tmp_path, FORECAST.replace("METHOD", method).replace("within: 3h", "within: 1d")
        )
        for m, v in enumerate(values):
            run(eng, [(minutes(m), [sample("memory", minutes(m), {"name": "p"}, used_percent=v)])])
        fired[method] = bool(eng.active())
    assert fired == {"least_squares": True, "theil_sen": False}


def test_forecast_not_before_enough_points(tmp_path: Path) -> None:
    """A steep climb seen for fewer than `min_points` buckets predicts nothing yet."""
    eng = engine(tmp_path, FORECAST.replace("METHOD", "least_squares"))
    for m in range(0, 7):
        run(
            eng,
            [(minutes(m), [sample("memory", minutes(m), {"name": "p"}, used_percent=20 + 5 * m)])],
        )
    assert eng.active() == []


ANOMALY = """
- name: traffic
  kind: anomaly
  select: {measurement: interface, field: in_octets_rate}
  baseline: daily
  seasons: 7
  z: 5
  min_history: 3d
  min_scale: 0.05
"""


def daily(t: datetime, rng: np.random.Generator) -> float:
    """A regular office-hours pattern: 1..9 MB/s peaking at 14:00, 2 % noise."""
    hour = t.hour + t.minute / 60
    base = 5e6 + 4e6 * math.sin((hour - 8) / 24 * 2 * math.pi)
    return float(base * rng.normal(1.0, 0.02))


def feed_days(eng: RuleEngine, days: int, rng: np.random.Generator) -> list[Alert]:
    changes = []
    for step in range(days * 24 * 6):  # every 10 minutes
        at = T0 + timedelta(minutes=10 * step)
        got = run(
            eng, [(at, [sample("interface", at, {"ifName": "Gi1"}, in_octets_rate=daily(at, rng))])]
        )
        changes.extend(got[at])
    return changes


def test_anomaly_quiet_on_a_regular_daily_pattern(tmp_path: Path) -> None:
    """Eight days of the same daily curve with noise never fire a seasonal anomaly."""
    eng = engine(tmp_path, ANOMALY)
    assert feed_days(eng, 8, np.random.default_rng(1)) == []


def test_rolling_anomaly_would_fire_on_the_same_daily_pattern(tmp_path: Path) -> None:
    """Control: without the seasonal baseline, the morning ramp looks anomalous (z=3, 1h)."""
    eng = engine(
        tmp_path,
        ANOMALY.replace("baseline: daily", "baseline: rolling")
        .replace("z: 5", "z: 3")
        .replace("3d", "1h"),
    )
    assert feed_days(eng, 2, np.random.default_rng(1)) != []


def test_anomaly_fires_on_an_injected_spike(tmp_path: Path) -> None:
    """After 4 normal days, 3x the usual rate at 10:00 fires; its z and baseline are annotated."""
    eng = engine(tmp_path, ANOMALY)
    rng = np.random.default_rng(2)
    assert feed_days(eng, 4, rng) == []
    at = T0 + timedelta(days=4, hours=10)
    run(
        eng, [(at, [sample("interface", at, {"ifName": "Gi1"}, in_octets_rate=3 * daily(at, rng))])]
    )
    (alert,) = eng.active()
    assert float(alert.annotations["z"]) > 5
    assert float(alert.annotations["baseline"]) == pytest.approx(
        daily(at, np.random.default_rng(0)) / 1.0, rel=0.15
    )


def test_anomaly_needs_min_history(tmp_path: Path) -> None:
    """The same spike on day 2 (history < min_history 3d) does not fire."""
    eng = engine(tmp_path, ANOMALY)
    rng = np.random.default_rng(3)
    feed_days(eng, 2, rng)
    at = T0 + timedelta(days=2, hours=10)
    run(
        eng, [(at, [sample("interface", at, {"ifName": "Gi1"}, in_octets_rate=5 * daily(at, rng))])]
    )
    assert eng.active() == []


NODATA = """
- name: unreachable
  kind: nodata
  select: {measurement: system, field: sysUpTime}
  absent_for: 3m
  summary: "{device} silent for {silent_for}"
"""


def test_nodata_fires_after_the_configured_absence_and_resolves_on_return(tmp_path: Path) -> None:
    """Polls stop after minute 2: firing at minute 5 (3m), not at 4; resolved when one returns."""
    eng = engine(tmp_path, NODATA)
    for m in range(3):
        run(eng, [(minutes(m), [sample("system", minutes(m), sysUpTime=100 * m)])])
    run(eng, [(minutes(4), [])])
    assert eng.active() == []
    (alert,) = run(eng, [(minutes(5), [])])[minutes(5)]
    assert (alert.state, alert.summary) == (AlertState.FIRING, "sw1 silent for 3m")
    (back,) = run(eng, [(minutes(6), [sample("system", minutes(6), sysUpTime=600)])])[minutes(6)]
    assert back.state is AlertState.RESOLVED


def test_nodata_ignores_series_never_seen(tmp_path: Path) -> None:
    """A device that never answered has no series: no alert (the inventory check is elsewhere)."""
    eng = engine(tmp_path, NODATA)
    run(eng, [(minutes(10), [sample("cpu", minutes(10), usage=1)])])
    assert eng.active() == []


def test_stale_data_holds_an_active_alert(tmp_path: Path) -> None:
    """An interface-down alert neither resolves nor re-fires while its device stops reporting."""
    eng = engine(
        tmp_path,
        """
        - name: down
          kind: threshold
          select: {measurement: interface, field: ifOperStatus}
          op: "=="
          value: 2
          stale_after: 2m
        """,
    )
    run(eng, [(minutes(0), [sample("interface", minutes(0), {"ifName": "Gi1"}, ifOperStatus=2)])])
    changes = run(eng, [(minutes(m), []) for m in range(1, 30)])
    assert all(not c for c in changes.values())
    assert states(eng, "down") == ["firing"]


PATTERN = """
- name: sw_changed
  kind: pattern
  select: {measurement: system, field: sysDescr}
  mode: changed
  hold: 30m
  summary: "{device} now runs {value}"
- name: linecard_bad
  kind: pattern
  select: {measurement: system, field: sysDescr}
  regex: "(?i)rommon"
"""


def test_pattern_change_fires_for_the_hold_time(tmp_path: Path) -> None:
    """A new sysDescr (an upgrade) fires `changed` for 30 minutes, with the previous value kept."""
    eng = engine(tmp_path, PATTERN)
    for m in range(0, 45):
        text = "Cisco IOS XE 17.3" if m < 5 else "Cisco IOS XE 17.9"
        run(eng, [(minutes(m), [sample("system", minutes(m), sysDescr=text)])])
        if m == 5:
            (alert,) = eng.active()
            assert alert.summary == "sw1 now runs Cisco IOS XE 17.9"
            assert alert.annotations["previous"] == "Cisco IOS XE 17.3"
    assert states(eng, "sw_changed") == ["resolved"]


def test_pattern_regex_matches_string_field(tmp_path: Path) -> None:
    """`match` mode fires while the string matches the regex."""
    eng = engine(tmp_path, PATTERN)
    run(eng, [(minutes(0), [sample("system", minutes(0), sysDescr="ROMMON mode")])])
    assert [a.rule for a in eng.active()] == ["linecard_bad"]


COMPOSITE = """
- name: cpu_high
  kind: threshold
  select: {measurement: cpu, field: usage}
  op: ">"
  value: 90
- name: mem_high
  kind: threshold
  select: {measurement: memory, field: used_percent}
  op: ">"
  value: 90
- name: unreachable
  kind: nodata
  select: {measurement: system, field: sysUpTime}
  absent_for: 3m
- name: overloaded
  kind: composite
  condition: {all: [cpu_high, mem_high, {not: unreachable}]}
  by: [device]
  within: 10m
  summary: "{device} overloaded"
"""


def test_composite_and_within_window(tmp_path: Path) -> None:
    """CPU high at minute 0 and memory high at minute 8 overlap within 10m; at 12m they do not."""
    eng = engine(tmp_path, COMPOSITE)
    run(
        eng,
        [
            (
                minutes(0),
                [sample("cpu", minutes(0), usage=95), sample("system", minutes(0), sysUpTime=1)],
            )
        ],
    )
    run(
        eng,
        [
            (
                minutes(1),
                [sample("cpu", minutes(1), usage=10), sample("system", minutes(1), sysUpTime=2)],
            )
        ],
    )
    assert [a.rule for a in eng.active()] == []
    got = run(
        eng,
        [
            (
                minutes(8),
                [
                    sample("memory", minutes(8), used_percent=95),
                    sample("system", minutes(8), sysUpTime=3),
                ],
            )
        ],
    )
    assert [
        (a.rule, a.label("device"), a.summary) for a in got[minutes(8)] if a.rule == "overloaded"
    ] == [("overloaded", "sw1", "sw1 overloaded")]
    run(
        eng,
        [
            (
                minutes(12),
                [
                    sample("memory", minutes(12), used_percent=95),
                    sample("system", minutes(12), sysUpTime=4),
                ],
            )
        ],
    )
    assert [a.rule for a in eng.active() if a.rule == "overloaded"] == []


def test_composite_not_suppresses_for_the_same_device_only(tmp_path: Path) -> None:
    """`not unreachable` blocks the composite on the unreachable device, not on another one."""
    eng = engine(tmp_path, COMPOSITE.replace("within: 10m", "within: 0s"))
    for m in range(0, 6):
        at = minutes(m)
        batch = [
            sample("cpu", at, {"device": "a"}, usage=95),
            sample("memory", at, {"device": "a"}, used_percent=95),
            sample("cpu", at, {"device": "b"}, usage=95),
            sample("memory", at, {"device": "b"}, used_percent=95),
            sample("system", at, {"device": "b"}, sysUpTime=m),
        ]
        if m == 0:
            batch.append(sample("system", at, {"device": "a"}, sysUpTime=0))
        run(eng, [(at, batch)])
    assert sorted(a.label("device") for a in eng.active() if a.rule == "overloaded") == ["b"]


def office(t: datetime) -> float:
    """Busy (8 MB/s) on weekday office hours, quiet (1 MB/s) otherwise."""
    busy = t.weekday() < 5 and 8 <= t.hour < 18
    return 8e6 if busy else 1e6


@pytest.mark.parametrize(("baseline", "fires"), [("weekly", True), ("daily", False)])
def test_weekly_baseline_catches_a_busy_saturday_that_daily_misses(
    tmp_path: Path, baseline: str, fires: bool
) -> None:
    """Weekday traffic on a Saturday: unusual for Saturdays (hour-of-week baseline, 3 weeks),
    usual for that hour of the day over the last 3 days, all weekdays (daily baseline)."""
    rule = ANOMALY.replace("baseline: daily", f"baseline: {baseline}").replace(
        "seasons: 7", "seasons: 3"
    )
    eng = engine(tmp_path, rule.replace("min_history: 3d", "min_history: 14d"))
    for hour in range(21 * 24):  # three weeks, hourly
        at = T0 + timedelta(hours=hour)
        run(eng, [(at, [sample("interface", at, {"ifName": "Gi1"}, in_octets_rate=office(at))])])
    saturday = T0 + timedelta(days=26, hours=11)  # the 4th Saturday, 11:00
    assert saturday.weekday() == 5
    for hour in range(21 * 24, 26 * 24 + 11):
        at = T0 + timedelta(hours=hour)
        run(eng, [(at, [sample("interface", at, {"ifName": "Gi1"}, in_octets_rate=office(at))])])
    if baseline == "weekly":
        assert eng.active() == []  # a quiet weekend is usual for weekends
    run(eng, [(saturday, [sample("interface", saturday, {"ifName": "Gi1"}, in_octets_rate=8e6)])])
    assert bool(eng.active()) is fires


def test_falling_trend_predicts_free_memory_running_out(tmp_path: Path) -> None:
    """direction: falling — free bytes dropping 1 MB/min from 100 MB reach 10 MB at minute 90."""
    eng = engine(
        tmp_path,
        """
        - name: free_running_out
          kind: trend
          select: {measurement: memory, field: free}
          window: 1h
          resolution: 1m
          method: least_squares
          direction: falling
          limit: 10000000
          within: 2h
        """,
    )
    for m in range(0, 31):
        run(
            eng, [(minutes(m), [sample("memory", minutes(m), {"name": "p"}, free=100e6 - 1e6 * m)])]
        )
    (alert,) = eng.active()
    predicted = datetime.fromisoformat(alert.annotations["predicted_at"])
    assert abs((predicted - minutes(90)).total_seconds()) <= 60
