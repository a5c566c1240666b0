"""`show logging` dedupe across polls."""

from __future__ import annotations

from chmd.collect.ssh.syslog import new_entries


def entry(number: str, message: str, time: str = "03:02:31") -> dict[str, object]:
    return {"number": number, "month": "Jun", "day": "19", "time": time, "facility": "LINK",
            "severity": "3", "mnemonic": "UPDOWN", "message": [message]}  # fmt: skip


def test_first_poll_is_only_a_baseline() -> None:
    """The first buffer read emits nothing, so a restart does not replay old entries."""
    new, seen = new_entries([entry("1", "a"), entry("2", "b")], None)
    assert new == []
    assert len(seen) == 2


def test_only_entries_after_the_last_poll() -> None:
    """Entries already seen are dropped even though the buffer repeats them."""
    _, seen = new_entries([entry("1", "a"), entry("2", "b")], None)
    new, _ = new_entries([entry("2", "b"), entry("3", "c")], seen)
    assert [e["number"] for e in new] == ["3"]


def test_identical_unnumbered_entries_are_counted() -> None:
    """Without sequence numbers, a repeat of an identical line in the same second is new."""
    _, seen = new_entries([entry("", "flap")], None)
    new, _ = new_entries([entry("", "flap"), entry("", "flap")], seen)
    assert len(new) == 1
