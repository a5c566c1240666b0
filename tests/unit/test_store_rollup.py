"""Rollup windows (pure: times are passed in)."""

from __future__ import annotations

from chmd.model import Sample
from chmd.store.rollup import Rollups

MIN = 60 * 10**9


def s(t_min: float, value: float, host: str = "r1") -> Sample:
    return Sample(
        "cpu", {"device": host}, {"load": value, "name": "x", "ok": True}, int(t_min * MIN)
    )


def test_window_closes_when_next_window_starts() -> None:
    """Gauges get mean/min/max/last at the window start, when a later window's sample arrives."""
    r = Rollups({"5m": 300})
    assert r.observe(s(0, 1.0), "k") == []
    assert r.observe(s(1, 4.0), "k") == []
    assert r.observe(s(4.5, 2.0), "k") == []
    closed = r.observe(s(5, 9.0), "k")
    assert len(closed) == 1
    assert closed[0].tier == "5m"
    out = closed[0].sample
    assert (out.measurement, dict(out.tags), out.time_ns) == ("cpu", {"device": "r1"}, 0)
    assert out.fields == {"load_mean": 7 / 3, "load_min": 1.0, "load_max": 4.0, "load_last": 2.0}


def test_rates_counters_and_flags() -> None:
    """`*_rate` fields get mean/max only; excluded counters, strings and booleans are skipped."""
    r = Rollups({"1m": 60}, exclude_fields=["*Octets"])
    fields = {"ifHCInOctets": 10**12, "ifHCInOctets_rate": 100.0, "up": True, "alias": "a"}
    r.observe(Sample("interface", {"ifName": "Gi1"}, fields, 0), "k")
    r.observe(Sample("interface", {"ifName": "Gi1"}, {"ifHCInOctets_rate": 300.0}, 10**9), "k")
    closed = r.close_due(2 * MIN)
    assert [c.sample.fields for c in closed] == [
        {"ifHCInOctets_rate_mean": 200.0, "ifHCInOctets_rate_max": 300.0}
    ]


def test_measurement_filter() -> None:
    """Only measurements matching the patterns are rolled up."""
    r = Rollups({"1m": 60}, measurements=["interface"])
    r.observe(s(0, 1.0), "k")
    assert r.open_windows() == 0


def test_close_due_and_late_samples() -> None:
    """Idle windows close after window end + grace; a sample for a closed window is late."""
    r = Rollups({"5m": 300})
    r.observe(s(1, 1.0), "k")
    assert r.close_due(5 * MIN, grace_s=30) == []
    closed = r.close_due(6 * MIN, grace_s=30)
    assert [c.sample.time_ns for c in closed] == [0]
    assert r.observe(s(2, 5.0), "k") == []
    assert r.late == 1
    assert r.open_windows() == 0


def test_tiers_cascade_exactly() -> None:
    """The 1h window is built from the 5m windows: its mean is the mean of all raw points."""
    r = Rollups({"1h": 3600, "5m": 300})
    values = [float(v % 7) for v in range(30)]
    closed = []
    for i, v in enumerate(values):
        closed += r.observe(s(i * 2, v), "k")  # every 2 minutes for an hour
    closed += r.close_due(200 * MIN)
    hourly = [c.sample.fields for c in closed if c.tier == "1h"]
    assert hourly == [
        {
            "load_mean": sum(values) / 30,
            "load_min": 0.0,
            "load_max": 6.0,
            "load_last": values[-1],
        }
    ]
    assert len([c for c in closed if c.tier == "5m"]) == 12


def test_restart_neither_loses_nor_doubles() -> None:
    """Open windows and closed marks survive to_json/load_json: the window closes once, whole."""
    r = Rollups({"5m": 300})
    r.observe(s(0, 2.0), "k")
    r.close_due(6 * MIN)
    r.observe(s(6, 4.0), "k")
    again = Rollups({"5m": 300})
    again.load_json(r.to_json())
    assert again.observe(s(1, 100.0), "k") == []  # window 0 already written: late
    closed = again.observe(s(10, 1.0), "k")
    assert [c.sample.fields["load_mean"] for c in closed] == [4.0]


def test_series_are_separate() -> None:
    """Each series has its own windows; larger tiers open when a smaller window closes."""
    r = Rollups({"5m": 300, "1h": 3600})
    r.observe(s(0, 1.0, "a"), "a")
    r.observe(s(0, 3.0, "b"), "b")
    closed = r.observe(s(5, 1.0, "a"), "a")
    assert [(c.tier, c.sample.tags["device"]) for c in closed] == [("5m", "a")]
    assert r.open_windows() == 3


def test_mark_closed_drops_stale_open_copy() -> None:
    """Replaying the closed-window log drops an older open copy and blocks re-writing it."""
    r = Rollups({"5m": 300})
    r.observe(s(0, 2.0), "k")
    r.mark_closed("5m", "k", 0)
    assert r.open_windows() == 0
    assert r.observe(s(1, 3.0), "k") == []
    assert r.late == 1
