"""`chmd reload`: ask the running daemon to reload its configuration (SIGHUP).

The daemon is found through its pid file (`<state_dir>/chmd.pid`, written by `chmd run`),
or, when there is none, through systemd's MainPID of the unit. A pid that no longer runs
`chmd run` (a stale file) is never signalled. The daemon validates the new configuration
itself and keeps the old one when it is broken (see its log and
`chmd_config_last_reload_successful`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import click
import yaml

from chmd.cli import config_option, main
from chmd.systemd import PID_FILE_NAME, process_is_chmd, read_pid_file

DEFAULT_STATE_DIR = "/var/lib/chmd"
EXIT_NOT_RUNNING = 1


def state_dir_of(config_path: Path) -> Path:
    """`state_dir` from chmd.yaml without validating the rest (secrets may only resolve in
    the service's own environment); relative paths resolve against the file's directory."""
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        raw = None
    value = raw.get("state_dir") if isinstance(raw, dict) else None
    state_dir = Path(value) if isinstance(value, str) and value else Path(DEFAULT_STATE_DIR)
    return state_dir if state_dir.is_absolute() else config_path.parent.absolute() / state_dir


def systemd_main_pid(unit: str) -> int | None:
    """The MainPID systemd reports for `unit`, or None (no systemctl, no bus, not running)."""
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        return None
    try:
        result = subprocess.run(  # noqa: S603  # fixed argv: systemctl found on PATH, no shell
            [systemctl, "show", "--property=MainPID", "--value", unit],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = result.stdout.strip()
    return int(text) if result.returncode == 0 and text.isdigit() and int(text) > 0 else None


def find_daemon(pid_file: Path, unit: str) -> int | None:
    """The running daemon's pid: the pid file first, then systemd's MainPID."""
    for pid in (read_pid_file(pid_file), systemd_main_pid(unit)):
        if pid is not None and process_is_chmd(pid):
            return pid
    return None


@main.command()
@config_option
@click.option(
    "--pid-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"The daemon's pid file.  [default: <state_dir>/{PID_FILE_NAME}]",
)
@click.option("--unit", default="chmd.service", show_default=True, help="systemd unit to ask.")
def reload(config: Path, pid_file: Path | None, unit: str) -> None:
    """Tell the running daemon to reload its configuration (like `systemctl reload chmd`).

    The config file is read only for `state_dir` (where the pid file is)."""
    if pid_file is None:
        pid_file = state_dir_of(config) / PID_FILE_NAME
    pid = find_daemon(pid_file, unit)
    if pid is None:
        click.echo(
            f"chmd reload: no running chmd found (pid file {pid_file}, unit {unit})", err=True
        )
        raise SystemExit(EXIT_NOT_RUNNING)
    os.kill(pid, signal.SIGHUP)
    click.echo(f"sent SIGHUP to chmd (pid {pid}); see its log for the result")
