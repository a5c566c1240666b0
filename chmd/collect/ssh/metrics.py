"""The SSH collector's Prometheus metrics, on a registry passed in (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class SshMetrics:
    """`chmd_ssh_*`: commands run, connections opened, command time.

    Failed steps by reason are counted for every collector by the shared
    `chmd.collect.metrics.CollectMetrics` from each PollResult
    (`chmd_collect_step_errors_total{collector="ssh",reason}`); these add the per-command
    view. Labels: `device` (chmd's device name), `outcome` (ok, error).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.commands = Counter(
            "chmd_ssh_commands_total",
            "CLI commands run over SSH, by outcome.",
            ["device", "outcome"],
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
