"""Collection: the collector registry. Keys are the words users write (`--via snmp`)."""

from __future__ import annotations

from chmd.collect.base import Collector, CollectorFactory
from chmd.collect.snmp import snmp_collector
from chmd.collect.ssh import ssh_collector

COLLECTORS: dict[str, CollectorFactory] = {"snmp": snmp_collector, "ssh": ssh_collector}
"""Collector factories: `COLLECTORS[name](loaded_config_or_None) -> Collector`."""

__all__ = ["COLLECTORS", "Collector", "CollectorFactory"]
