"""Silences and maintenance windows: when they hold, what they match, how they are stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chmd.alerts.silences import SilenceStore, active_silence, maintenance_windows, new_silence
from chmd.notify.settings import NotifySettings

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_one_off_silence_holds_only_between_start_and_end() -> None:
    """A silence from 10:00 for 2h mutes at 10:00 and 11:59, not before or at 12:00."""
    s = new_silence(["device=sw1"], at(0), at(120), "upgrade", "alice")
    labels = {"device": "sw1"}
    assert [active_silence([s], labels, at(m)) is s for m in (-1, 0, 119, 120)] == [
        False,
        True,
        True,
        False,
    ]


def test_silence_matches_by_rule_and_group() -> None:
    """Matchers select by rule and by inventory group membership; others pass through."""
    s = new_silence(["rule=interface_down", "group=campus"], at(0), at(60), "", "bob")
    assert s.matches({"rule": "interface_down", "groups": "campus,access"})
    assert not s.matches({"rule": "interface_down", "groups": "core"})
    assert not s.matches({"rule": "cpu_high", "groups": "campus"})


def test_recurring_window_from_yaml() -> None:
    """A maintenance window on Wednesdays 02:00-04:00 UTC holds then and not at 05:00."""
    cfg = NotifySettings.model_validate(
        {
            "time_intervals": {
                "wed-night": [
                    {"weekdays": ["wednesday"], "times": [{"start": "02:00", "end": "04:00"}]}
                ]
            },
            "maintenance": [
                {"name": "patching", "matchers": ["role=access"], "time_intervals": ["wed-night"]}
            ],
        }
    )
    [window] = maintenance_windows(cfg)
    wednesday_3am = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    assert active_silence([window], {"role": "access"}, wednesday_3am) is window
    assert active_silence([window], {"role": "access"}, wednesday_3am + timedelta(hours=2)) is None
    assert window.id == "yaml:patching"


def test_window_without_end_or_recurrence_is_refused() -> None:
    """A YAML window must end or recur: an open-ended mute is a config error."""
    with pytest.raises(ValueError, match="give `ends_at:`"):
        NotifySettings.model_validate({"maintenance": [{"name": "x", "matchers": ["device=a"]}]})


def test_store_round_trip_and_expire_by_prefix(tmp_path: Path) -> None:
    """Silences survive a new store on the same dir; expiring by id prefix ends them now."""
    store = SilenceStore(tmp_path)
    s = store.add(new_silence(["device=sw1"], at(0), at(120), "upgrade", "alice"))
    again = SilenceStore(tmp_path)
    assert [x.id for x in again.all()] == [s.id]
    expired = again.expire(s.id[:4], at(30))
    assert expired.ends_at == at(30)
    assert not SilenceStore(tmp_path).all()[0].active(at(31))
    assert json.loads((tmp_path / "silences.json").read_text())[0]["comment"] == "upgrade"


def test_store_sees_changes_made_by_another_process(tmp_path: Path) -> None:
    """refresh() picks up a silence another SilenceStore (the CLI) wrote to the same file."""
    daemon_side = SilenceStore(tmp_path)
    SilenceStore(tmp_path).add(new_silence(["device=sw9"], at(0), at(10), "", "cli"))
    daemon_side.refresh()
    assert len(daemon_side.all()) == 1


def test_expire_unknown_id_is_an_error(tmp_path: Path) -> None:
    """Expiring an id that matches no silence raises KeyError naming it."""
    with pytest.raises(KeyError, match="no silence with id 'zz'"):
        SilenceStore(tmp_path).expire("zz", at(0))


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """Eight writers (separate stores, as separate CLI processes would be) adding 10 silences
    each at the same time: all 80 are kept (read-modify-write under the file lock)."""
    from concurrent.futures import ThreadPoolExecutor

    def writer(n: int) -> None:
        store = SilenceStore(tmp_path)
        for i in range(10):
            store.add(new_silence([f"device=sw{n}-{i}"], at(0), at(60), "", f"w{n}"))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(8)))
    assert len(SilenceStore(tmp_path).all()) == 80
