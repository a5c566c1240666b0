"""The per-receiver storm cap (fixed window, pure: monotonic `now` passed in)."""

from __future__ import annotations

from chmd.notify.dispatcher import StormCap


def test_admits_up_to_limit_then_holds_back() -> None:
    """With limit 3 per 60s, the 4th and 5th messages in the window are held back."""
    cap = StormCap(limit=3, window_s=60)
    assert [cap.admit(float(t)) for t in range(5)] == [True, True, True, False, False]
    assert cap.held == 2


def test_summary_once_window_ends_then_new_window() -> None:
    """The held-back count is reported once after the window ends, and a new window starts."""
    cap = StormCap(limit=1, window_s=60)
    cap.admit(0.0)
    cap.admit(1.0)
    cap.admit(2.0)
    assert cap.summary_due(59.0) == 0
    assert cap.seconds_to_window_end(59.0) == 1.0
    assert cap.summary_due(60.0) == 2
    assert cap.summary_due(61.0) == 0
    assert cap.admit(61.0) is True


def test_quiet_receiver_is_never_capped() -> None:
    """One message a minute against a limit of 2 per minute is never held back."""
    cap = StormCap(limit=2, window_s=60)
    assert all(cap.admit(60.0 * i) for i in range(100))
