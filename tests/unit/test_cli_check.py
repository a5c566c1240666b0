"""`chmd check`, `chmd schema` and `chmd version` through click's test runner."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from chmd import __version__
from chmd.cli import main

REPO = Path(__file__).resolve().parents[2]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root / "chmd.yaml"


def test_shipped_config_is_valid() -> None:
    """The example etc/chmd.yaml and etc/devices.yaml pass `chmd check` (exit 0)."""
    result = CliRunner().invoke(main, ["check", "-c", str(REPO / "etc" / "chmd.yaml")])
    assert result.exit_code == 0, result.output
    assert f"{REPO / 'etc' / 'chmd.yaml'}: ok: 4 devices" in result.stdout


def test_broken_config_exits_78_with_every_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config with two errors exits 78 and prints both, then the count, on stderr."""
    write(
        tmp_path,
        {
            "chmd.yaml": "inventory: {files: [devices.yaml]}\nrules: {files: []}\n",
            "devices.yaml": (
                "devices:\n  core-sw1:\n    host: 192.0.2.1\n"
                "    snmp: {comunity: x}\n    interval: 5 m\n"
            ),
        },
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "-c", "chmd.yaml"])
    assert result.exit_code == 78
    assert result.stderr.splitlines() == [
        "devices.yaml:4:12: devices.core-sw1.snmp.comunity: unknown key "
        "(did you mean 'community'?)",
        "devices.yaml:5:15: devices.core-sw1.interval: bad duration '5 m' "
        "(write e.g. 30s, 5m, 1h30m, 2d; no spaces)",
        "2 errors; nothing started.",
    ]
    assert result.stdout == ""


def test_config_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without -c, CHMD_CONFIG names the config file."""
    path = write(
        tmp_path,
        {"chmd.yaml": "rules: {files: []}\n", "devices.yaml": "devices: {}\n"},
    )
    monkeypatch.setenv("CHMD_CONFIG", str(path))
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: ok: 0 devices, 0 rule files\n"


def test_default_config_is_etc_below_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without -c or CHMD_CONFIG, etc/chmd.yaml in the working directory is used."""
    (tmp_path / "etc").mkdir()
    write(tmp_path / "etc", {"chmd.yaml": "rules: {files: []}\n", "devices.yaml": "devices:\n"})
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHMD_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "etc/chmd.yaml: ok: 0 devices, 0 rule files\n"


def test_literal_secret_warns_with_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A literal community passes but is reported as a warning at its file:line:column."""
    write(
        tmp_path,
        {
            "chmd.yaml": "rules: {files: []}\n",
            "devices.yaml": "devices:\n  sw1:\n    host: 192.0.2.1\n    snmp: {community: x}\n",
        },
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "-c", "chmd.yaml"])
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: devices.yaml:4:23: devices.sw1.snmp.community: literal secret in the file "
        "(prefer env:NAME, file:/path or credential:NAME)\n"
    )
    assert result.stdout == "chmd.yaml: ok: 1 device, 0 rule files, 1 warning\n"


def test_show_prints_effective_merged_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--show prints YAML with defaults and groups merged into each device, paths absolute."""
    write(
        tmp_path,
        {
            "chmd.yaml": "rules: {files: []}\nstate_dir: state\n",
            "devices.yaml": (
                "defaults: {interval: 30s}\n"
                "groups:\n  core: {tags: {role: core}, interval: 10s}\n"
                "devices:\n  sw1:\n    host: 192.0.2.1\n    groups: [core]\n"
                "    tags: {site: hq}\n"
            ),
        },
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "-c", "chmd.yaml", "--show"])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.stdout)
    assert shown["devices"]["sw1"]["interval"] == "10s"
    assert shown["devices"]["sw1"]["tags"] == {"role": "core", "site": "hq"}
    assert shown["state_dir"] == str(tmp_path / "state")
    assert shown["storage"]["spool_dir"] == str(tmp_path / "state" / "spool")


@pytest.mark.parametrize("file", ["chmd", "devices", "rules"])
def test_schema_is_valid_json_schema(file: str) -> None:
    """`chmd schema chmd|devices|rules` prints a JSON Schema that is itself valid."""
    result = CliRunner().invoke(main, ["schema", file])
    assert result.exit_code == 0, result.output
    jsonschema.Draft202012Validator.check_schema(json.loads(result.stdout))


def test_devices_schema_accepts_shipped_inventory() -> None:
    """The shipped etc/devices.yaml validates against `chmd schema devices`."""
    schema = json.loads(CliRunner().invoke(main, ["schema", "devices"]).stdout)
    data = yaml.safe_load((REPO / "etc" / "devices.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)


def test_devices_schema_rejects_unknown_key() -> None:
    """The devices schema flags a misspelt key as an editor would."""
    schema = json.loads(CliRunner().invoke(main, ["schema", "devices"]).stdout)
    data = {"devices": {"sw1": {"host": "192.0.2.1", "snmp": {"comunity": "x"}}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_version() -> None:
    """`chmd version` prints the package version."""
    result = CliRunner().invoke(main, ["version"])
    assert result.exit_code == 0
    assert result.stdout == f"chmd {__version__}\n"


def test_missing_config_file_exits_78(tmp_path: Path) -> None:
    """A config file that cannot be read is a configuration error (78), with its name."""
    missing = tmp_path / "nope.yaml"
    result = CliRunner().invoke(main, ["check", "-c", str(missing)])
    assert result.exit_code == 78
    assert result.stderr.splitlines() == [
        f"{missing}: cannot read: No such file or directory",
        "1 error; nothing started.",
    ]


def test_chmd_schema_accepts_shipped_config() -> None:
    """The shipped etc/chmd.yaml validates against `chmd schema chmd`."""
    schema = json.loads(CliRunner().invoke(main, ["schema", "chmd"]).stdout)
    data = yaml.safe_load((REPO / "etc" / "chmd.yaml").read_text(encoding="utf-8"))
    jsonschema.validate({k: v for k, v in data.items() if v is not None}, schema)
