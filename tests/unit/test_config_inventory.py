"""Inventory loading: layers merged once, groups shared across files, hosts checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from chmd.inventory.checks import valid_host
from chmd.inventory.load import load_inventory

REPO = Path(__file__).resolve().parents[2]


def load(tmp_path: Path, *files: tuple[str, str]) -> tuple[list[str], list[str], dict]:
    pairs = []
    for name, text in files:
        (tmp_path / name).write_text(text, encoding="utf-8")
        pairs.append((tmp_path / name, name))
    result = load_inventory(pairs, tmp_path)
    devices = {d.name: d for d in result.inventory.devices}
    return [str(p) for p in result.errors], [str(p) for p in result.warnings], devices


def test_layers_merge_in_order(tmp_path: Path) -> None:
    """defaults ← groups (in listed order) ← device; mappings merge by key, lists replace."""
    errors, _, devices = load(
        tmp_path,
        (
            "devices.yaml",
            "defaults: {interval: 30s, tags: {site: hq}, profiles: [a, b]}\n"
            "groups:\n"
            "  one: {interval: 20s, tags: {role: core}}\n"
            "  two: {interval: 10s, profiles: [c]}\n"
            "devices:\n"
            "  sw1: {host: 192.0.2.1, groups: [one, two], tags: {site: dc2}}\n"
            "  sw2: {host: 192.0.2.2, groups: [two, one]}\n",
        ),
    )
    assert errors == []
    assert (devices["sw1"].interval, devices["sw2"].interval) == (10.0, 20.0)
    assert devices["sw1"].tags == {"site": "dc2", "role": "core"}
    assert devices["sw1"].profiles == ["c"]


def test_device_exposes_its_groups_in_listed_order(tmp_path: Path) -> None:
    """A merged Device names the groups it lists, in that order; no `groups:` → ()."""
    errors, _, devices = load(
        tmp_path,
        (
            "devices.yaml",
            "groups:\n  one: {}\n  two: {}\n"
            "devices:\n"
            "  sw1: {host: 192.0.2.1, groups: [two, one]}\n"
            "  sw2: {host: 192.0.2.2}\n",
        ),
    )
    assert errors == []
    assert (devices["sw1"].groups, devices["sw2"].groups) == (("two", "one"), ())


def test_groups_are_shared_across_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A device takes credentials from a group defined in another inventory file."""
    monkeypatch.setenv("CHMD_TEST_COMMUNITY", "s3cret")
    errors, warnings, devices = load(
        tmp_path,
        ("credentials.yaml", "groups:\n  snmp: {snmp: {community: env:CHMD_TEST_COMMUNITY}}\n"),
        ("devices.yaml", "devices:\n  sw1: {host: sw1.example.net, groups: [snmp]}\n"),
    )
    assert (errors, warnings) == ([], [])
    assert devices["sw1"].snmp.community.reveal() == "s3cret"


def test_unused_group_warns_and_is_still_checked(tmp_path: Path) -> None:
    """A group no device lists is reported as unused, and its own typos as errors."""
    errors, warnings, _ = load(
        tmp_path, ("devices.yaml", "groups:\n  spare:\n    intervl: 1m\ndevices: {}\n")
    )
    assert errors == [
        "devices.yaml:3:5: groups.spare.intervl: unknown key (did you mean 'interval'?)"
    ]
    assert warnings == ["devices.yaml:2:3: groups.spare: group is not used"]


def test_groups_do_not_nest(tmp_path: Path) -> None:
    """`groups:` inside a group is an error that says why."""
    errors, _, _ = load(
        tmp_path, ("devices.yaml", "groups:\n  a: {groups: [b]}\n  b: {}\ndevices: {}\n")
    )
    assert errors == [
        "devices.yaml:2:7: groups.a.groups: only a device can list groups (groups do not nest)"
    ]


def test_ssh_paths_resolve_against_config_dir(tmp_path: Path) -> None:
    """A relative ssh.key_file becomes absolute against the config directory."""
    _, _, devices = load(
        tmp_path,
        ("devices.yaml", "devices:\n  r1: {host: 192.0.2.1, ssh: {user: u, key_file: keys/id}}\n"),
    )
    assert devices["r1"].ssh.key_file == str(tmp_path / "keys" / "id")


def test_credentials_example_is_a_valid_inventory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """etc/credentials.example.yaml loads as an inventory file once its references resolve."""
    for name in ("snmp-community", "snmpv3-auth", "snmpv3-priv"):
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    monkeypatch.setenv("CHMD_SSH_KEY_PASSPHRASE", "y")
    example = REPO / "etc" / "credentials.example.yaml"
    devices = tmp_path / "devices.yaml"
    devices.write_text(
        "devices:\n  sw: {host: 192.0.2.1, groups: [snmp-campus, ssh-netops]}\n"
        "  rtr: {host: 192.0.2.2, groups: [snmp-wan]}\n",
        encoding="utf-8",
    )
    result = load_inventory([(example, "credentials"), (devices, "devices")], tmp_path)
    assert ([str(p) for p in result.errors], [str(p) for p in result.warnings]) == ([], [])


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("192.0.2.1", True),
        ("2001:db8::1", True),
        ("core-sw1.example.net", True),
        ("localhost", True),
        ("sw1.example.net.", True),
        ("10.0.0.300", False),
        ("-bad.example", False),
        ("under_score.example", False),
        ("two words", False),
        ("", False),
        ("a" * 64 + ".example", False),
    ],
)
def test_valid_host(host: str, ok: bool) -> None:
    """Hosts are IP addresses or RFC 1123 names; dotted numbers must be a valid IPv4."""
    assert valid_host(host) is ok
