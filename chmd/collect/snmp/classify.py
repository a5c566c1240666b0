"""Device classification from sysObjectID and sysDescr: vendor, model, OS, version. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chmd.collect.snmp.ber import OID

_ENTERPRISES = (1, 3, 6, 1, 4, 1)
VENDORS = {9: "cisco", 2636: "juniper", 30065: "arista", 8072: "net-snmp", 2021: "net-snmp"}

_OS_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("nxos", re.compile(r"NX-OS", re.I)),
    ("iosxe", re.compile(r"IOS[ -]?XE|_IOSXE|LINUX_IOSD|IOS-XE", re.I)),
    ("iosxr", re.compile(r"IOS XR", re.I)),
    ("ios", re.compile(r"Cisco IOS|IOS \(tm\)|Internetwork Operating System", re.I)),
    ("junos", re.compile(r"JUNOS", re.I)),
    ("eos", re.compile(r"Arista Networks EOS", re.I)),
    ("linux", re.compile(r"^Linux\b")),
)
_VERSION_RULES: tuple[re.Pattern[str], ...] = (
    re.compile(r"Version ([0-9][\w.()]*)"),
    re.compile(r"JUNOS ([0-9][\w.-]*)"),
    re.compile(r"EOS version ([0-9][\w.]*)"),
    re.compile(r"^Linux \S+ (\S+)"),
)
_MODEL_RULES: tuple[re.Pattern[str], ...] = (
    re.compile(r"\((CAT9K)_"),
    re.compile(r"(\w+) Software \("),  # Cisco platform: C2960X, C3560, ASR1000, ISR
    re.compile(r"running on an? Arista Networks (\S+)"),
    re.compile(r"Juniper Networks, Inc\. (\S+)"),
    re.compile(r"^Cisco\s+(IE[\w-]+)"),
)
# Cisco IE3200 (IOS 17.12): "Cisco  IE3200-8T2S  SERIAL  261 V 17 12  4" → version 17.12.4
_IE_VERSION = re.compile(r"\bV\s+(\d+)\s+(\d+)\s+(\d+)\s*$")


@dataclass(frozen=True, slots=True)
class Classification:
    vendor: str  # cisco | juniper | arista | net-snmp | other
    os: str  # ios | iosxe | nxos | junos | eos | linux | unknown
    model: str
    version: str


def classify(sys_object_id: OID | None, sys_descr: str) -> Classification:
    """Vendor from the enterprise arc of sysObjectID; OS, model, version from sysDescr."""
    descr = sys_descr.strip().strip('"').strip()
    vendor = "other"
    if sys_object_id is not None and sys_object_id[:6] == _ENTERPRISES and len(sys_object_id) > 6:
        vendor = VENDORS.get(sys_object_id[6], "other")
    os = next((name for name, rule in _OS_RULES if rule.search(descr)), "unknown")
    if os == "unknown" and vendor == "cisco":
        os = "ios"
    version = next((m.group(1) for r in _VERSION_RULES if (m := r.search(descr))), "")
    if not version and (m := _IE_VERSION.search(descr)):
        version = ".".join(m.groups())
    model = next((m.group(1) for r in _MODEL_RULES if (m := r.search(descr))), "")
    return Classification(vendor, os, model, version.rstrip(","))
