"""Counter rates: wraps, resets, restarts and the speed bound (pure, `now` passed in)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chmd.collect.snmp import ber
from chmd.collect.snmp.counters import (
    WRAP32,
    WRAP64,
    RateTracker,
    counter_delta,
    restarted,
    utilisation_percent,
)


@given(start=st.integers(0, WRAP32 - 1), step=st.integers(0, WRAP32 - 1))
def test_counter32_delta_is_exact_across_one_wrap(start: int, step: int) -> None:
    """Any increase below 2**32 is recovered from the wrapped Counter32 reading."""
    assert counter_delta(start, (start + step) % WRAP32, 32) == step


@given(start=st.integers(1, WRAP64 - 1), drop=st.integers(1, WRAP64 - 1))
def test_counter64_going_down_is_a_reset(start: int, drop: int) -> None:
    """A Counter64 that decreased was reset: no delta."""
    cur = max(0, start - drop)
    assert counter_delta(start, cur, 64) is None


@given(
    start=st.integers(0, WRAP32 - 1),
    per_s=st.integers(0, 10**7),
    interval=st.floats(1, 300),
)
def test_rate_matches_the_constant_increase(start: int, per_s: int, interval: float) -> None:
    """A counter rising at a constant rate gives that rate, wrapped or not."""
    tracker = RateTracker()
    assert tracker.rate(("r", "f"), start, 32, 1000.0) is None
    delta = int(per_s * interval)
    cur = (start + delta) % WRAP32
    got = tracker.rate(("r", "f"), cur, 32, 1000.0 + interval)
    assert got is not None
    elapsed = (1000.0 + interval) - 1000.0  # what the tracker sees after float rounding
    assert abs(got - delta / elapsed) < 1e-6


def test_rate_above_speed_is_withheld_and_counted() -> None:
    """A rate above the maximum given (link speed) is not returned; `over_speed` counts it."""
    tracker = RateTracker()
    tracker.rate(("1", "in"), 0, 64, 0.0)
    assert tracker.rate(("1", "in"), 2_000_000, 64, 1.0, max_per_s=1_000_000) is None
    assert tracker.stats["over_speed"] == 1


def test_uptime_going_back_drops_every_baseline() -> None:
    """After a restart (sysUpTime backwards) the next reading gives no rate, counted as restart."""
    tracker = RateTracker()
    tracker.observe_uptime(500_000, 0.0)
    tracker.rate(("1", "in"), 10_000, 32, 0.0)
    assert tracker.observe_uptime(1_000, 60.0) is True
    assert tracker.rate(("1", "in"), 50, 32, 60.0) is None
    assert tracker.stats["restart"] == 1
    assert tracker.rate(("1", "in"), 150, 32, 61.0) == 100.0


def test_uptime_wrap_is_not_a_restart() -> None:
    """sysUpTime wrapping at 2**32 ticks (497 days) keeps the baselines."""
    assert not restarted(WRAP32 - 3000, 0.0, 3000, 60.0)
    assert restarted(WRAP32 - 3000, 0.0, 300_000, 60.0)


def test_restart_between_polls_with_higher_uptime_is_detected() -> None:
    """An uptime shorter than the time since the last poll means the device restarted."""
    assert restarted(1000, 0.0, 30_000, 600.0)
    assert not restarted(1000, 0.0, 61_000, 600.0)


def test_discontinuity_change_drops_only_that_row() -> None:
    """A changed ifCounterDiscontinuityTime withholds that row's rates, not other rows'."""
    tracker = RateTracker()
    tracker.observe_discontinuity("1", 0)
    tracker.observe_discontinuity("2", 0)
    tracker.rate(("1", "in"), 100, 64, 0.0)
    tracker.rate(("2", "in"), 100, 64, 0.0)
    assert tracker.observe_discontinuity("1", 555) is True
    assert tracker.observe_discontinuity("2", 0) is False
    assert tracker.rate(("1", "in"), 5, 64, 10.0) is None
    assert tracker.rate(("2", "in"), 200, 64, 10.0) == 10.0
    assert tracker.stats["discontinuity"] == 1


def test_utilisation_from_octets_and_speed() -> None:
    """12.5 MB/s on a 1 Gbit/s link is 10 %; unknown speed gives None."""
    assert utilisation_percent(12_500_000, 1e9) == 10.0
    assert utilisation_percent(12_500_000, 0) is None


def test_vanished_rows_lose_their_baselines() -> None:
    """A row gone from its table has no baseline left; other tables' rows are kept."""
    tracker = RateTracker()
    tracker.rate((("if", (1,)), "in"), 10, 64, 0.0)
    tracker.rate((("if", (2,)), "in"), 10, 64, 0.0)
    tracker.rate((("cpu", (1,)), "x"), 10, 64, 0.0)
    tracker.forget_rows("if", {("if", (1,))})
    assert tracker.rate((("if", (2,)), "in"), 20, 64, 1.0) is None
    assert tracker.rate((("if", (1,)), "in"), 20, 64, 1.0) == 10.0
    assert tracker.rate((("cpu", (1,)), "x"), 20, 64, 1.0) == 10.0


readings = st.lists(
    st.tuples(
        st.sampled_from(["in", "out", "err"]),  # field
        st.sampled_from([ber.COUNTER32, ber.COUNTER64]),
        st.one_of(st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1)),
        st.floats(-5.0, 120.0, allow_nan=False),  # seconds since the previous poll
    ),
    min_size=1,
    max_size=8,
)


@given(st.lists(readings, min_size=1, max_size=6), st.sampled_from([None, 0.0, 1e6]))
def test_row_rates_are_the_rates_of_each_counter(
    polls: list[list[tuple[str, int, int, float]]], bound: float | None
) -> None:
    """`row_rates` over a row's varbinds gives, poll after poll, the rates and withheld
    counts that `rate((row, field), …)` gives for each counter (wraps, resets, times that
    do not advance, the speed bound on the bounded fields)."""
    by_field, by_row = RateTracker(), RateTracker()
    now = 0.0
    for poll in polls:
        cells = {}
        times: dict[str, dict[tuple[int, ...], float]] = {}
        for field, tag, value, dt in poll:
            now += dt
            cells[field] = ((1, 3, 6, 1, 1), tag, value if tag == ber.COUNTER64 else value % 2**32)
            times[field] = {(1,): now}
        expected = {}
        for field, (_, tag, value) in cells.items():
            bits = 32 if tag == ber.COUNTER32 else 64
            rate = by_field.rate(
                ("r", field), value, bits, times[field][(1,)], bound if field == "in" else None
            )
            if rate is not None:
                expected[f"{field}_rate"] = rate
        got: dict[str, float] = {}
        counters = [(f, f"{f}_rate", f == "in", times.get(f)) for f in ("in", "out", "err")]
        by_row.row_rates("r", counters, cells, (1,), -1.0, bound, got)
        assert got == expected
        assert by_row.stats == by_field.stats
