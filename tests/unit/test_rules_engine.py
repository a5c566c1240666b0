"""RuleEngine: persistence, restart, reload, the `alerts` samples and the memory bound."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from chmd.model import AlertState, Sample
from chmd.rules.engine import EngineSettings, RuleEngine, fingerprint
from chmd.rules.load import load_rule_files
from chmd.rules.persist import load_state, read_alerts, save_state
from chmd.rules.samples import alert_samples
from chmd.rules.store import RingSpec

T0 = datetime(2026, 1, 5, tzinfo=UTC)
RULES = """groups:
  - name: g
    interval: 60s
    rules:
      - name: cpu_high
        kind: threshold
        select: {measurement: cpu, field: usage}
        op: ">"
        value: 90
        for: 2m
        severity: major
        summary: "{device} CPU at {value:.0f}%"
      - name: unreachable
        kind: nodata
        select: {measurement: system, field: sysUpTime}
        absent_for: 3m
      - name: errors
        kind: rate
        select: {measurement: interface, field: ifInErrors}
        function: increase
        window: 1h
        value: 100
"""


def write_rules(tmp_path: Path, text: str = RULES) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def cpu(minute: int, usage: float, device: str = "sw1") -> Sample:
    return Sample(
        "cpu",
        {"device": device, "agent_host": "h"},
        {"usage": usage},
        int(at(minute).timestamp() * 1e9),
    )


def up(minute: int, device: str = "sw1") -> Sample:
    return Sample(
        "system",
        {"device": device, "agent_host": "h"},
        {"sysUpTime": minute * 6000},
        int(at(minute).timestamp() * 1e9),
    )


def firing_engine(tmp_path: Path) -> RuleEngine:
    eng = RuleEngine(load_rule_files([write_rules(tmp_path)]))
    for m in range(4):
        eng.observe([cpu(m, 95), up(m)])
        eng.evaluate(at(m))
    assert [(a.rule, a.state) for a in eng.active()] == [("cpu_high", AlertState.FIRING)]
    return eng


def test_restart_keeps_a_firing_alert_without_a_duplicate(tmp_path: Path) -> None:
    """Saved while firing, restored in a new engine: still firing, same fingerprint, no new
    `firing` change reported, and the later resolve is reported exactly once."""
    eng = firing_engine(tmp_path)
    save_state(eng, tmp_path / "state", at(3))
    fp = eng.active()[0].fingerprint

    again = RuleEngine(load_rule_files([write_rules(tmp_path)]))
    assert load_state(again, tmp_path / "state")
    assert [(a.fingerprint, a.state) for a in again.active()] == [(fp, AlertState.FIRING)]
    again.observe([cpu(4, 96), up(4)])
    assert again.evaluate(at(4)) == []
    again.observe([cpu(5, 10), up(5)])
    changes = again.evaluate(at(5))
    assert [(a.fingerprint, a.state) for a in changes] == [(fp, AlertState.RESOLVED)]
    assert again.evaluate(at(6)) == []


def test_restart_while_device_silent_fires_nodata_from_saved_windows(tmp_path: Path) -> None:
    """The last-seen times survive a restart: silence across the restart still counts."""
    eng = firing_engine(tmp_path)
    save_state(eng, tmp_path / "state", at(3))
    again = RuleEngine(load_rule_files([write_rules(tmp_path)]))
    load_state(again, tmp_path / "state")
    changes = again.evaluate(at(7))
    assert [(a.rule, a.state) for a in changes if a.rule == "unreachable"] == [
        ("unreachable", AlertState.FIRING)
    ]


def test_windows_round_trip_exactly(tmp_path: Path) -> None:
    """Every column and ring array comes back bit for bit after save and load."""
    eng = firing_engine(tmp_path)
    for m in range(10):
        eng.observe(
            [
                Sample(
                    "interface",
                    {"device": "sw1", "ifName": f"Gi{i}"},
                    {"ifInErrors": m * i},
                    int(at(m).timestamp() * 1e9),
                )
                for i in range(5)
            ]
        )
    save_state(eng, tmp_path / "state", at(10))
    again = RuleEngine(load_rule_files([write_rules(tmp_path)]))
    load_state(again, tmp_path / "state")
    for name, table in eng.store.tables.items():
        other = again.store.tables[name]
        assert other.labels == table.labels
        for field, column in table.columns.items():
            n = table.size
            np.testing.assert_array_equal(other.columns[field].last_v[:n], column.last_v[:n])
            for spec, ring in column.rings.items():
                np.testing.assert_array_equal(
                    other.columns[field].rings[spec].vals[:n], ring.vals[:n]
                )


def test_state_file_is_replaced_atomically(tmp_path: Path) -> None:
    """Saving leaves no temporary file behind and a complete JSON document."""
    eng = firing_engine(tmp_path)
    save_state(eng, tmp_path / "state", at(3))
    save_state(eng, tmp_path / "state", at(4))
    files = sorted(p.name for p in (tmp_path / "state" / "rules").iterdir())
    assert files == ["alerts.json", "windows.npz"]
    assert json.loads((tmp_path / "state" / "rules" / "alerts.json").read_text())["format"] == 1


def test_read_alerts_for_the_cli(tmp_path: Path) -> None:
    """`read_alerts` returns the saved alerts with summary, value and since."""
    eng = firing_engine(tmp_path)
    save_state(eng, tmp_path / "state", at(3), windows=False)
    alerts, saved = read_alerts(tmp_path / "state")
    assert saved == at(3)
    assert [(a.rule, a.state, a.value, a.summary, a.active_since) for a in alerts] == [
        ("cpu_high", AlertState.FIRING, 95.0, "sw1 CPU at 95%", at(0))
    ]


def test_reload_keeps_unchanged_rules_and_reports_changes(tmp_path: Path) -> None:
    """replace_rules: the unchanged rule keeps its firing alert (no change emitted); the edited
    one is reported as changed; the removed one's alerts resolve once."""
    eng = firing_engine(tmp_path)
    for m in range(4, 9):
        eng.observe([cpu(m, 95)])
        eng.evaluate(at(m))
    assert {a.rule for a in eng.active()} == {"cpu_high", "unreachable"}
    edited = RULES.replace("absent_for: 3m", "absent_for: 4m")
    edited = edited[: edited.index("      - name: errors")]
    changes = eng.replace_rules(load_rule_files([write_rules(tmp_path, edited)]))
    assert (changes.unchanged, changes.changed, changes.removed) == (
        ("cpu_high",),
        ("unreachable",),
        ("errors",),
    )
    eng.observe([cpu(9, 95)])
    emitted = eng.evaluate(at(9))
    assert [(a.rule, a.state) for a in emitted] == []
    assert {a.rule for a in eng.active()} == {"cpu_high", "unreachable"}


