"""Secrets never show: not in `chmd check --show`, not in errors, not in logs."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner
from structlog.testing import capture_logs

from chmd import log as chmd_log
from chmd.cli import main
from chmd.config import load_config
from chmd.configtypes import Secret
from chmd.daemon import Daemon
from chmd.errors import ConfigError

SECRETS = {
    "token": "tok-ENV-7f3a9",
    "url": "json://127.0.0.1:9/url-ENV-5b2e",
    "auth": "auth-ENV-11aa",
    "priv": "priv-FILE-22bb",
    "community": "comm-LITERAL-93ab",
    "storage_password": "pw-LITERAL-0c1d",
    "ssh_password": "ssh-LITERAL-33cc",
}

CHMD = f"""\
rules: {{files: []}}
storage:
  token: env:CHMD_TEST_TOKEN
  password: {SECRETS["storage_password"]}
notify:
  receivers:
    ops:
      urls: [env:CHMD_TEST_URL]
"""

DEVICES = f"""\
defaults:
  snmp:
    community: {SECRETS["community"]}
devices:
  sw1:
    host: 192.0.2.1
  rtr1:
    host: 192.0.2.2
    snmp:
      version: "3"
      user: chmd
      auth_protocol: SHA
      auth_key: env:CHMD_TEST_AUTH
      priv_protocol: AES
      priv_key: file:secrets/priv
    ssh:
      user: netops
      password: {SECRETS["ssh_password"]}
"""


@pytest.fixture
def secret_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "priv").write_text(SECRETS["priv"] + "\n", encoding="utf-8")
    (tmp_path / "chmd.yaml").write_text(CHMD, encoding="utf-8")
    (tmp_path / "devices.yaml").write_text(DEVICES, encoding="utf-8")
    monkeypatch.setenv("CHMD_TEST_TOKEN", SECRETS["token"])
    monkeypatch.setenv("CHMD_TEST_URL", SECRETS["url"])
    monkeypatch.setenv("CHMD_TEST_AUTH", SECRETS["auth"])
    monkeypatch.chdir(tmp_path)
    return Path("chmd.yaml")


def assert_no_secret(text: str) -> None:
    leaked = [name for name, value in SECRETS.items() if value in text]
    assert leaked == []


def test_secrets_resolve_from_env_file_and_literal(secret_config: Path) -> None:
    """Each reference form resolves to its value for the client modules (reveal())."""
    loaded = load_config(secret_config)
    rtr1 = {d.name: d for d in loaded.devices}["rtr1"]
    assert rtr1.snmp is not None
    assert rtr1.snmp.auth_key is not None
    assert rtr1.snmp.priv_key is not None
    assert rtr1.snmp.auth_key.reveal() == SECRETS["auth"]
    assert rtr1.snmp.priv_key.reveal() == SECRETS["priv"]
    assert loaded.config.storage.token is not None
    assert loaded.config.storage.token.reveal() == SECRETS["token"]


def test_check_show_masks_every_secret(secret_config: Path) -> None:
    """`chmd check --show` prints references or <secret>, never a value."""
    result = CliRunner().invoke(main, ["check", "-c", str(secret_config), "--show"])
    assert result.exit_code == 0, result.output
    assert_no_secret(result.output)
    assert "token: env:CHMD_TEST_TOKEN" in result.stdout
    assert "priv_key: file:secrets/priv" in result.stdout
    assert "community: <secret>" in result.stdout


def test_literal_secrets_are_warned_about(secret_config: Path) -> None:
    """Each literal secret gets a warning with its position, and no value."""
    result = CliRunner().invoke(main, ["check", "-c", str(secret_config)])
    assert_no_secret(result.output)
    assert [line.split(": ")[1:3] for line in result.stderr.splitlines()] == [
        ["chmd.yaml:4:13", "storage.password"],
        ["devices.yaml:3:16", "defaults.snmp.community"],
        ["devices.yaml:18:17", "devices.rtr1.ssh.password"],
    ]


def test_errors_next_to_secrets_do_not_show_them(
    secret_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation errors in mappings holding secrets (and of secret fields) show no value."""
    broken = DEVICES.replace('version: "3"', "version: 4").replace(
        f"password: {SECRETS['ssh_password']}", f"password: [{SECRETS['ssh_password']}]"
    )
    Path("devices.yaml").write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(secret_config)
    assert len(info.value.problems) == 2
    assert_no_secret("\n".join(info.value.problems))


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("fmt", ["json", "console"])
def test_rendered_logs_mask_secrets(secret_config: Path, fmt: chmd_log.Format) -> None:
    """Secrets logged by mistake — bare, nested, inside models — render as <secret>."""
    loaded = load_config(secret_config)
    stream = io.StringIO()
    chmd_log.configure("debug", fmt, stream)
    logger = structlog.get_logger("test")
    logger.info("oops", secret=Secret(SECRETS["token"]), nested={"k": [Secret(SECRETS["auth"])]})
    logger.info("devices", devices=list(loaded.devices), storage=loaded.config.storage)
    logging.getLogger("asyncssh").warning("lib says %s", Secret(SECRETS["ssh_password"]))
    output = stream.getvalue()
    assert_no_secret(output)
    assert output.count("<secret>") >= 5


async def test_daemon_logs_show_no_secret(secret_config: Path) -> None:
    """The daemon's own events (start, a failed reload, stop) carry no secret value."""
    loaded = load_config(secret_config)
    daemon = Daemon(secret_config, config=loaded)
    stop = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(daemon.run(stop))
        await asyncio.wait_for(daemon.ready.wait(), 10)
        await asyncio.to_thread(
            Path("devices.yaml").write_text, DEVICES.replace("192.0.2.2", "bad host"), "utf-8"
        )
        daemon.request_reload()
        await asyncio.wait_for(daemon.wait_reloads(1), 10)
        stop.set()
        await task
    assert [e["event"] for e in logs] == [
        "config_warning",
        "config_warning",
        "config_warning",
        "started",
        "reload_started",
        "reload_failed",
        "stopped",
    ]
    assert_no_secret(repr(logs))
