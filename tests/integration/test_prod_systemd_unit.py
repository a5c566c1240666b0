"""The shipped systemd files, checked by systemd's own tools offline (systemd-analyze 252).

`systemd-analyze verify` needs ExecStart's binary to exist, so the tests verify a copy of
systemd/chmd.service whose `/usr/bin/chmd` is rewritten to this venv's console script; the
shipped unit keeps the install path /usr/bin/chmd (docs/operations.md).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNIT = SYSTEMD_DIR / "chmd.service"
CHMD_BIN = Path(sys.executable).parent / "chmd"


def _analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian package `systemd`)")
    return tool


@pytest.fixture
def testable_unit(tmp_path: Path) -> Path:
    """A copy of chmd.service with ExecStart/ExecStartPre pointing at the venv's chmd."""
    assert CHMD_BIN.exists(), CHMD_BIN
    path = tmp_path / "chmd.service"
    path.write_text(UNIT.read_text().replace("/usr/bin/chmd", str(CHMD_BIN)))
    return path


def _settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_verify_prints_nothing(testable_unit: Path) -> None:
    """`systemd-analyze verify --man=no` accepts the unit with no error and no warning."""
    result = subprocess.run(
        [_analyze(), "verify", "--man=no", str(testable_unit)],
        capture_output=True,
        text=True,
        cwd=testable_unit.parent,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_catches_a_broken_unit(testable_unit: Path) -> None:
    """The verify check can fail: a misspelt key is reported (so the test above means something)."""
    testable_unit.write_text(testable_unit.read_text().replace("WatchdogSec=", "WatchdogSecc="))
    result = subprocess.run(
        [_analyze(), "verify", "--man=no", str(testable_unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Unknown key" in result.stderr


def test_security_exposure_is_ok(testable_unit: Path) -> None:
    """`systemd-analyze security --offline=true` rates the unit at exposure 3.0 or lower."""
    result = subprocess.run(
        [_analyze(), "security", "--offline=true", "--no-pager", str(testable_unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 3.0, result.stdout


def test_notify_restart_and_reload_settings() -> None:
    """The unit is Type=notify with a watchdog, reloads by SIGHUP and never restarts on exit 78."""
    s = _settings()
    assert s["Type"] == ["notify"]
    assert s["NotifyAccess"] == ["main"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["RestartPreventExitStatus"] == [str(os.EX_CONFIG)]
    assert s["Restart"] == ["on-failure"]
    assert float(s["WatchdogSec"][0]) > 0
    assert s["User"] == ["chmd"]
    assert s["StateDirectory"] == ["chmd"]
    assert s["ConfigurationDirectory"] == ["chmd"]
    assert s["CapabilityBoundingSet"] == [""]
    assert s["LoadCredential"]


@pytest.mark.skipif(os.geteuid() != 0, reason="tmpfiles chown needs root")
def test_sysusers_and_tmpfiles_create_user_and_dirs(tmp_path: Path) -> None:
    """systemd-sysusers creates the chmd user, systemd-tmpfiles its directories (temp root)."""
    sysusers, tmpfiles = shutil.which("systemd-sysusers"), shutil.which("systemd-tmpfiles")
    if sysusers is None or tmpfiles is None:
        pytest.skip("systemd-sysusers/systemd-tmpfiles not installed")
    (tmp_path / "etc").mkdir()
    subprocess.run(
        [sysusers, f"--root={tmp_path}", str(SYSTEMD_DIR / "chmd.sysusers")],
        check=True,
        capture_output=True,
    )
    passwd = (tmp_path / "etc" / "passwd").read_text()
    entry = next(line for line in passwd.splitlines() if line.startswith("chmd:"))
    _, _, uid, gid, _, home, shell = entry.split(":")
    assert (home, shell) == ("/var/lib/chmd", "/usr/sbin/nologin")
    subprocess.run(
        [tmpfiles, f"--root={tmp_path}", "--create", str(SYSTEMD_DIR / "chmd.tmpfiles")],
        check=True,
        capture_output=True,
    )
    spool = (tmp_path / "var/lib/chmd/spool").stat()
    assert (spool.st_uid, spool.st_gid, spool.st_mode & 0o777) == (int(uid), int(gid), 0o750)
    credentials = (tmp_path / "etc/chmd/credentials").stat()
    assert (credentials.st_uid, credentials.st_mode & 0o777) == (0, 0o700)
