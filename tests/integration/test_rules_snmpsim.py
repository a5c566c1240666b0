"""Rules fed by the real SNMP collector polling snmpsim's live recordings (no fakes but the
clock handed to `evaluate`, which is the poll's own sample time)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness.snmp import LIVE_RATES, write_data_dir
from helpers import poll_once

from chmd.collect.snmp.collector import SnmpCollector
from chmd.collect.snmp.profiles import load_profiles
from chmd.inventory.schema import Device
from chmd.model import AlertState, PollResult, Sample
from chmd.rules.engine import RuleEngine
from chmd.rules.load import load_rule_files

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PROFILES = load_profiles()
RATE_RULES = """groups:
  - name: live
    interval: 1s
    rules:
      - name: inbound_over_10MBps
        kind: threshold
        select: {measurement: interface, field: ifHCInOctets_rate}
        op: ">"
        value: 10000000
        summary: "{device} {ifName} ({ifAlias}) receives {value:.0f} B/s"
      - name: inbound_over_20MBps
        kind: threshold
        select: {measurement: interface, field: ifHCInOctets_rate}
        op: ">"
        value: 20000000
"""


def device(agent: Any, community: str) -> Device:
    return Device.model_validate(
        {
            "name": community,
            "host": agent.host,
            "timeout": 30,
            "snmp": {"community": community, "port": agent.port, "timeout": 2, "retries": 1},
        }
    )


def poll_time(result: PollResult) -> datetime:
    """The poll's own timestamp (what the rule engine is evaluated at)."""
    return datetime.fromtimestamp(max(s.time_ns for s in result.samples) / 1e9, UTC)


def later(samples: tuple[Sample, ...], delta: timedelta) -> list[Sample]:
    shift = int(delta.total_seconds() * 1e9)
    return [Sample(s.measurement, s.tags, s.fields, s.time_ns + shift) for s in samples]


def test_live_counters_drive_a_threshold_alert(snmpsim: Any, tmp_path: Path) -> None:
    """iosxe_c9300-live receives 12.5 MB/s on every HC port: the 10 MB/s rule fires for each
    such port with the collector's rate as value and the recorded ifName in its summary;
    20 MB/s does not."""
    (tmp_path / "rules.yaml").write_text(RATE_RULES)
    engine = RuleEngine(load_rule_files([tmp_path / "rules.yaml"]))
    collector = SnmpCollector(PROFILES)
    dev = device(snmpsim, "iosxe_c9300-live")
    first = poll_once(collector, dev)
    engine.observe(first.samples)
    assert engine.evaluate(poll_time(first)) == []  # no rate yet from a single poll
    time.sleep(3.0)
    second = poll_once(collector, dev)
    engine.observe(second.samples)
    changes = engine.evaluate(poll_time(second))
    rated = {
        s.tags["ifName"]: s.fields["ifHCInOctets_rate"]
        for s in second.samples
        if s.measurement == "interface" and "ifHCInOctets_rate" in s.fields
    }
    assert rated
    fired = {a.label("ifName"): a for a in changes}
    assert set(fired) == set(rated)
    assert {a.rule for a in changes} == {"inbound_over_10MBps"}
    for name, alert in fired.items():
        assert alert.state is AlertState.FIRING
        assert alert.value == rated[name]  # exactly what the collector computed
        assert alert.value == pytest.approx(LIVE_RATES["ifHCInOctets"], rel=0.05)
        assert alert.summary.startswith(f"iosxe_c9300-live {name} (")


def test_agent_down_fires_unreachable_and_restart_fires_reboot(
    snmpsim_factory: Any, tmp_path: Path
) -> None:
    """With the shipped device-health pack: stopping the agent (polls return no samples) fires
    device_unreachable once absent_for has passed since the last good poll; the agent coming
    back resolves it, and since its sysUpTime restarted, device_rebooted fires."""
    write_data_dir(tmp_path / "data", ["iosxe_c9300"])
    agent = snmpsim_factory(data_dir=tmp_path / "data")
    engine = RuleEngine(load_rule_files([REPO / "rules" / "device-health.yaml"]))
    collector = SnmpCollector(PROFILES)
    dev = device(agent, "iosxe_c9300-live")
    good = poll_once(collector, dev)
    assert [s for s in good.samples if s.measurement == "system"]
    engine.observe(good.samples)
    last_good = poll_time(good)
    engine.evaluate(last_good)
    time.sleep(2.0)  # sysUpTime must have advanced before the restart
    good = poll_once(collector, dev)
    engine.observe(good.samples)
    last_good = poll_time(good)
    engine.evaluate(last_good)

    agent.stop()
    failed = poll_once(collector, dev)
    assert failed.samples == ()
    assert failed.errors
    engine.observe(failed.samples)
    assert engine.evaluate(last_good + timedelta(minutes=2)) == []
    down = engine.evaluate(last_good + timedelta(minutes=3))
    assert [(a.rule, a.label("device"), a.state) for a in down] == [
        ("device_unreachable", "iosxe_c9300-live", AlertState.FIRING)
    ]

    agent.start()
    back = poll_once(collector, dev)
    assert [s for s in back.samples if s.measurement == "system"]
    # the outage is simulated as 4 minutes long: the returning poll is stamped that much later
    outage = timedelta(minutes=4)
    engine.observe(later(back.samples, outage))
    changes = {(a.rule, a.state) for a in engine.evaluate(poll_time(back) + outage)}
    assert ("device_unreachable", AlertState.RESOLVED) in changes
    assert ("device_rebooted", AlertState.FIRING) in changes
