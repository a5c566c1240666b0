"""Pure parts of chmd.systemd: addresses, watchdog interval, no-op, the feeder's decision."""

from __future__ import annotations

import pytest

from chmd.systemd import Notifier, WatchdogFeeder, socket_address, status_line, watchdog_interval_s


def test_abstract_socket_address() -> None:
    """`@name` in $NOTIFY_SOCKET means Linux's abstract namespace: a leading NUL byte."""
    assert socket_address("@chmd/notify") == "\0chmd/notify"


def test_path_socket_address() -> None:
    """An absolute path is used as is."""
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"


@pytest.mark.parametrize("value", ["", "@", "relative/sock"])
def test_unusable_socket_address(value: str) -> None:
    """Empty, bare '@' and relative values are not addresses systemd would send."""
    assert socket_address(value) is None


def test_watchdog_interval_is_half_of_usec() -> None:
    """WATCHDOG=1 goes out every WATCHDOG_USEC/2, as sd_watchdog_enabled(3) advises."""
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}, pid=10) == 15.0


def test_watchdog_for_another_pid_is_ignored() -> None:
    """An inherited WATCHDOG_PID naming another process disables the watchdog for us."""
    env = {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "11"}
    assert watchdog_interval_s(env, pid=10) is None
    assert watchdog_interval_s(env, pid=11) == 0.5


@pytest.mark.parametrize("usec", ["", "0", "abc"])
def test_no_watchdog_without_valid_usec(usec: str) -> None:
    """No, zero or malformed WATCHDOG_USEC: no watchdog."""
    assert watchdog_interval_s({"WATCHDOG_USEC": usec}, pid=1) is None


def test_notifier_without_socket_is_a_noop() -> None:
    """Outside systemd every notify call returns False and opens nothing."""
    notifier = Notifier(env={"WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    assert [
        notifier.ready("x"),
        notifier.reloading(),
        notifier.stopping(),
        notifier.watchdog(),
    ] == [False] * 4


class _Recorder(Notifier):
    def __init__(self) -> None:
        super().__init__(env={"NOTIFY_SOCKET": "@unused"})
        self.sent: list[tuple[str, ...]] = []

    def notify(self, *assignments: str) -> bool:
        self.sent.append(assignments)
        return True


def test_feeder_pings_only_while_healthy() -> None:
    """The feeder sends WATCHDOG=1 on ticks where the health callback is true, and not otherwise."""
    health = iter([True, False, False, True])
    recorder = _Recorder()
    feeder = WatchdogFeeder(recorder, lambda: next(health), interval_s=1.0)
    assert [feeder.tick() for _ in range(4)] == [True, False, False, True]
    assert recorder.sent == [("WATCHDOG=1",), ("WATCHDOG=1",)]


def test_status_line_counts() -> None:
    """STATUS= carries device and firing-alert counts."""
    assert status_line(12, 3) == "polling 12 devices, 3 alerts firing"
    assert status_line(1, 0, "reload failed") == "polling 1 devices, 0 alerts firing; reload failed"