def test_reload_resolves_alerts_of_a_removed_rule(tmp_path: Path) -> None:
    """A firing alert whose rule disappears is reported resolved once, then forgotten."""
    eng = firing_engine(tmp_path)
    without_cpu = RULES.replace(
        "      - name: cpu_high", "      - name: cpu_high\n        enabled: false"
    )
    eng.replace_rules(load_rule_files([write_rules(tmp_path, without_cpu)]))
    emitted = eng.evaluate(at(4))
    assert [(a.rule, a.state) for a in emitted] == [("cpu_high", AlertState.RESOLVED)]
    assert eng.active() == []


def test_fingerprint_is_stable_and_label_order_free() -> None:
    """The fingerprint depends on rule and labels only (hex, 16 chars)."""
    labels = (("device", "sw1"), ("ifName", "Gi1"))
    assert fingerprint("r", labels) == fingerprint("r", tuple(labels))
    assert fingerprint("r", labels) != fingerprint("r2", labels)
    assert len(fingerprint("r", labels)) == 16


def test_alert_samples_for_the_alerts_measurement(tmp_path: Path) -> None:
    """A state change becomes an `alerts` sample: tags rule/severity/device, field state."""
    eng = RuleEngine(load_rule_files([write_rules(tmp_path)]))
    changes = []
    for m in range(3):
        eng.observe([cpu(m, 95)])
        changes.extend(eng.evaluate(at(m)))
    samples = alert_samples(changes, at(2))
    assert [
        (s.measurement, s.tags["rule"], s.tags["severity"], s.tags["device"], s.fields["state"])
        for s in samples
    ] == [
        ("alerts", "cpu_high", "major", "sw1", "pending"),
        ("alerts", "cpu_high", "major", "sw1", "firing"),
    ]
    assert samples[0].fields["summary"] == "sw1 CPU at 95%"


