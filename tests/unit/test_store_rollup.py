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
    """Mean/min/max/last of numeric fields, at the window start, when a later sample arrives."""
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


def test_series_and_tiers_are_separate() -> None:
    """Each series and each tier has its own window."""
    r = Rollups({"5m": 300, "1h": 3600})
    r.observe(s(0, 1.0, "a"), "a")
    r.observe(s(0, 3.0, "b"), "b")
    closed = r.observe(s(5, 1.0, "a"), "a")
    assert [(c.tier, c.sample.tags["device"]) for c in closed] == [("5m", "a")]
    assert r.open_windows() == 4
