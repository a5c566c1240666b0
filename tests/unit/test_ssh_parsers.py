"""The built-in Cisco command sets against every real recorded output in tests/fixtures/cli.

Each `.raw` is real device output; its `.yml` is ntc-templates' expected parse. chmd's records
must agree with that parse, the samples chmd makes must carry the same values (checked here
with arithmetic of the test's own, not chmd's converters), and the full sample set is pinned
by golden files (`pytest tests/unit/test_ssh_parsers.py --update-golden` rewrites them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from ssh_fixtures import GOLDEN_ROOT, Recording, command_for, recordings

from chmd.collect.ssh.parsers.parse import parse_records
from chmd.collect.ssh.parsers.samples import base_tags, to_samples
from chmd.model import Sample

RECORDINGS = recordings()
TAGS = base_tags("dev1", "192.0.2.1", {})
Row = dict[str, Any]


def _samples(rec: Recording) -> list[Sample]:
    command = command_for(rec)
    return to_samples(command, parse_records("dev1", command, rec.text()), TAGS, 0)


def _int(text: str) -> int | None:
    return int(text) if text.strip() else None


def _fields_agree(sample: Sample, expected: dict[str, Any]) -> None:
    """Each expected field is present with that value, or absent when the value is None."""
    for name, value in expected.items():
        if value is None:
            assert name not in sample.fields, (name, sample)
        else:
            assert sample.fields.get(name) == value, (name, sample.fields.get(name), value)


def _ios_uptime(row: Row) -> int:
    units = {"years": 365 * 86400, "weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60}
    return sum(int(row[f"uptime_{u}"] or 0) * s for u, s in units.items())


def _nxos_uptime(row: Row) -> int:
    d, h, m, s = (int(x) for x in re.findall(r"(\d+) \w+\(s\)", row["uptime"]))
    return d * 86400 + h * 3600 + m * 60 + s


def check_ios_version(rows: list[Row], samples: list[Sample]) -> None:
    (row,), (sample,) = rows, samples
    assert sample.measurement == "system"
    _fields_agree(
        sample,
        {
            "version": row["version"],
            "model": row["hardware"][0],
            "serial": row["serial"][0],
            "hostname": row["hostname"],
            "uptime": _ios_uptime(row),
        },
    )


def check_nxos_version(rows: list[Row], samples: list[Sample]) -> None:
    (row,), (sample,) = rows, samples
    _fields_agree(
        sample,
        {
            "version": row["os"],
            "model": row["platform"],
            "serial": row["serial"],
            "uptime": _nxos_uptime(row),
        },
    )


def check_cpu(five_min: str, one_min: str) -> Callable[[list[Row], list[Sample]], None]:
    def check(rows: list[Row], samples: list[Sample]) -> None:
        (sample,) = samples
        assert sample.measurement == "cpu"
        _fields_agree(
            sample, {"usage": float(rows[0][five_min]), "usage_1min": float(rows[0][one_min])}
        )

    return check


def check_ios_memory(rows: list[Row], samples: list[Sample]) -> None:
    (row,), (sample,) = rows, samples
    used, total = int(row["memory_used"]), int(row["memory_total"])
    _fields_agree(sample, {"total": total, "used": used, "free": int(row["memory_free"])})
    assert sample.fields["used_percent"] == pytest.approx(used / total * 100, abs=0.01)


def _port(name: str) -> str:
    return re.sub(r"^[A-Za-z-]+", "", name)


def _bandwidth_mbit(text: str) -> int:
    return round(int(text.split()[0]) / 1000)


def check_interfaces(nxos: bool) -> Callable[[list[Row], list[Sample]], None]:
    def check(rows: list[Row], samples: list[Sample]) -> None:
        assert len(samples) == len(rows)
        for row, sample in zip(rows, samples, strict=True):
            assert sample.measurement == "interface"
            assert sample.tags["ifDescr"] == row["interface"]
            assert sample.tags.get("ifAlias", "") == row["description"].strip()
            if nxos:
                assert sample.tags["ifName"] == row["interface"]
                oper = 1 if row["link_status"] == "up" else 2
            else:
                assert _port(sample.tags["ifName"]) == _port(row["interface"])
                oper = 1 if row["protocol_status"].startswith("up") else 2
                admin = 2 if "administratively" in row["link_status"] else 1
                assert sample.fields["ifAdminStatus"] == admin
            _fields_agree(
                sample,
                {
                    "ifMtu": int(row["mtu"]),
                    "ifHighSpeed": _bandwidth_mbit(row["bandwidth"]),
                    "ifInErrors": _int(row["input_errors"]),
                    "ifOutErrors": _int(row["output_errors"]),
                    "in_packets": _int(row["input_packets"]),
                    "out_packets": _int(row["output_packets"]),
                    "crc_errors": _int(row["crc"]),
                    "ifOperStatus": oper,
                },
            )

    return check


def check_ip_brief(rows: list[Row], samples: list[Sample]) -> None:
    assert len(samples) == len(rows)
    for row, sample in zip(rows, samples, strict=True):
        assert sample.measurement == "ip_interface"
        assert sample.fields["ip_address"] == row["ip_address"]
        assert _port(sample.tags["ifDescr"]) == _port(row["interface"])


def check_inventory(rows: list[Row], samples: list[Sample]) -> None:
    assert [s.tags["name"] for s in samples] == [r["name"] for r in rows]
    for row, sample in zip(rows, samples, strict=True):
        _fields_agree(
            sample,
            {"pid": row["pid"] or None, "serial": row["sn"] or None, "descr": row["descr"] or None},
        )


def check_ios_temperature(rows: list[Row], samples: list[Sample]) -> None:
    by_name = {s.tags["name"]: s for s in samples}
    assert len(by_name) == 2 * len(rows)
    for row in rows:
        for where, label in (("inlet", "Inlet"), ("hotspot", "Hotspot")):
            sample = by_name[f"Switch {row['switch']} {label}"]
            assert sample.tags["class"] == "temperature"
            _fields_agree(
                sample,
                {
                    "value": float(row[f"{where}_temperature_value"]),
                    "threshold_warning": float(row[f"{where}_yellow_threshold"]),
                    "threshold_critical": float(row[f"{where}_red_threshold"]),
                    "status": "normal" if row[f"{where}_temperature_state"] == "GREEN" else None,
                },
            )


def check_ios_power(rows: list[Row], samples: list[Sample]) -> None:
    assert [s.tags["name"] for s in samples] == [f"PS {r['ps_module']}" for r in rows]
    for row, sample in zip(rows, samples, strict=True):
        assert sample.tags["class"] == "power"
        capacity = float(row["watts"]) if row["watts"] else None
        _fields_agree(sample, {"capacity_watts": capacity})
        if row["status"] == "OK":
            assert sample.fields["status"] == "normal"
        if row["pid"] == "Not Present":
            assert sample.fields["status"] == "notPresent"
        if row["status"] == "No Input Power":
            assert sample.fields["status"] == "notFunctioning"


def check_nxos_environment(rows: list[Row], samples: list[Sample]) -> None:
    assert len(samples) == len(rows)  # every row is one power supply, fan or temperature sensor
    for row, sample in zip(rows, samples, strict=True):
        if row.get("power_supply"):
            assert sample.tags["name"] == f"PS {row['power_supply']}"
            _fields_agree(sample, {"value": float(row["power_supply_output"])})
        elif row.get("fan"):
            assert (sample.tags["class"], sample.tags["name"]) == ("fan", row["fan"])
        else:
            assert sample.tags["class"] == "temperature"
            _fields_agree(
                sample,
                {
                    "value": float(row["temperature_current"]),
                    "threshold_critical": float(row["temperature_major_thresh"]),
                    "threshold_warning": float(row["temperature_minor_thresh"]),
                },
            )


def check_nxos_temperature(rows: list[Row], samples: list[Sample]) -> None:
    assert len(samples) == len(rows)
    for row, sample in zip(rows, samples, strict=True):
        assert sample.tags["name"] == f"Module {row['module']} {row['sensor'].strip()}"
        _fields_agree(sample, {"value": float(row["current_value"])})


def check_logging(rows: list[Row], samples: list[Sample]) -> None:
    assert len(samples) == len(rows)
    for row, sample in zip(rows, samples, strict=True):
        assert sample.measurement == "syslog"
        assert sample.fields["message"] == " ".join(row["message"])
        assert sample.tags["facility"] == row["facility"]
        _fields_agree(sample, {"severity_code": _int(row["severity"])})


def check_neighbors(rows: list[Row], samples: list[Sample]) -> None:
    named = [r for r in rows if r.get("neighbor_name") or r.get("chassis_id")]
    assert len(samples) == len([r for r in named if r.get("neighbor_name") or "interface_ip" in r])
    for sample in samples:
        assert sample.measurement == "neighbor"


def check_arp(rows: list[Row], samples: list[Sample]) -> None:
    assert [s.fields["mac_address"] for s in samples] == [r["mac_address"] for r in rows]


CHECKS: dict[tuple[str, str], Callable[[list[Row], list[Sample]], None]] = {
    ("cisco_ios", "show version"): check_ios_version,
    ("cisco_nxos", "show version"): check_nxos_version,
    ("cisco_ios", "show processes cpu"): check_cpu("cpu_usage_5_min", "cpu_usage_1_min"),
    ("cisco_nxos", "show processes cpu"): check_cpu("cpu_5_min", "cpu_1_min"),
    ("cisco_ios", "show processes memory sorted"): check_ios_memory,
    ("cisco_ios", "show interfaces"): check_interfaces(nxos=False),
    ("cisco_nxos", "show interface"): check_interfaces(nxos=True),
    ("cisco_ios", "show ip interface brief"): check_ip_brief,
    ("cisco_nxos", "show ip interface brief"): check_ip_brief,
    ("cisco_ios", "show inventory"): check_inventory,
    ("cisco_nxos", "show inventory"): check_inventory,
    ("cisco_ios", "show environment temperature"): check_ios_temperature,
    ("cisco_ios", "show environment power all"): check_ios_power,
    ("cisco_nxos", "show environment"): check_nxos_environment,
    ("cisco_nxos", "show environment temperature"): check_nxos_temperature,
    ("cisco_ios", "show logging"): check_logging,
    ("cisco_ios", "show cdp neighbors detail"): check_neighbors,
    ("cisco_nxos", "show cdp neighbors detail"): check_neighbors,
    ("cisco_ios", "show lldp neighbors detail"): check_neighbors,
    ("cisco_nxos", "show lldp neighbors detail"): check_neighbors,
    ("cisco_ios", "show ip arp"): check_arp,
    ("cisco_nxos", "show ip arp"): check_arp,
}


def test_every_recording_is_covered() -> None:
    """Every recorded command has a built-in command and a value check in this file."""
    missing = {(r.platform, r.command) for r in RECORDINGS} - set(CHECKS)
    assert not missing
    for rec in RECORDINGS:
        command_for(rec)


@pytest.mark.parametrize("rec", RECORDINGS, ids=lambda r: r.id)
def test_records_agree_with_expected_parse(rec: Recording) -> None:
    """chmd's TextFSM records of the recording equal ntc-templates' expected parse: own
    templates add values, never change the ntc ones; a command whose samples read only the
    first record may stop after it."""
    command = command_for(rec)
    records = parse_records("dev1", command, rec.text())
    expected = rec.expected()
    if all(rule.first_row_only for rule in command.samples):
        expected = expected[: max(1, len(records))]
    assert len(records) == len(expected)
    ours, theirs = set(records[0]), set(expected[0])
    assert ours & theirs
    assert ours <= theirs or ours >= theirs
    common = [{k: r[k] for k in e if k in r} for r, e in zip(records, expected, strict=True)]
    assert common == [{k: e[k] for k in c} for c, e in zip(common, expected, strict=True)]
    if command.template_path is None:
        assert records == expected


@pytest.mark.parametrize("rec", RECORDINGS, ids=lambda r: r.id)
def test_samples_agree_with_expected_parse(rec: Recording) -> None:
    """The samples chmd makes from the recording carry the values of the expected parse."""
    samples = _samples(rec)
    assert samples
    for sample in samples:
        assert sample.tags["device"] == "dev1"
        assert sample.tags["collector"] == "ssh"
    CHECKS[(rec.platform, rec.command)](rec.expected(), samples)


def _golden(samples: list[Sample]) -> str:
    rows = [
        {"measurement": s.measurement, "tags": dict(s.tags), "fields": dict(s.fields)}
        for s in samples
    ]
    return json.dumps(rows, indent=1, sort_keys=True) + "\n"


@pytest.mark.parametrize("rec", RECORDINGS, ids=lambda r: r.id)
def test_samples_match_golden(rec: Recording, update_golden: bool) -> None:
    """The full sample set of each recording equals its golden file."""
    path = GOLDEN_ROOT / rec.platform / f"{rec.id}.json"
    text = _golden(_samples(rec))
    if update_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} missing: run with --update-golden"
    assert text == path.read_text(encoding="utf-8")
