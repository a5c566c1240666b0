"""Relative paths in chmd.yaml resolve against its directory, not the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from chmd.config import load_config


def test_relative_paths_resolve_against_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """state_dir, the spool default, ssh paths and profiles_dir become absolute under etc/."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "chmd.yaml").write_text(
        "rules: {files: []}\n"
        "state_dir: ../var\n"
        "inventory: {profiles_dir: profiles}\n"
        "ssh:\n"
        "  tofu_known_hosts: tofu\n"
        "  command_sets: {cisco_ios: sets/ios.yaml}\n",
        encoding="utf-8",
    )
    (etc / "devices.yaml").write_text("devices: {}\n", encoding="utf-8")
    (etc / "profiles").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("../etc/chmd.yaml")).config
    assert config.state_dir == str(tmp_path / "var")
    assert config.storage.spool_dir == str(tmp_path / "var" / "spool")
    assert config.inventory.profiles_dir == str(etc / "profiles")
    assert config.ssh.known_hosts == str(etc / "known_hosts")
    assert config.ssh.tofu_known_hosts == str(etc / "tofu")
    assert config.ssh.command_sets == {"cisco_ios": str(etc / "sets" / "ios.yaml")}


def test_absolute_paths_stay(tmp_path: Path) -> None:
    """Absolute paths are kept as written; an explicit spool_dir wins over the default."""
    (tmp_path / "chmd.yaml").write_text(
        "rules: {files: []}\nstate_dir: /srv/chmd\nstorage: {spool_dir: /data/spool}\n",
        encoding="utf-8",
    )
    (tmp_path / "devices.yaml").write_text("devices: {}\n", encoding="utf-8")
    config = load_config(tmp_path / "chmd.yaml").config
    assert (config.state_dir, config.storage.spool_dir) == ("/srv/chmd", "/data/spool")
