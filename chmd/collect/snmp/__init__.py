"""SNMP collection: fast v1/v2c codec, pysnmp for v3, YAML profiles, rates, `SnmpCollector`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chmd.collect.metrics import CollectMetrics
from chmd.collect.snmp.collector import SnmpCollector
from chmd.collect.snmp.profiles import load_profiles


def profile_dirs(config: Any) -> list[Path]:
    """User profile directories: `profiles/` beside chmd.yaml (etc/profiles/)."""
    if config is None:
        return []
    return [Path(config.path).parent / "profiles"]


def snmp_collector(config: Any, metrics: CollectMetrics | None = None) -> SnmpCollector:
    """The `COLLECTORS["snmp"]` factory: shipped + etc/profiles/ profiles, daemon settings.

    With `metrics` (the daemon's `CollectMetrics`), withheld rates are counted by reason.
    Raises ConfigError for an invalid user profile.
    """
    profiles = load_profiles(profile_dirs(config))
    max_in_flight = config.config.snmp.max_in_flight if config is not None else 64
    return SnmpCollector(profiles, max_in_flight=max_in_flight, metrics=metrics)


__all__ = ["SnmpCollector", "load_profiles", "snmp_collector"]