def test_group_interval_skips_evaluations_not_due(tmp_path: Path) -> None:
    """A group with interval 5m evaluates at 0 and 5 minutes, not in between."""
    eng = RuleEngine(
        load_rule_files(
            [
                write_rules(
                    tmp_path,
                    RULES.replace("interval: 60s", "interval: 5m").replace("for: 2m", "for: 0s"),
                )
            ]
        )
    )
    eng.observe([cpu(0, 50)])
    eng.evaluate(at(0))
    eng.observe([cpu(1, 95)])
    assert eng.evaluate(at(1)) == []
    assert [a.state for a in eng.evaluate(at(5))] == [AlertState.FIRING]


def test_one_hour_raw_window_costs_under_1kb_per_series(tmp_path: Path) -> None:
    """The ring for a 1 h window at 60 s plus the last two values is < 1 KB a series."""
    eng = RuleEngine(
        load_rule_files([write_rules(tmp_path)]), EngineSettings(raw_resolution_s=60.0)
    )
    column = eng.store.tables["interface"].columns["ifInErrors"]
    assert list(column.rings) == [RingSpec(60.0, 61, mean=False)]
    assert column.nbytes_per_row() < 1024


def test_new_raw_resolution_on_reload_reshapes_the_raw_ring(tmp_path: Path) -> None:
    """replace_settings with a 30 s resolution swaps the 1 h raw ring for 121 slots of 30 s."""
    eng = RuleEngine(load_rule_files([write_rules(tmp_path)]))
    assert eng.replace_settings(EngineSettings(raw_resolution_s=30.0))
    assert not eng.replace_settings(EngineSettings(raw_resolution_s=30.0))
    column = eng.store.tables["interface"].columns["ifInErrors"]
    assert list(column.rings) == [RingSpec(30.0, 121, mean=False)]


def test_polling_faster_than_the_resolution_does_not_grow_memory(tmp_path: Path) -> None:
    """10 s polls into a 60 s-resolution ring: slots stay 61 and the rate is still exact."""
    eng = RuleEngine(load_rule_files([write_rules(tmp_path)]))
    for s in range(0, 3600, 10):
        t = T0 + timedelta(seconds=s)
        eng.observe(
            [
                Sample(
                    "interface",
                    {"device": "sw1", "ifName": "Gi1"},
                    {"ifInErrors": s},
                    int(t.timestamp() * 1e9),
                )
            ]
        )
    eng.evaluate(T0 + timedelta(seconds=3590))
    ring = eng.store.tables["interface"].columns["ifInErrors"].rings[RingSpec(60.0, 61, mean=False)]
    assert ring.vals.shape[1] == 61
    (alert,) = eng.active()
    assert alert.value == pytest.approx(3590 - 50, abs=1)  # increase over the last hour of buckets


def test_a_forgotten_series_that_returns_keeps_row_ids_across_restore(tmp_path: Path) -> None:
    """A series forgotten after 7 days and seen again gets a new row; save/load keeps every
    row id, so the restored alert of the returning series points at its live row."""
    eng = RuleEngine(load_rule_files([write_rules(tmp_path)]))
    eng.observe([cpu(0, 50)])
    eng.evaluate(at(0))
    later = 8 * 24 * 60
    eng.observe([cpu(later, 50, device="other")])
    eng.evaluate(at(later))  # sw1's cpu series is forgotten here
    for m in range(later + 1, later + 4):
        eng.observe([cpu(m, 95)])  # and comes back, breaching
        eng.evaluate(at(m))
    assert [(a.label("device"), a.state) for a in eng.active()] == [("sw1", AlertState.FIRING)]
    save_state(eng, tmp_path / "state", at(later + 3))
    again = RuleEngine(load_rule_files([write_rules(tmp_path)]))
    load_state(again, tmp_path / "state")
    table = again.store.tables["cpu"]
    assert table.labels == eng.store.tables["cpu"].labels
    assert table.alive[: table.size].tolist() == [False, True, True]
    again.observe([cpu(later + 4, 10)])
    assert [(a.label("device"), a.state) for a in again.evaluate(at(later + 4))] == [
        ("sw1", AlertState.RESOLVED)
    ]


def test_a_slightly_early_tick_still_evaluates(tmp_path: Path) -> None:
    """Timer jitter: a tick 0.5 s early for a 60 s group is due (slack 2 %, at most 1 s)."""
    eng = RuleEngine(load_rule_files([write_rules(tmp_path, RULES.replace("for: 2m", "for: 0s"))]))
    eng.observe([cpu(0, 50)])
    eng.evaluate(at(0))
    eng.observe([cpu(1, 95)])
    assert [a.state for a in eng.evaluate(at(1) - timedelta(seconds=0.5))] == [AlertState.FIRING]
