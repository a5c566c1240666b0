"""The SSH collector's Prometheus metrics, on a registry passed in (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class SshMetrics:
    """`chmd_ssh_*`: commands run, errors by bounded reason, connections opened, command time.

    Labels: `device` (chmd's device name), `reason` (timeout, auth, host_key, refused,
    disconnected, unsupported, parse, protocol), `outcome` (ok, error).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.commands = Counter(
            "chmd_ssh_commands_total",
            "CLI commands run over SSH, by outcome.",
            ["device", "outcome"],
            registry=registry,
        )
        self.errors = Counter(
            "chmd_ssh_errors_total",
            "SSH collection errors, by bounded reason.",
            ["device", "reason"],
            registry=registry,
        )
        self.connects = Counter(
            "chmd_ssh_connects_total",
            "SSH connections opened (a reused connection counts once).",
            ["device"],
            registry=registry,
        )
        self.command_seconds = Histogram(
            "chmd_ssh_command_duration_seconds",
            "Wall time of one CLI command, output read included.",
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
