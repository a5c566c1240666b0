"""`chmd run`: the daemon in the foreground. This module owns the process: signals, exit codes.

SIGTERM and SIGINT stop the daemon (exit 0, within 5 s); SIGHUP asks it to reload (a
broken new configuration is logged and the running one kept). A configuration that is
invalid at start exits 78 (EX_CONFIG) after printing every problem, before anything
starts. While running, `<state_dir>/chmd.pid` names the process (for `chmd reload`).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import structlog

from chmd import log as chmd_log
from chmd.cli import EXIT_FAILURE, config_option, load_config_or_exit, main
from chmd.config import LoadedConfig
from chmd.daemon import Daemon
from chmd.systemd import PID_FILE_NAME, remove_pid_file, write_pid_file

logger = structlog.get_logger("chmd.run")


def _write_pid_file(loaded: LoadedConfig) -> Path | None:
    path = Path(loaded.config.state_dir) / PID_FILE_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_pid_file(path, os.getpid())
    except OSError as exc:
        logger.warning("pid_file_not_written", path=str(path), error=exc.strerror)
        return None
    return path


async def serve(daemon: Daemon) -> None:
    """Run `daemon` until SIGTERM or SIGINT; SIGHUP requests a reload."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_stop(name: str) -> None:
        logger.info("stop_requested", signal=name)
        stop.set()

    def on_reload() -> None:
        logger.info("reload_requested", signal="SIGHUP")
        daemon.request_reload()

    loop.add_signal_handler(signal.SIGTERM, on_stop, "SIGTERM")
    loop.add_signal_handler(signal.SIGINT, on_stop, "SIGINT")
    loop.add_signal_handler(signal.SIGHUP, on_reload)
    try:
        await daemon.run(stop)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)


@main.command()
@config_option
def run(config: Path) -> None:
    """Run the daemon in the foreground (SIGTERM/SIGINT stop it, SIGHUP reloads)."""
    loaded = load_config_or_exit(config, "nothing started")
    chmd_log.configure(loaded.config.log.level, loaded.config.log.format)
    pid_file = _write_pid_file(loaded)
    try:
        asyncio.run(serve(Daemon(config, config=loaded, pipeline=True)))
    except Exception:  # the process boundary: log whatever escaped, exit 1
        logger.exception("crashed")
        raise SystemExit(EXIT_FAILURE) from None
    finally:
        if pid_file is not None:
            remove_pid_file(pid_file, os.getpid())
