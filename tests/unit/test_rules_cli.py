"""`chmd alerts`: reads the state the daemon saved, from the state_dir chmd.yaml names."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from chmd.cli import main
from chmd.model import Sample
from chmd.rules.engine import RuleEngine
from chmd.rules.load import load_rule_files
from chmd.rules.persist import save_state

T0 = datetime(2026, 1, 5, tzinfo=UTC)
RULES = """groups:
  - name: g
    rules:
      - name: cpu_high
        kind: threshold
        select: {measurement: cpu, field: usage}
        op: ">"
        value: 90
        for: 2m
        severity: major
        summary: "{device} CPU at {value:.0f}%"
"""


def saved_state(tmp_path: Path) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES)
    eng = RuleEngine(load_rule_files([tmp_path / "rules.yaml"]))
    for m in range(4):
        at = T0 + timedelta(minutes=m)
        eng.observe(
            [
                Sample("cpu", {"device": "sw1"}, {"usage": 95}, int(at.timestamp() * 1e9)),
                Sample(
                    "cpu",
                    {"device": "sw2"},
                    {"usage": 50 if m < 3 else 97},
                    int(at.timestamp() * 1e9),
                ),
            ]
        )
        eng.evaluate(at)
    save_state(eng, tmp_path / "state", T0 + timedelta(minutes=3))
    return tmp_path / "state"


def test_alerts_table_lists_firing_then_pending(tmp_path: Path) -> None:
    """The table shows state, since, severity, rule, value and summary, firing first."""
    state = saved_state(tmp_path)
    result = CliRunner().invoke(main, ["alerts", "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "# state saved 2026-01-05 00:03:00Z; 2 alert(s)",
        "STATE    SINCE                 SEVERITY  RULE      VALUE  SUMMARY",
        "firing   2026-01-05 00:00:00Z  major     cpu_high  95     sw1 CPU at 95%",
        "pending  2026-01-05 00:03:00Z  major     cpu_high  97     sw2 CPU at 97%",
    ]


def test_alerts_state_dir_from_the_config(tmp_path: Path) -> None:
    """Without --state-dir, `chmd alerts -c chmd.yaml` reads chmd.yaml's state_dir."""
    state = saved_state(tmp_path)
    (tmp_path / "devices.yaml").write_text("devices: {}\n")
    (tmp_path / "chmd.yaml").write_text(
        f"state_dir: {state}\ninventory:\n  files: [devices.yaml]\nrules:\n  files: []\n"
    )
    result = CliRunner().invoke(
        main, ["alerts", "-c", str(tmp_path / "chmd.yaml"), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["rule"], r["state"], r["labels"]["device"], r["value"]) for r in rows] == [
        ("cpu_high", "firing", "sw1", 95.0),
        ("cpu_high", "pending", "sw2", 97.0),
    ]


def test_alerts_without_state_says_so(tmp_path: Path) -> None:
    """An empty state dir is not an error: the command says there is no state yet."""
    result = CliRunner().invoke(main, ["alerts", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert "no alert state in" in result.output
