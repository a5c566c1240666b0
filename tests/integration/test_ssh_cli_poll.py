"""`chmd poll DEVICE --via ssh` (the installed `chmd` program, as a process) against Debian's
OpenSSH playing a Cisco device (fixture `sshd`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CHMD = Path(sys.executable).with_name("chmd")

pytestmark = pytest.mark.integration


def write_config(tmp_path: Path, sshd: Any) -> Path:
    (tmp_path / "ssh-password").write_text(sshd.password + "\n")
    (tmp_path / "devices.yaml").write_text(
        "devices:\n"
        "  c9500:\n"
        "    host: 127.0.0.1\n"
        "    timeout: 60s\n"
        "    ssh:\n"
        f"      port: {sshd.port}\n"
        f"      user: {sshd.user}\n"
        "      password: file:ssh-password\n"
        "      platform: cisco_xe\n"
    )
    config = tmp_path / "chmd.yaml"
    config.write_text(
        "inventory:\n  files: [devices.yaml]\n"
        f"state_dir: {tmp_path / 'state'}\n"
        f"ssh:\n  known_hosts: {sshd.known_hosts}\n"
    )
    return config


def test_poll_via_ssh_prints_samples(sshd: Any, tmp_path: Path) -> None:
    """The poll prints the device's samples (JSON here), tagged collector=ssh, and exits 0."""
    config = write_config(tmp_path, sshd)
    argv = [str(CHMD), "poll", "-c", str(config), "c9500", "--via", "ssh", "--format", "json"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    samples = json.loads(result.stdout)
    system = next(s for s in samples if s["measurement"] == "system")
    assert system["fields"]["version"] == "16.12.4"
    assert system["tags"] == {"device": "c9500", "agent_host": "127.0.0.1", "collector": "ssh"}
    assert {s["measurement"] for s in samples} >= {"interface", "cpu", "memory", "sensor"}
    assert sshd.password not in result.stdout + result.stderr


def test_poll_via_ssh_line_protocol(sshd: Any, tmp_path: Path) -> None:
    """`--format lp` prints the InfluxDB lines chmd would write, string fields included."""
    config = write_config(tmp_path, sshd)
    argv = [str(CHMD), "poll", "-c", str(config), "c9500", "--via", "ssh", "--format", "lp"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    system = [line for line in result.stdout.splitlines() if line.startswith("system,")]
    assert len(system) == 1
    assert "collector=ssh" in system[0]
    assert 'version="16.12.4"' in system[0]
