"""Broken configurations, one per error class: every message asserted verbatim.

Each case writes chmd.yaml (and devices.yaml, rule files) into a temp dir, loads it from
there, and compares the full list of problems, `file:line:column: key.path: problem`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chmd.config import load_config
from chmd.errors import ConfigError

CHMD = "inventory:\n  files: [devices.yaml]\nrules:\n  files: [rules/*.yaml]\n"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def problems_of(root: Path, files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    files = {"chmd.yaml": CHMD, **files}
    write(root, files)
    monkeypatch.chdir(root)
    with pytest.raises(ConfigError) as info:
        load_config(Path("chmd.yaml"))
    return info.value.problems


CASES: dict[str, tuple[dict[str, str], list[str]]] = {
    "unknown key with a hint": (
        {
            "devices.yaml": (
                "devices:\n  core-sw1:\n    host: 192.0.2.1\n    snmp:\n      comunity: public\n"
            )
        },
        [
            "devices.yaml:5:7: devices.core-sw1.snmp.comunity: unknown key "
            "(did you mean 'community'?)",
        ],
    ),
    "wrong type": (
        {
            "devices.yaml": (
                "devices:\n  sw1:\n    host: 192.0.2.1\n    snmp: {community: public, port: high}\n"
            )
        },
        [
            "devices.yaml:4:37: devices.sw1.snmp.port: expected a valid integer, "
            "unable to parse string as an integer",
        ],
    ),
    "bad duration": (
        {"devices.yaml": "devices:\n  sw1:\n    host: 192.0.2.1\n    interval: 5 m\n"},
        [
            "devices.yaml:4:15: devices.sw1.interval: bad duration '5 m' "
            "(write e.g. 30s, 5m, 1h30m, 2d; no spaces)",
        ],
    ),
    "bad host address": (
        {
            "devices.yaml": (
                "devices:\n  sw1:\n    host: 10.0.0.300\n  sw2:\n    host: bad_host!.example\n"
            )
        },
        [
            "devices.yaml:3:11: devices.sw1.host: bad host address '10.0.0.300' "
            "(expected an IP address or a hostname)",
            "devices.yaml:5:11: devices.sw2.host: bad host address 'bad_host!.example' "
            "(expected an IP address or a hostname)",
        ],
    ),
    "duplicate device name in one file": (
        {"devices.yaml": ("devices:\n  sw1:\n    host: 192.0.2.1\n  sw1:\n    host: 192.0.2.2\n")},
        ["devices.yaml:4:3: devices.sw1: duplicate key (first defined at devices.yaml:2:3)"],
    ),
    "duplicate device name across files": (
        {
            "chmd.yaml": "inventory:\n  files: [devices.yaml, more.yaml]\nrules: {files: []}\n",
            "devices.yaml": "devices:\n  sw1:\n    host: 192.0.2.1\n",
            "more.yaml": "devices:\n  other:\n    host: 192.0.2.3\n  sw1:\n    host: 192.0.2.2\n",
        },
        ["more.yaml:4:3: devices.sw1: duplicate device name (first defined at devices.yaml:2:3)"],
    ),
    "unknown group": (
        {
            "devices.yaml": (
                "groups:\n  access: {interval: 2m}\n"
                "devices:\n  sw1:\n    host: 192.0.2.1\n    groups: [access, acess, core]\n"
            )
        },
        [
            "devices.yaml:6:22: devices.sw1.groups[1]: unknown group 'acess' "
            "(did you mean 'access'?)",
            "devices.yaml:6:29: devices.sw1.groups[2]: unknown group 'core'",
        ],
    ),
    "unresolvable secret references": (
        {
            "devices.yaml": (
                "devices:\n"
                "  sw1:\n"
                "    host: 192.0.2.1\n"
                "    snmp:\n"
                "      community: env:CHMD_TEST_UNSET_VARIABLE\n"
                "  sw2:\n"
                "    host: 192.0.2.2\n"
                "    snmp:\n"
                "      community: file:secrets/missing\n"
            )
        },
        [
            "devices.yaml:5:18: devices.sw1.snmp.community: environment variable "
            "CHMD_TEST_UNSET_VARIABLE is not set (secret reference "
            "'env:CHMD_TEST_UNSET_VARIABLE')",
            "devices.yaml:9:18: devices.sw2.snmp.community: cannot read secret "
            "'file:secrets/missing': No such file or directory",
        ],
    ),
    "SNMP v3 without user": (
        {
            "devices.yaml": (
                "devices:\n"
                "  rtr1:\n"
                "    host: rtr1.example.net\n"
                "    snmp:\n"
                '      version: "3"\n'
                "      auth_protocol: SHA\n"
            )
        },
        [
            "devices.yaml:4:5: devices.rtr1.snmp: SNMP v3 needs a user (add user: NAME)",
            "devices.yaml:4:5: devices.rtr1.snmp: SNMP v3 auth_protocol and auth_key go "
            "together (set both or none)",
        ],
    ),
    "SNMP v2c without community": (
        {"devices.yaml": "devices:\n  sw1:\n    host: 192.0.2.1\n    snmp: {version: 2c}\n"},
        [
            "devices.yaml:4:5: devices.sw1.snmp: SNMP v2c needs a community "
            "(add community: env:NAME)"
        ],
    ),
    "error in a group points at the group": (
        {
            "devices.yaml": (
                "groups:\n"
                "  slow:\n"
                "    snmp:\n"
                "      timeout: 5 m\n"
                "devices:\n"
                "  sw1:\n    host: 192.0.2.1\n    groups: [slow]\n    snmp: {community: a}\n"
                "  sw2:\n    host: 192.0.2.2\n    groups: [slow]\n    snmp: {community: b}\n"
            )
        },
        [
            "devices.yaml:4:16: groups.slow.snmp.timeout: bad duration '5 m' "
            "(write e.g. 30s, 5m, 1h30m, 2d; no spaces)",
        ],
    ),
    "missing required key": (
        {"devices.yaml": "devices:\n  sw1:\n    interval: 30s\n"},
        ["devices.yaml:2:3: devices.sw1.host: required key is missing"],
    ),
    "unknown key in chmd.yaml": (
        {
            "chmd.yaml": CHMD + "stroage:\n  url: http://127.0.0.1:8086\n",
            "devices.yaml": "devices: {}\n",
        },
        ["chmd.yaml:5:1: stroage: unknown key (did you mean 'storage'?)"],
    ),
    "bad values in chmd.yaml": (
        {
            "chmd.yaml": CHMD + "metrics:\n  listen: 9515\nlog:\n  level: loud\n",
            "devices.yaml": "devices: {}\n",
        },
        [
            "chmd.yaml:6:11: metrics.listen: expected a valid string",
            "chmd.yaml:8:10: log.level: expected 'debug', 'info', 'warning' or 'error'",
        ],
    ),
    "missing files": (
        {
            "chmd.yaml": (
                "inventory:\n  files: [devices.yaml, sites/nope.yaml]\n  profiles_dir: profiles\n"
                "rules:\n  files: [rules/*.yaml, extra.yaml]\n"
            ),
            "devices.yaml": "devices: {}\n",
        },
        [
            "chmd.yaml:2:25: inventory.files[1]: no such file: sites/nope.yaml",
            "chmd.yaml:3:17: inventory.profiles_dir: no such directory: profiles",
            "chmd.yaml:5:25: rules.files[1]: no such file: extra.yaml",
        ],
    ),
    "devices written as a list": (
        {"devices.yaml": "devices:\n  - name: sw1\n    host: 192.0.2.1\n"},
        [
            "devices.yaml:1:1: devices: expected a mapping "
            "(name → settings, e.g. `core-sw1: {host: 192.0.2.1}`)",
        ],
    ),
    "YAML syntax error": (
        {"devices.yaml": "devices:\n  sw1:\n    host: [192.0.2.1\n"},
        [
            "devices.yaml:4:1: YAML syntax error: while parsing a flow sequence, "
            "expected ',' or ']', but got '<stream end>'",
        ],
    ),
    "YAML syntax error in a rule file": (
        {"devices.yaml": "devices: {}\n", "rules/bad.yaml": "groups:\n  - name: x\n   rules: []\n"},
        [
            "rules/bad.yaml:3:4: YAML syntax error: while parsing a block collection, "
            "expected <block end>, but found '<block mapping start>'",
        ],
    ),
    "rules engine settings out of range": (
        {
            "chmd.yaml": CHMD.replace(
                "rules:\n", "rules:\n  flap_threshold: 1\n  raw_resolution: 0s\n"
            ),
            "devices.yaml": "devices: {}\n",
        },
        [
            "chmd.yaml:4:19: rules.flap_threshold: expected greater than or equal to 2",
            "chmd.yaml:5:19: rules.raw_resolution: expected greater than 0",
        ],
    ),
    "every error of every file at once": (
        {
            "chmd.yaml": CHMD + "log: {format: fancy}\n",
            "devices.yaml": (
                "defaults:\n  intervall: 1m\n"
                "devices:\n  sw1:\n    host: 192.0.2.1\n    snmp: {version: 2c}\n"
            ),
        },
        [
            "chmd.yaml:5:15: log.format: expected 'auto', 'console' or 'json'",
            "devices.yaml:2:3: defaults.intervall: unknown key (did you mean 'interval'?)",
        ],
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_broken_config_messages(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each broken config yields exactly these messages, with file:line:column and key path."""
    files, expected = CASES[case]
    monkeypatch.delenv("CHMD_TEST_UNSET_VARIABLE", raising=False)
    assert problems_of(tmp_path, files, monkeypatch) == expected
