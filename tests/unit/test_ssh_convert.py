"""Converters from CLI text to sample values (units and enums of the SNMP profiles)."""

from __future__ import annotations

import pytest

from chmd.collect.ssh.parsers import convert


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2 years, 31 weeks, 6 days, 9 hours, 55 minutes", 82374900),
        ("123 day(s), 5 hour(s), 15 minute(s), 19 second(s)", 10646119),
        ("1 hour, 1 minute", 3660),
        ("", None),
    ],
)
def test_uptime_seconds(text: str, seconds: int | None) -> None:
    """IOS and NX-OS uptime phrases become seconds; an empty one becomes no field."""
    assert convert.uptime_s([text]) == seconds


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("GigabitEthernet1/0/4", "Gi1/0/4"),
        ("TenGigabitEthernet1/1/2", "Te1/1/2"),
        ("TwentyFiveGigE2/0/32", "Twe2/0/32"),
        ("Port-channel1", "Po1"),
        ("Vlan1", "Vl1"),
        ("Ethernet0/0.11", "Et0/0.11"),
        ("Loopback0", "Lo0"),
        ("FastEthernet1", "Fa1"),
    ],
)
def test_ios_short_ifname(name: str, short: str) -> None:
    """IOS interface names shorten the way IOS reports IF-MIB ifName (Gi, Te, Twe, Po …)."""
    assert convert.ios_short_ifname([name]) == short


def test_nxos_long_ifname() -> None:
    """NX-OS brief tables' `Eth1/1` becomes the full ifName NX-OS reports over SNMP."""
    assert convert.nxos_long_ifname(["Eth1/1"]) == "Ethernet1/1"
    assert convert.nxos_long_ifname(["Vlan3600"]) == "Vlan3600"


def test_bandwidth_to_if_high_speed() -> None:
    """`BW 1000000 Kbit` is ifHighSpeed 1000 (Mbit/s)."""
    assert convert.bandwidth_mbit(["1000000 Kbit"]) == 1000
    assert convert.bandwidth_mbit(["25000000 Kbit"]) == 25000


@pytest.mark.parametrize(
    ("text", "status"),
    [("up (connected)", 1), ("down (notconnect)", 2), ("protocol-up", 1), ("link-down", 2)],
)
def test_oper_status(text: str, status: int) -> None:
    """Line protocol text maps to IF-MIB ifOperStatus 1 (up) / 2 (down)."""
    assert convert.oper_status([text]) == status


def test_admin_status_ios_and_nxos() -> None:
    """Only `administratively down` is admin-down on IOS; NX-OS also says `down`/`admin-down`."""
    assert convert.ios_admin_status(["down"]) == 1
    assert convert.ios_admin_status(["administratively down"]) == 2
    assert convert.nxos_admin_status(["down (Link not connected)", "up"]) == 1
    assert convert.nxos_admin_status(["down (Administratively down)", "down"]) == 2
    assert convert.nxos_admin_status(["admin-down"]) == 2


@pytest.mark.parametrize(
    ("words", "state"),
    [
        (["OK"], "normal"),
        (["GREEN"], "normal"),
        (["", "Good"], "normal"),
        (["", "", "Not Present"], "notPresent"),
        (["No Input Power"], "notFunctioning"),
        (["YELLOW"], "warning"),
        (["RED"], "critical"),
    ],
)
def test_env_state(words: list[str], state: str) -> None:
    """Device status words map to the CiscoEnvMonState names the SNMP profiles write."""
    assert convert.env_state(words) == state


def test_percent_and_load() -> None:
    """used/total and x/255 loads become percentages."""
    assert convert.percent(["236752096", "919638648"]) == pytest.approx(25.74, abs=0.01)
    assert convert.per255_percent(["255"]) == 100.0
    assert convert.percent(["1", "0"]) is None


def test_list_values_join() -> None:
    """A multi-line TextFSM List value (log message) joins into one string."""
    assert convert.as_str([["part one", "part two"]]) == "part one part two"
