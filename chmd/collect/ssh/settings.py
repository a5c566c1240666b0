"""The SSH collector's fleet-wide settings (from chmd.yaml's `ssh:` section, see ssh_collector)."""

from __future__ import annotations

from pydantic import Field

from chmd.configtypes import Duration, StrictModel


class SshCollectorSettings(StrictModel):
    """Defaults apply to every device; per-device access is in the inventory (`ssh:`)."""

    known_hosts: str = "/etc/chmd/ssh_known_hosts"  # strict policy: devices' host keys
    tofu_known_hosts: str | None = None  # tofu records here; None → STATE_DIR/ssh_known_hosts.tofu
    max_sessions: int = Field(20, ge=1, le=10000)  # devices polled over SSH at once, fleet-wide
    keepalive_interval: Duration = 30.0
    keepalive_count_max: int = Field(3, ge=1, le=100)
    command_sets: dict[str, str] = Field(default_factory=dict)  # platform → own YAML file
