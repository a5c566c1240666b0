"""SSH/CLI collection: asyncssh sessions to Cisco IOS/IOS-XE/NX-OS, `show` output → samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from chmd.collect.ssh.collector import SshCollector
from chmd.collect.ssh.metrics import SshMetrics
from chmd.collect.ssh.settings import SshCollectorSettings


def ssh_collector(config: Any, registry: CollectorRegistry | None = None) -> SshCollector:
    """The `COLLECTORS["ssh"]` factory, from the loaded config (None: an ad-hoc `chmd poll`).

    Reads `ssh.known_hosts`, `ssh.max_sessions` and `state_dir` (TOFU keys go to
    `<state_dir>/ssh_known_hosts.tofu`); any key of SshCollectorSettings that the `ssh:`
    section has is taken too. With a `registry`, the `chmd_ssh_*` metrics go on it.
    """
    metrics = SshMetrics(registry) if registry is not None else None
    if config is None:
        return SshCollector(
            SshCollectorSettings(), state_dir=Path("/var/lib/chmd"), metrics=metrics
        )
    section = config.config.ssh
    known = set(SshCollectorSettings.model_fields)
    values = {k: v for k, v in section.model_dump().items() if k in known}
    return SshCollector(
        SshCollectorSettings.model_validate(values),
        state_dir=Path(config.config.state_dir),
        metrics=metrics,
    )


__all__ = ["SshCollector", "SshCollectorSettings", "ssh_collector"]
