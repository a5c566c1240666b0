"""Rollup windows (pure: times are passed in)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from chmd.model import FieldValue, Sample
from chmd.store import lineproto
from chmd.store.rollup import Closed, Rollups

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
    fields: dict[str, FieldValue] = {
        "ifHCInOctets": 10**12,
        "ifHCInOctets_rate": 100.0,
        "up": True,
        "alias": "a",
    }
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


_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, 1.0, -0.0, 0.0, 1e308]),
)
_odd = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf]), st.booleans(), st.text(max_size=2)
)
_values = st.one_of(_numbers, _numbers, _numbers, _numbers, _numbers, _odd)
_layout = st.fixed_dictionaries({"x": _values, "y_rate": _values, "skipOctets": _values})
_any_layout = st.dictionaries(st.sampled_from(["x", "y_rate", "skipOctets"]), _values, max_size=3)
_events = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),  # series
        st.integers(min_value=-40, max_value=120),  # seconds on: mostly forward, some late
        st.one_of(_layout, _layout, _layout, _layout, _any_layout),  # mostly one layout
        st.sampled_from(["observe", "observe", "observe", "close_due", "to_json"]),
    ),
    max_size=60,
)


def _exact(closed: list[Closed]) -> list[tuple[object, ...]]:
    return [
        (
            c.tier,
            c.series,
            c.sample.time_ns,
            [(k, type(v), repr(v)) for k, v in c.sample.fields.items()],
        )
        for c in closed
    ]


@settings(max_examples=400)
@given(_events)
def test_buffered_rows_equal_per_sample_updates(
    events: list[tuple[str, int, dict[str, FieldValue], str]],
) -> None:
    """Buffering rows and folding them later gives exactly (types and bits) the windows that
    updating every aggregate per sample gives, whatever the order, layouts and values; also
    when the Writer passes the line-protocol layout of clean samples (`clean`)."""
    results = []
    for buffer_rows, pass_clean in ((True, False), (False, False), (True, True)):
        r = Rollups({"5m": 300, "1h": 3600}, exclude_fields=["*Octets"])
        r.buffer_rows = buffer_rows
        closed: list[Closed] = []
        snapshots = []
        now = 0
        for series, step, fields, action in events:
            now = max(0, now + step)
            t = now * 10**9
            if action == "observe":
                sample = Sample("m", {"s": series}, fields, t)
                clean = lineproto.field_set_layout(sample, lineproto.SkipCounts())[1]
                closed += r.observe(sample, series, clean if pass_clean else None)
            elif action == "close_due":
                closed += r.close_due(t, grace_s=30)
            else:
                snapshots.append(r.to_json())
        closed += r.close_due(10**6 * MIN)
        results.append((_exact(closed), snapshots, r.late))
    assert results[0] == results[1] == results[2]


def test_buffered_rows_fold_into_saved_aggregates_in_order() -> None:
    """Rows buffered after a snapshot add to the aggregates already folded, and a sample older
    than the window's newest one (out of order) does not become `last`, as per sample."""
    for buffer_rows in (True, False):
        r = Rollups({"5m": 300})
        r.buffer_rows = buffer_rows
        for second, x in [(0, 1.0), (10, 2.0)]:
            r.observe(Sample("m", {}, {"x": x}, second * 10**9), "k")
        r.to_json()  # folds the rows
        for second, x in [(30, 8.0), (20, 3.0), (25, 0.5)]:
            r.observe(Sample("m", {}, {"x": x}, second * 10**9), "k")
        (closed,) = r.close_due(10 * MIN)
        assert closed.sample.fields == {"x_mean": 2.9, "x_max": 8.0, "x_min": 0.5, "x_last": 8.0}
        r = Rollups({"5m": 300})
        r.buffer_rows = buffer_rows
        for second, x in [(0, 1.0), (40, 2.0), (20, 3.0), (30, 4.0)]:
            r.observe(Sample("m", {}, {"x": x}, second * 10**9), "k")
        (closed,) = r.close_due(10 * MIN)
        assert closed.sample.fields["x_last"] == 2.0


def test_rollup_fields_are_floats_for_int_gauges() -> None:
    """An int gauge (ifOperStatus, procs) rolls up to float fields only, so a window of
    ints and a window of floats never conflict in InfluxDB's field types."""
    r = Rollups({"5m": 300})
    r.observe(Sample("m", {}, {"procs": 3, "up_rate": 2}, 0), "k")
    r.observe(Sample("m", {}, {"procs": 5, "up_rate": 4}, 10**9), "k")
    (closed,) = r.close_due(10 * MIN)
    assert closed.sample.fields == {
        "procs_mean": 4.0,
        "procs_max": 5.0,
        "procs_min": 3.0,
        "procs_last": 5.0,
        "up_rate_mean": 3.0,
        "up_rate_max": 4.0,
    }
    assert {type(v) for v in closed.sample.fields.values()} == {float}
