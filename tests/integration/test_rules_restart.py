"""kill -9 of a process running the rule engine while an alert fires: after a restart on the
same state dir the same alert is firing, no duplicate `firing` is reported and the resolve is
reported exactly once. (The process ticks the real RulesStage on a simulated clock, saving
its state every tick, so the kill can land in the middle of a save.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness.aio import run_sync

from chmd.config import RulesSettings
from chmd.model import AlertState, PollResult, Sample
from chmd.rules.load import load_rule_files
from chmd.rules.stage import RulesStage

pytestmark = pytest.mark.integration
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
        summary: "{device} CPU at {value:.0f}%"
"""
CHILD = r"""
import asyncio, sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from chmd.config import RulesSettings
from chmd.model import PollResult, Sample
from chmd.rules.load import load_rule_files
from chmd.rules.stage import RulesStage

@dataclass
class S:
    state_dir: str
    rules: RulesSettings = field(default_factory=RulesSettings)

@dataclass
class C:
    rules: object
    config: S

async def main(rules, state):
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    stage = RulesStage(run_timer=False, save_every_s=0.0)
    await stage.apply(C(load_rule_files([Path(rules)]), S(state)))
    minute = 0
    while True:
        now = t0 + timedelta(minutes=minute)
        sample = Sample("cpu", {"device": "sw1", "agent_host": "h"}, {"usage": 95.0},
                        int(now.timestamp() * 1e9))
        stage.observe(PollResult("sw1", "snmp", (sample,), 0.1))
        for alert in await stage.tick(now):
            print(minute, alert.state.value, alert.fingerprint, flush=True)
        print(minute, "tick", flush=True)
        minute += 1

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


class Cfg:
    def __init__(self, rules: Path, state: Path) -> None:
        self.rules = load_rule_files([rules])
        self.config = type("S", (), {"state_dir": str(state), "rules": RulesSettings()})()


def poll(at: datetime, usage: float) -> PollResult:
    sample = Sample(
        "cpu", {"device": "sw1", "agent_host": "h"}, {"usage": usage}, int(at.timestamp() * 1e9)
    )
    return PollResult("sw1", "snmp", (sample,), 0.1)


def run_until_killed(tmp_path: Path) -> tuple[str, int]:
    """Start the child, wait (with a deadline) for its alert to fire plus a few saved ticks,
    kill -9 it; returns the fingerprint it reported and the last tick it printed."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "rules.yaml"), str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    fingerprint, last_tick, deadline = "", -1, time.monotonic() + 60
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            minute, what, *rest = line.split()
            if what == "firing":
                fingerprint = rest[0]
            if what == "tick":
                last_tick = int(minute)
            if (fingerprint and last_tick >= 40) or time.monotonic() > deadline:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert fingerprint, "the child never reported its alert firing"
    return fingerprint, last_tick


def test_kill_9_while_firing_then_restart(tmp_path: Path) -> None:
    """After kill -9: same fingerprint firing, no re-fire, one resolve."""
    (tmp_path / "rules.yaml").write_text(RULES)
    fingerprint, last_tick = run_until_killed(tmp_path)
    saved = json.loads((tmp_path / "state" / "rules" / "alerts.json").read_text())
    saved_at = datetime.fromisoformat(saved["saved_at"])
    assert T0 + timedelta(minutes=2) <= saved_at <= T0 + timedelta(minutes=last_tick + 1)

    async def restart() -> list[Any]:
        stage = RulesStage(run_timer=False, save_every_s=0.0)
        await stage.apply(Cfg(tmp_path / "rules.yaml", tmp_path / "state"))  # type: ignore[arg-type]
        assert stage.engine is not None
        restored = [(a.fingerprint, a.state) for a in stage.engine.active()]
        changes = []
        for k, usage in enumerate((96.0, 97.0, 10.0, 10.0, 10.0), start=1):
            now = saved_at + timedelta(minutes=k)
            stage.observe(poll(now, usage))
            changes.extend((a.fingerprint, a.state) for a in await stage.tick(now))
        await stage.aclose()
        return [restored, changes]

    restored, changes = run_sync(restart())
    assert restored == [(fingerprint, AlertState.FIRING)]
    assert changes == [(fingerprint, AlertState.RESOLVED)]
