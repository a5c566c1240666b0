"""chmd's own NX-OS templates for commands no real recording exists for.

No recording of NX-OS `show system resources` or `show logging` is in tests/fixtures/cli
(see its SOURCES.md), so these run on text written in the documented NX-OS format; they
are marked as such and are weaker evidence than the recorded-output tests.
"""

from __future__ import annotations

from chmd.collect.ssh.commandset import Command, builtin_command_set
from chmd.collect.ssh.parsers.parse import parse_records
from chmd.collect.ssh.parsers.samples import to_samples

SYSTEM_RESOURCES = """\
Load average:   1 minute: 0.34   5 minutes: 0.40   15 minutes: 0.66
Processes   :   1555 total, 1 running
CPU states  :   2.11% user,   1.05% kernel,   96.84% idle
Memory usage:   16400084K total,   5823412K used,   10576672K free
Current memory status: OK
"""

LOGGING = """\
2024 Jan 10 10:11:12 N9K-1 %ETHPORT-5-IF_UP: Interface Ethernet1/1 is up in mode access
2024 Jan 10 10:12:40.123 UTC N9K-1 %ETHPORT-5-IF_DOWN_LINK_FAILURE: Interface Ethernet1/2 is down (Link failure)
2024 Jan 10 10:13:00 %VSHD-5-VSHD_SYSLOG_CONFIG_I: Configured from vty by admin on 10.0.0.5@pts/0
"""  # noqa: E501 - device lines are long


def nxos(command: str) -> Command:
    return next(c for c in builtin_command_set("cisco_nxos").commands if c.command == command)


def test_nxos_memory_from_system_resources() -> None:
    """`Memory usage: …K total, …K used, …K free` becomes memory bytes and used_percent."""
    command = nxos("show system resources")
    (sample,) = to_samples(command, parse_records("n9k", command, SYSTEM_RESOURCES), {}, 0)
    assert sample.measurement == "memory"
    assert sample.fields["total"] == 16400084 * 1024
    assert sample.fields["used"] == 5823412 * 1024
    assert sample.fields["free"] == 10576672 * 1024
    assert sample.fields["used_percent"] == round(5823412 / 16400084 * 100, 2)


def test_nxos_logging_entries() -> None:
    """Each NX-OS log line becomes a syslog sample with facility, severity and message."""
    command = nxos("show logging last 100")
    samples = to_samples(command, parse_records("n9k", command, LOGGING), {}, 0)
    assert [(s.tags["facility"], s.tags["severity"], s.fields["message"]) for s in samples] == [
        ("ETHPORT", "notice", "Interface Ethernet1/1 is up in mode access"),
        ("ETHPORT", "notice", "Interface Ethernet1/2 is down (Link failure)"),
        ("VSHD", "notice", "Configured from vty by admin on 10.0.0.5@pts/0"),
    ]
    assert samples[1].fields["logged_at"] == "2024 Jan 10 10:12:40.123 UTC"
