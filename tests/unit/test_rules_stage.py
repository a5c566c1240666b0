"""RulesStage: the engine as a daemon stage, driven tick by tick with a passed-in `now`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from chmd.config import RulesSettings
from chmd.model import Alert, AlertState, PollResult, Sample
from chmd.rules.load import RuleSet, load_rule_files
from chmd.rules.stage import RulesStage

T0 = datetime(2026, 1, 5, tzinfo=UTC)
RULES = """groups:
  - name: g
    interval: 30s
    rules:
      - name: cpu_high
        kind: threshold
        select: {measurement: cpu, field: usage}
        op: ">"
        value: 90
        severity: major
        summary: "{device} CPU at {value:.0f}%"
"""


@dataclass
class Settings:
    state_dir: str
    rules: RulesSettings = field(default_factory=RulesSettings)


@dataclass
class Config:
    """The two things RulesStage reads from a LoadedConfig."""

    rules: RuleSet
    config: Settings


def config(tmp_path: Path, text: str = RULES) -> Any:
    (tmp_path / "rules.yaml").write_text(text)
    return Config(load_rule_files([tmp_path / "rules.yaml"]), Settings(str(tmp_path / "state")))


def poll(minute: int, usage: float) -> PollResult:
    at = T0 + timedelta(minutes=minute)
    sample = Sample(
        "cpu", {"device": "sw1", "agent_host": "h"}, {"usage": usage}, int(at.timestamp() * 1e9)
    )
    return PollResult("sw1", "snmp", (sample,), 0.1)


class Sink:
    def __init__(self) -> None:
        self.emitted: list[tuple[list[Alert], list[Alert]]] = []
        self.written: list[Sample] = []

    async def emit(self, changed: Any, active: Any, now: datetime) -> None:
        self.emitted.append((list(changed), list(active)))

    def write(self, samples: list[Sample]) -> None:
        self.written.extend(samples)


async def test_tick_emits_writes_logs_and_saves(tmp_path: Path) -> None:
    """A tick that fires an alert hands it to emit, writes an `alerts` sample, logs
    `alert_firing` once and saves alerts.json."""
    sink = Sink()
    stage = RulesStage(emit=sink.emit, write=sink.write, clock=lambda: T0, run_timer=False)
    await stage.apply(config(tmp_path))
    assert stage.tick_s == 30.0
    stage.observe(poll(0, 95))
    with structlog.testing.capture_logs() as logs:
        changed = await stage.tick(T0)
        await stage.tick(T0 + timedelta(seconds=30))
    assert [(a.rule, a.state) for a in changed] == [("cpu_high", AlertState.FIRING)]
    assert [e["event"] for e in logs if e["event"].startswith("alert_")] == ["alert_firing"]
    assert [(s.measurement, s.fields["state"]) for s in sink.written] == [("alerts", "firing")]
    assert [len(c) for c, _ in sink.emitted] == [1, 0]
    assert (tmp_path / "state" / "rules" / "alerts.json").exists()
    await stage.aclose()
    assert (tmp_path / "state" / "rules" / "windows.npz").exists()


async def test_restart_through_the_stage_does_not_refire(tmp_path: Path) -> None:
    """A second stage on the same state dir restores the firing alert and emits no change."""
    first = RulesStage(clock=lambda: T0, run_timer=False)
    await first.apply(config(tmp_path))
    first.observe(poll(0, 95))
    await first.tick(T0)
    await first.aclose()
    sink = Sink()
    second = RulesStage(emit=sink.emit, clock=lambda: T0 + timedelta(minutes=1), run_timer=False)
    await second.apply(config(tmp_path))
    second.observe(poll(1, 96))
    assert await second.tick(T0 + timedelta(minutes=1)) == []
    assert [(a.rule, a.state) for a in sink.emitted[0][1]] == [("cpu_high", AlertState.FIRING)]
    await second.aclose()


async def test_reload_with_changed_rules_logs_the_changes(tmp_path: Path) -> None:
    """apply() with an edited rule file swaps the rules and logs added/changed/removed."""
    stage = RulesStage(clock=lambda: T0, run_timer=False)
    await stage.apply(config(tmp_path))
    edited = RULES.replace("value: 90", "value: 80")
    with structlog.testing.capture_logs() as logs:
        await stage.apply(config(tmp_path, edited))
    (event,) = [e for e in logs if e["event"] == "rules_reloaded"]
    assert (event["changed"], event["added"], event["removed"]) == (["cpu_high"], [], [])
    await stage.aclose()


async def test_engine_settings_come_from_the_rules_section(tmp_path: Path) -> None:
    """The `rules:` knobs of chmd.yaml reach the engine at start and again on reload."""
    stage = RulesStage(clock=lambda: T0, run_timer=False)
    first = config(tmp_path)
    first.config.rules = RulesSettings(flap_threshold=3, retention="5m", raw_resolution="30s")
    await stage.apply(first)
    assert stage.engine is not None
    s = stage.engine.settings
    assert (s.flap_threshold, s.retention_s, s.raw_resolution_s) == (3, 300.0, 30.0)
    assert (s.flap_window_s, s.forget_after_s) == (3600.0, 604800.0)
    again = config(tmp_path)
    again.config.rules = RulesSettings(flap_window="2h", forget_after="1d")
    with structlog.testing.capture_logs() as logs:
        await stage.apply(again)
    s = stage.engine.settings
    assert (s.flap_window_s, s.forget_after_s, s.flap_threshold) == (7200.0, 86400.0, 6)
    assert [e["event"] for e in logs] == ["rules_settings_reloaded"]
    await stage.aclose()


async def test_unreadable_state_starts_empty_with_a_warning(tmp_path: Path) -> None:
    """A corrupt alerts.json is reported and the engine starts without state."""
    (tmp_path / "state" / "rules").mkdir(parents=True)
    (tmp_path / "state" / "rules" / "alerts.json").write_text("{not json")
    stage = RulesStage(clock=lambda: T0)
    with structlog.testing.capture_logs() as logs:
        await stage.apply(config(tmp_path))
    assert "rules_state_unreadable" in [e["event"] for e in logs]
    assert stage.engine is not None
    await stage.aclose()


async def test_timer_ticks_until_closed(tmp_path: Path) -> None:
    """With the timer on, the first tick runs right after apply; aclose cancels it cleanly."""
    sink = Sink()
    stage = RulesStage(emit=sink.emit, clock=lambda: T0)
    await stage.apply(config(tmp_path))
    for _ in range(100):  # yield to the loop until the first tick has run (no sleeps)
        if sink.emitted:
            break
        await asyncio.sleep(0)
    assert sink.emitted
    await stage.aclose()
