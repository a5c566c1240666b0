"""A field collected over SNMP and SSH is written once."""

from __future__ import annotations

import pytest

from chmd.collect.ssh.merge import covered_fields, dedupe_result, drop_covered, merge
from chmd.model import PollResult, Sample


def iface(fields: dict[str, float | int | str | bool], **tags: str) -> Sample:
    return Sample("interface", {"device": "r1", "ifName": "Gi0/1", **tags}, fields, 0)


SNMP = [iface({"ifHCInOctets": 10, "ifOperStatus": 1}, ifIndex="3")]
SSH = [iface({"ifHCInOctets": 11, "reliability_percent": 100.0}, collector="ssh")]


def test_snmp_wins_by_default() -> None:
    """SSH keeps only the fields SNMP did not write for the same interface."""
    merged = merge(SNMP, SSH)
    assert [dict(s.fields) for s in merged] == [
        {"ifHCInOctets": 10, "ifOperStatus": 1},
        {"reliability_percent": 100.0},
    ]


def test_prefer_ssh() -> None:
    """With `prefer="ssh"` the SNMP sample loses the field SSH also collected."""
    merged = merge(SNMP, SSH, prefer="ssh")
    assert [dict(s.fields) for s in merged] == [
        {"ifHCInOctets": 11, "reliability_percent": 100.0},
        {"ifOperStatus": 1},
    ]


def test_sample_left_without_fields_is_dropped() -> None:
    """A sample whose every field the preferred collector wrote disappears."""
    assert drop_covered([iface({"ifHCInOctets": 11})], covered_fields(SNMP)) == ()


def test_other_series_untouched() -> None:
    """Fields of another interface or an unknown measurement are kept."""
    other = [iface({"ifHCInOctets": 5}, ifName="Gi0/2"), Sample("syslog", {}, {"message": "x"}, 0)]
    assert drop_covered(other, covered_fields(SNMP)) == tuple(other)


def test_bad_preference() -> None:
    """Only `snmp` or `ssh` can win."""
    with pytest.raises(ValueError, match="prefer"):
        merge(SNMP, SSH, prefer="telnet")


def test_dedupe_result_follows_the_device_preference() -> None:
    """The daemon step strips the non-preferred collector's result and passes the preferred one."""
    covered = covered_fields(SNMP)
    ssh_result = PollResult("r1", "ssh", tuple(SSH), 0.1)
    stripped = dedupe_result(ssh_result, covered, prefer=None)
    assert [dict(s.fields) for s in stripped.samples] == [{"reliability_percent": 100.0}]
    assert dedupe_result(ssh_result, covered, prefer="ssh") is ssh_result
