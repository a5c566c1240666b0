"""Converters from parsed CLI text to sample values, in the SNMP profiles' units.

Each converter takes the list of raw values named by a field's `from:` (one or more
record keys; a record value may itself be a list, e.g. a multi-line log message)
and returns a value, or None when the device reported nothing (the field is then
left out of the sample rather than written as 0). Pure functions; `CONVERTERS` is
the registry the YAML names them by.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from chmd.model import FieldValue

RawValue = str | list[str]
Converter = Callable[[Sequence[RawValue]], FieldValue | None]

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_UPTIME_PART = re.compile(r"(\d+)\s*(year|week|day|hour|minute|second)", re.IGNORECASE)
_UPTIME_UNIT_S = {
    "year": 365 * 86400,
    "week": 7 * 86400,
    "day": 86400,
    "hour": 3600,
    "minute": 60,
    "second": 1,
}
_BANDWIDTH = re.compile(r"(\d+)\s*(kbit|mbit|gbit|bit)?", re.IGNORECASE)
_BANDWIDTH_TO_KBIT = {"bit": 0.001, "kbit": 1.0, "mbit": 1000.0, "gbit": 1_000_000.0}

# IF-MIB ifOperStatus / ifAdminStatus values.
IF_UP, IF_DOWN, IF_TESTING, IF_DORMANT, IF_NOT_PRESENT, IF_LOWER_LAYER_DOWN = 1, 2, 3, 5, 6, 7

# CISCO-ENVMON-MIB CiscoEnvMonState names: the SNMP profiles write sensor `status` as these.
ENV_NORMAL, ENV_WARNING, ENV_CRITICAL = "normal", "warning", "critical"
ENV_SHUTDOWN, ENV_NOT_PRESENT, ENV_NOT_FUNCTIONING = "shutdown", "notPresent", "notFunctioning"
_ENV_STATES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"not\s*present|absent|missing", re.I), ENV_NOT_PRESENT),
    (re.compile(r"shut", re.I), ENV_SHUTDOWN),
    (re.compile(r"^(ok|good|green|normal|on|powered.?on)$", re.I), ENV_NORMAL),
    (re.compile(r"warn|yellow|minor|amber", re.I), ENV_WARNING),
    (re.compile(r"crit|red|major|bad|alarm", re.I), ENV_CRITICAL),
    (re.compile(r"fail|fault|no input|not ?ok|off|down|error", re.I), ENV_NOT_FUNCTIONING),
)

# Cisco IOS ifName abbreviations (what IF-MIB ifName reports on IOS/IOS-XE, checked
# against the snmprec recordings); anything else keeps its first two letters.
_IOS_SHORT_NAMES = (
    ("TwentyFiveGigE", "Twe"),
    ("TwoGigabitEthernet", "Tw"),
    ("FiveGigabitEthernet", "Fi"),
    ("TenGigabitEthernet", "Te"),
    ("FortyGigabitEthernet", "Fo"),
    ("HundredGigE", "Hu"),
    ("AppGigabitEthernet", "Ap"),
    ("GigabitEthernet", "Gi"),
    ("FastEthernet", "Fa"),
    ("Ethernet", "Et"),
    ("Port-channel", "Po"),
    ("Loopback", "Lo"),
    ("Vlan", "Vl"),
    ("Tunnel", "Tu"),
    ("Serial", "Se"),
    ("Null", "Nu"),
    ("Virtual-Access", "Vi"),
    ("Virtual-Template", "Vt"),
    ("Dialer", "Di"),
    ("Multilink", "Mu"),
    ("BDI", "BD"),
    ("Cellular", "Ce"),
)


def _text(value: RawValue) -> str:
    return " ".join(value).strip() if isinstance(value, list) else value.strip()


def as_str(values: Sequence[RawValue]) -> FieldValue | None:
    """The text itself (a list is joined with spaces); empty → None."""
    text = " ".join(t for t in (_text(v) for v in values) if t)
    return text or None


def as_int(values: Sequence[RawValue]) -> FieldValue | None:
    """`"1500"` → 1500; the first integer in the text, so `"101 W"` → 101."""
    match = _NUMBER.search(_text(values[0]))
    return int(float(match.group())) if match else None


def as_float(values: Sequence[RawValue]) -> FieldValue | None:
    match = _NUMBER.search(_text(values[0]))
    return float(match.group()) if match else None


def first_of(values: Sequence[RawValue]) -> FieldValue | None:
    """The first element of a list value (`hardware: [WS-C4948E]`), as text."""
    value = values[0]
    if isinstance(value, list):
        return value[0].strip() or None if value else None
    return value.strip() or None


def uptime_s(values: Sequence[RawValue]) -> FieldValue | None:
    """IOS `2 years, 31 weeks, 6 days, 9 hours` or NX-OS `123 day(s), 5 hour(s)…` → seconds."""
    parts = _UPTIME_PART.findall(_text(values[0]))
    if not parts:
        return None
    return sum(int(n) * _UPTIME_UNIT_S[unit.lower()] for n, unit in parts)


def bandwidth_mbit(values: Sequence[RawValue]) -> FieldValue | None:
    """`BW 1000000 Kbit` → 1000 (ifHighSpeed, Mbit/s; rounded like IF-MIB)."""
    match = _BANDWIDTH.search(_text(values[0]))
    if not match:
        return None
    kbit = int(match.group(1)) * _BANDWIDTH_TO_KBIT[(match.group(2) or "kbit").lower()]
    return round(kbit / 1000)


def per255_percent(values: Sequence[RawValue]) -> FieldValue | None:
    """IOS `txload 1/255` (captured as `1`) → 0.39 (percent)."""
    number = as_float(values)
    return None if number is None else round(float(number) / 255 * 100, 2)


def percent(values: Sequence[RawValue]) -> FieldValue | None:
    """`[used, total]` → used/total in percent."""
    used, total = as_float(values[:1]), as_float(values[1:2])
    if used is None or not total:
        return None
    return round(float(used) / float(total) * 100, 2)


def oper_status(values: Sequence[RawValue]) -> FieldValue | None:
    """IOS line protocol `up (connected)` → 1, `down (notconnect)` → 2 (ifOperStatus)."""
    text = _text(values[0]).lower().removeprefix("protocol-").removeprefix("link-")
    if not text:
        return None
    for word, status in (
        ("up", IF_UP),
        ("dormant", IF_DORMANT),
        ("testing", IF_TESTING),
        ("lowerlayerdown", IF_LOWER_LAYER_DOWN),
        ("notpresent", IF_NOT_PRESENT),
    ):
        if text.startswith(word):
            return status
    return IF_DOWN


def ios_admin_status(values: Sequence[RawValue]) -> FieldValue | None:
    """IOS link state `administratively down` → 2, anything else (`up`, `down`, `reset`) → 1."""
    text = _text(values[0]).lower()
    if not text:
        return None
    return IF_DOWN if "administratively down" in text else IF_UP


def nxos_admin_status(values: Sequence[RawValue]) -> FieldValue | None:
    """NX-OS `[link_status, admin_state]` (or `admin-up`/`admin-down`) → ifAdminStatus."""
    texts = [_text(v).lower() for v in values]
    if not any(texts):
        return None
    for text in texts:
        word = text.split(",")[0].strip()
        if "administratively down" in text or word in ("down", "admin-down"):
            return IF_DOWN
    return IF_UP


def env_state(values: Sequence[RawValue]) -> FieldValue | None:
    """Device status words → CiscoEnvMonState name (`normal` … `notFunctioning`), as SNMP writes."""
    text = next((t for t in (_text(v) for v in values) if t), "")
    if not text:
        return None
    for pattern, state in _ENV_STATES:
        if pattern.search(text):
            return state
    return ENV_WARNING


def ios_short_ifname(values: Sequence[RawValue]) -> FieldValue | None:
    """`GigabitEthernet1/0/4` → `Gi1/0/4`, as IOS reports IF-MIB ifName."""
    name = _text(values[0])
    if not name:
        return None
    for long, short in _IOS_SHORT_NAMES:
        if name.startswith(long) and name[len(long) : len(long) + 1].isdigit():
            return short + name[len(long) :]
    match = re.match(r"([A-Za-z-]+)(\d.*)", name)
    return match.group(1)[:2] + match.group(2) if match else name


_NXOS_LONG_NAMES = (
    ("Eth", "Ethernet"),
    ("Po", "port-channel"),
    ("Lo", "loopback"),
    ("Tunnel", "Tunnel"),
)


def nxos_long_ifname(values: Sequence[RawValue]) -> FieldValue | None:
    """NX-OS brief tables' `Eth1/1` → `Ethernet1/1`, as NX-OS reports IF-MIB ifName."""
    name = _text(values[0])
    for short, long in _NXOS_LONG_NAMES:
        if name.startswith(short) and name[len(short) : len(short) + 1].isdigit():
            return long + name[len(short) :]
    return name or None


