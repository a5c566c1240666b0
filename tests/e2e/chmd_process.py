"""Helpers for running `chmd run` as a process in end-to-end tests.

`ChmdProcess` starts the daemon on a config directory, reads its JSON log lines (stderr) in
a thread, and can bind a systemd-style NOTIFY_SOCKET for it. `write_config` lays out a
config directory (chmd.yaml, devices.yaml, rules.yaml) pointing at the test servers.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

CHMD = Path(sys.executable).with_name("chmd")
MDWE = Path(__file__).with_name("mdwe_exec.py")
DEADLINE_S = 60.0


class ChmdProcess:
    """A running `chmd run -c CONFIG`; `notify=True` gives it a NOTIFY_SOCKET to talk to."""

    def __init__(
        self,
        config: Path,
        *,
        notify: bool = False,
        watchdog_usec: int = 0,
        under_mdwe: bool = False,
    ) -> None:
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        self.notify_socket: socket.socket | None = None
        if notify:
            self.notify_socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            path = str(config.parent / "notify.sock")
            self.notify_socket.bind(path)
            self.notify_socket.settimeout(0.2)
            env["NOTIFY_SOCKET"] = path
            if watchdog_usec:
                env["WATCHDOG_USEC"] = str(watchdog_usec)
        argv = [str(CHMD), "run", "-c", str(config)]
        if under_mdwe:
            argv = [sys.executable, str(MDWE), *argv]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=config.parent,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self.other: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._closing = threading.Event()
        self._notify_lock = threading.Lock()
        self._notified: list[str] = []
        if self.notify_socket is not None:  # drain it all the time, as systemd does
            self._notify_reader = threading.Thread(target=self._read_notify, daemon=True)
            self._notify_reader.start()

    def _read_notify(self) -> None:
        assert self.notify_socket is not None
        while not self._closing.is_set():
            try:
                data = self.notify_socket.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._notify_lock:
                self._notified.append(data.decode())

    @property
    def messages(self) -> list[str]:
        """Every NOTIFY_SOCKET datagram received so far, in order."""
        with self._notify_lock:
            return list(self._notified)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def _pump(self, timeout_s: float) -> None:
        try:
            line = self.lines.get(timeout=timeout_s)
        except queue.Empty:
            return
        try:
            event = json.loads(line)
        except ValueError:
            self.other.append(line)
            return
        if isinstance(event, dict):
            self.events.append(event)

    def wait_event(
        self, predicate: Callable[[dict[str, Any]], bool], deadline_s: float = DEADLINE_S
    ) -> dict[str, Any]:
        """The first log event (seen so far or arriving) matching `predicate`."""
        deadline = time.monotonic() + deadline_s
        checked = 0
        while True:
            for event in self.events[checked:]:
                if predicate(event):
                    return event
            checked = len(self.events)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self.proc.poll() is not None and self.lines.empty()):
                raise AssertionError(
                    f"no matching log event (exit={self.proc.poll()}); events: "
                    f"{[e.get('event') for e in self.events]}; other: {self.other[-20:]}"
                )
            self._pump(min(remaining, 0.5))

    def named(self, name: str) -> list[dict[str, Any]]:
        while not self.lines.empty():
            self._pump(0)
        return [e for e in self.events if e.get("event") == name]

    def recv_notify(self, predicate: Callable[[str], bool], deadline_s: float = DEADLINE_S) -> str:
        """The first NOTIFY_SOCKET datagram (received so far or arriving) matching `predicate`."""
        deadline = time.monotonic() + deadline_s
        while True:
            for message in self.messages:
                if predicate(message):
                    return message
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching notify message; got {self.messages}")
            time.sleep(0.1)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then the exit status (fails the test when it does not exit in time)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout_s)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join(10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        self._closing.set()
        if self.notify_socket is not None:
            self._notify_reader.join(5)
            self.notify_socket.close()


def devices_yaml(snmp_port: int, devices: Sequence[tuple[str, str]], interval: str = "1s") -> str:
    """An inventory of snmpsim recordings: (chmd device name, community)."""
    doc = {
        "defaults": {
            "interval": interval,
            "timeout": "5s",
            "snmp": {"port": snmp_port, "timeout": "1s", "retries": 1},
        },
        "devices": {
            name: {"host": "127.0.0.1", "snmp": {"community": community}}
            for name, community in devices
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


RULES = {
    "groups": [
        {
            "name": "e2e",
            "interval": "1s",
            "rules": [
                {
                    "name": "cpu_busy",
                    "kind": "threshold",
                    "select": {"measurement": "cpu", "field": "usage"},
                    "op": ">=",
                    "value": 0,
                    "severity": "major",
                    "summary": "{device} CPU {name} at {value:.0f}%",
                }
            ],
        }
    ]
}


def write_config(
    directory: Path,
    *,
    influx_url: str,
    database: str,
    snmp_port: int,
    devices: Sequence[tuple[str, str]],
    hook_url: str | None = None,
) -> Path:
    """chmd.yaml + devices.yaml + rules.yaml in `directory`; returns chmd.yaml's path."""
    config: dict[str, Any] = {
        "inventory": {"files": ["devices.yaml"]},
        "rules": {"files": ["rules.yaml"], "interval": "1s"},
        "storage": {
            "url": influx_url,
            "database": database,
            "flush_interval": "0.5s",
            "retry_initial": "0.2s",
            "retry_max": "1s",
            "timeout": "2s",
            "close_timeout": "3s",
        },
        "state_dir": "state",
        "metrics": {"listen": "127.0.0.1:0"},
        "log": {"format": "json", "level": "info"},
    }
    if hook_url is not None:
        config["notify"] = {
            "receivers": {"ops": {"urls": [hook_url]}},
            "route": {
                "receiver": "ops",
                "group_by": ["device", "rule"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
        }
    (directory / "chmd.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (directory / "devices.yaml").write_text(devices_yaml(snmp_port, devices))
    (directory / "rules.yaml").write_text(yaml.safe_dump(RULES, sort_keys=False))
    return directory / "chmd.yaml"


def wait_until(check: Callable[[], Any], what: str, deadline_s: float = DEADLINE_S) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
