"""The inventory's typed shape (etc/devices.yaml), after defaults and groups are merged.

Collectors receive a `Device` and nothing else from the inventory.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chmd.configtypes import Duration, SecretValue, StrictModel

AuthProtocol = Literal["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"]
PrivProtocol = Literal["DES", "AES", "AES128", "AES192", "AES256"]


class SnmpAccess(StrictModel):
    """How to reach a device over SNMP. v1/v2c use `community`; v3 uses `user` and keys."""

    version: Literal["1", "2c", "3"] = "2c"
    port: int = Field(161, ge=1, le=65535)
    community: SecretValue | None = None
    user: str | None = None
    auth_protocol: AuthProtocol | None = None
    auth_key: SecretValue | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: SecretValue | None = None
    context: str = ""
    timeout: Duration = 2.0
    retries: int = Field(1, ge=0, le=10)
    max_repetitions: int = Field(25, ge=1, le=1000)
    oids_per_get: int = Field(20, ge=1, le=200)


class SshAccess(StrictModel):
    """How to reach a device over SSH. `platform` selects the built-in command set."""

    port: int = Field(22, ge=1, le=65535)
    user: str
    password: SecretValue | None = None
    key_file: str | None = None
    key_passphrase: SecretValue | None = None
    platform: Literal["cisco_ios", "cisco_xe", "cisco_nxos"] = "cisco_ios"
    known_hosts: str | None = None  # path; None → the daemon's default known_hosts file
    host_key_policy: Literal["strict", "tofu"] = "strict"
    connect_timeout: Duration = 10.0
    command_timeout: Duration = 30.0


class Device(StrictModel):
    """One device, fully merged. `name` is chmd's identity for it (the `device` tag)."""

    name: str
    host: str
    interval: Duration = 60.0
    timeout: Duration = 30.0  # hard deadline for one poll of this device
    tags: dict[str, str] = Field(default_factory=dict)
    # The inventory groups merged into this device, in its `groups: [...]` order (the loader
    # fills it from that list; silences and routes match them as `group=NAME`).
    groups: tuple[str, ...] = ()
    snmp: SnmpAccess | None = None
    ssh: SshAccess | None = None
    profiles: list[str] | None = None  # SNMP profiles pinned; None → chosen by sysObjectID
    enabled: bool = True
    # Polled over both SNMP and SSH: whose value is kept for a field both collect (None → snmp).
    fields_from: Literal["snmp", "ssh"] | None = None