def kib_bytes(values: Sequence[RawValue]) -> FieldValue | None:
    """NX-OS `16400084K` (KiB) → bytes."""
    number = as_int(values)
    return None if number is None else int(number) * 1024


def coalesce(values: Sequence[RawValue]) -> FieldValue | None:
    """The first non-empty of several keys, as text."""
    return next((t for t in (_text(v) for v in values) if t), None)


def syslog_severity_name(values: Sequence[RawValue]) -> FieldValue | None:
    """Syslog severity `3` → `error` (RFC 5424 keywords)."""
    names = ("emergency", "alert", "critical", "error", "warning", "notice", "info", "debug")
    text = _text(values[0])
    return names[int(text)] if text.isdigit() and int(text) < len(names) else None


CONVERTERS: dict[str, Converter] = {
    "str": as_str,
    "int": as_int,
    "float": as_float,
    "first": first_of,
    "uptime_s": uptime_s,
    "bandwidth_mbit": bandwidth_mbit,
    "per255_percent": per255_percent,
    "percent": percent,
    "oper_status": oper_status,
    "ios_admin_status": ios_admin_status,
    "nxos_admin_status": nxos_admin_status,
    "nxos_long_ifname": nxos_long_ifname,
    "kib_bytes": kib_bytes,
    "coalesce": coalesce,
    "env_state": env_state,
    "ios_short_ifname": ios_short_ifname,
    "syslog_severity_name": syslog_severity_name,
}
