"""Rates and utilisation of interface counters read over SSH (pure: `now` is passed in)."""

from __future__ import annotations

import pytest

from chmd.collect.snmp.counters import RateTracker
from chmd.collect.ssh.rates import with_rates
from chmd.model import Sample

TAGS = {"device": "sw1", "ifName": "Gi1/0/1"}


def row(in_bytes: int, out_bytes: int = 0, errors: int = 0, mbps: int = 1000) -> Sample:
    fields = {
        "ifHCInOctets": in_bytes,
        "ifHCOutOctets": out_bytes,
        "ifInErrors": errors,
        "ifHighSpeed": mbps,
        "ifOperStatus": 1,
    }
    return Sample("interface", TAGS, fields, 1)


def test_first_reading_has_no_rate_the_second_has_rates_and_utilisation() -> None:
    """Bytes 0 → 75,000,000 in 60 s on a 1 Gbit/s port: 1,250,000 B/s, 1 % in."""
    tracker = RateTracker()
    [first] = with_rates([row(0)], tracker, 100.0)
    [second] = with_rates([row(75_000_000, errors=6)], tracker, 160.0)
    assert "ifHCInOctets_rate" not in first.fields
    assert second.fields["ifHCInOctets_rate"] == pytest.approx(1_250_000.0)
    assert second.fields["in_octets_rate"] == pytest.approx(1_250_000.0)
    assert second.fields["in_utilization"] == pytest.approx(1.0)
    assert second.fields["out_utilization"] == 0.0
    assert second.fields["ifInErrors_rate"] == pytest.approx(0.1)
    assert "ifOperStatus_rate" not in second.fields  # a status is not a counter


def test_cleared_counters_give_no_rate_and_are_counted() -> None:
    """`clear counters` (a 64-bit counter going down) withholds that interval's rate."""
    tracker = RateTracker()
    with_rates([row(5_000_000)], tracker, 0.0)
    [cleared] = with_rates([row(1_000)], tracker, 60.0)
    [next_one] = with_rates([row(61_000)], tracker, 120.0)
    assert "ifHCInOctets_rate" not in cleared.fields
    assert tracker.stats["reset"] >= 1
    assert next_one.fields["ifHCInOctets_rate"] == pytest.approx(1_000.0)


def test_rate_above_the_bandwidth_is_never_written() -> None:
    """More bytes than a 10 Mbit/s link can carry in the interval: no rate (over_speed)."""
    tracker = RateTracker()
    with_rates([row(0, mbps=10)], tracker, 0.0)
    [fast] = with_rates([row(10**9, mbps=10)], tracker, 1.0)
    assert "ifHCInOctets_rate" not in fast.fields
    assert "in_utilization" not in fast.fields
    assert tracker.stats["over_speed"] == 1


def test_other_measurements_pass_unchanged() -> None:
    """Only `interface` samples get rates; a cpu sample is returned as it was."""
    cpu = Sample("cpu", {"device": "sw1", "name": "total"}, {"usage": 5.0}, 1)
    assert with_rates([cpu], RateTracker(), 0.0) == [cpu]
