"""One InfluxDB type per (measurement, field), for every device and both collectors.

InfluxDB fixes a field's type (integer, float, string, boolean) per shard at its first
point and rejects later points of another type ("field type conflict"). Profiles and CLI
parsers produce numbers of either Python type depending on the MIB (a KB count scaled to
bytes is a float, a Cisco CPU percentage an integer, CLI text a float), so every sample
made by `chmd.collect` passes its fields through `typed_fields` here, which coerces the
fields named below to their one type. Fields not listed keep their type, except that
names ending in `_rate`, `_utilization` or `_percent` are always floats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache

from chmd.model import FieldValue

_BYTES = {"used": int, "free": int, "total": int, "largest_free": int, "used_percent": float}

FIELD_TYPES: Mapping[str, Mapping[str, type[int] | type[float]]] = {
    "system": {"sysUpTime": int, "uptime": float},
    "cpu": {"usage": float, "usage_1min": float, "usage_5sec": float, "interrupt_5sec": float},
    "memory": _BYTES,
    "storage": _BYTES,
    "sensor": {
        "value": float,
        "threshold": float,
        "threshold_warning": float,
        "threshold_critical": float,
        "capacity_watts": float,
        "input_watts": float,
    },
    "interface": {
        "ifType": int,
        "ifMtu": int,
        "ifSpeed": int,
        "ifHighSpeed": int,
        "ifAdminStatus": int,
        "ifOperStatus": int,
    },
    "ip_interface": {"ifAdminStatus": int, "ifOperStatus": int},
}
FLOAT_SUFFIXES = ("_rate", "_utilization", "_percent")


@cache  # a few hundred (measurement, field) pairs, asked for on every field of every poll
def field_type(measurement: str, name: str) -> type[int] | type[float] | None:
    """The one numeric type of a field, or None when the field keeps what it was made as."""
    declared = FIELD_TYPES.get(measurement, {}).get(name)
    if declared is not None:
        return declared
    return float if name.endswith(FLOAT_SUFFIXES) else None


def typed_fields(measurement: str, fields: dict[str, FieldValue]) -> dict[str, FieldValue]:
    """Coerce `fields` in place to their declared types and return it.

    An int field given a float is rounded; a non-finite float for an int field is dropped
    (InfluxDB has no integer for it). Text and booleans are left alone: they are not numbers
    of the other type but a different field altogether, which the type test would catch.
    """
    for name, value in list(fields.items()):
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        wanted = field_type(measurement, name)
        if wanted is None or type(value) is wanted:
            continue
        if wanted is float:
            fields[name] = float(value)
        elif math.isfinite(value):
            fields[name] = round(value)
        else:
            del fields[name]
    return fields
