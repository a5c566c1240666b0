"""Checks on a validated Device that the schema alone does not express.

Each check returns `(path, message)` pairs, the path relative to the device, so the
loader can point at the line where the offending key was written. Pure functions.
"""

from __future__ import annotations

import ipaddress
import re

from chmd.inventory.schema import Device, SnmpAccess
from chmd.yamlfile import Path_

Finding = tuple[Path_, str]

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_NUMERIC = re.compile(r"^[0-9.]+$")


def valid_host(host: str) -> bool:
    """An IPv4/IPv6 address or a DNS hostname (RFC 1123 labels, at most 253 characters)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    name = host.removesuffix(".")
    if not name or len(name) > 253 or _NUMERIC.match(name):
        return False  # all digits and dots: meant as an IPv4 address, and not a valid one
    return all(_LABEL.match(label) for label in name.split("."))


def check_device(device: Device) -> list[Finding]:
    """Every problem of `device` beyond its schema."""
    findings: list[Finding] = []
    if not valid_host(device.host):
        findings.append(
            (("host",), f"bad host address {device.host!r} (expected an IP address or a hostname)")
        )
    if device.snmp is not None:
        findings.extend((("snmp", *path), message) for path, message in check_snmp(device.snmp))
    return findings


def check_snmp(snmp: SnmpAccess) -> list[Finding]:
    """Credentials consistent with the SNMP version."""
    if snmp.version in ("1", "2c"):
        if snmp.community is None:
            return [((), f"SNMP v{snmp.version} needs a community (add community: env:NAME)")]
        return []
    findings: list[Finding] = []
    if not snmp.user:
        findings.append(((), "SNMP v3 needs a user (add user: NAME)"))
    if (snmp.auth_protocol is None) != (snmp.auth_key is None):
        findings.append(((), "SNMP v3 auth_protocol and auth_key go together (set both or none)"))
    if (snmp.priv_protocol is None) != (snmp.priv_key is None):
        findings.append(((), "SNMP v3 priv_protocol and priv_key go together (set both or none)"))
    if snmp.priv_protocol is not None and snmp.auth_protocol is None:
        findings.append(((), "SNMP v3 privacy needs authentication (set auth_protocol/auth_key)"))
    return findings
