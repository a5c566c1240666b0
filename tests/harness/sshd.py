"""Debian OpenSSH sshd on 127.0.0.1 as a fake Cisco device answering recorded CLI outputs.

Every session of user `netops` (key or password) runs `fake_cisco_cli.py` as a ForceCommand with
Debian's /usr/bin/python3; the outputs are real device recordings from tests/fixtures/cli (see
its SOURCES.md), one representative `.raw` per command (`DEFAULT_PICKS`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from .proc import (
    FIXTURES,
    HarnessError,
    ManagedServer,
    require_binary,
    run_checked,
)

CLI_FIXTURES = FIXTURES / "cli"
USER = "netops"
PASSWORD = "netops123"
USER_HOME = Path("/var/lib/chmd-test-netops")
CLI_SCRIPT = Path(__file__).with_name("fake_cisco_cli.py")

# command -> recording file (under tests/fixtures/cli/<platform>/<command_dir>/)
DEFAULT_PICKS: dict[str, dict[str, str]] = {
    "cisco_ios": {
        "show version": "cisco_ios_show_version5.raw",  # Catalyst 9300, IOS-XE 16.12.4
        "show interfaces": "cisco_ios_show_interfaces6.raw",
        "show ip interface brief": "cisco_ios_show_ip_interface_brief.raw",
        "show processes cpu": "cisco_ios_show_processes_cpu.raw",
        "show processes memory sorted": "cisco_ios_show_processes_memory_sorted.raw",
        "show environment temperature": "cisco_ios_show_environment_temperature.raw",
        "show environment power all": "cisco_ios_show_environment_power_all.raw",
        "show inventory": "cisco_ios_show_inventory.raw",
        "show logging": "cisco_ios_show_logging_1.raw",
        "show ip arp": "cisco_ios_show_ip_arp.raw",
        "show cdp neighbors detail": "cisco_ios_show_cdp_neighbors_detail.raw",
        "show lldp neighbors detail": "cisco_ios_show_lldp_neighbors_detail1.raw",
    },
}

SSHD_CONFIG = """\
Port {port}
ListenAddress {host}
HostKey {base}/ssh_host_ed25519_key
PidFile {base}/sshd.pid
AuthorizedKeysFile {base}/authorized_keys/%u
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers {user}
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
PrintMotd no
PrintLastLog no
Banner none
LogLevel INFO
ForceCommand /usr/bin/python3 {base}/cli/fake_cisco_cli.py {base}/cli/outputs
"""


def recorded_outputs(
    platform: str = "cisco_ios", picks: Mapping[str, str] | None = None
) -> dict[str, Path]:
    """{command: recording} for a platform: DEFAULT_PICKS, else the first .raw per command."""
    root = CLI_FIXTURES / platform
    chosen = dict(DEFAULT_PICKS.get(platform, {}))
    chosen.update(picks or {})
    outputs: dict[str, Path] = {}
    for cmd_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        command = cmd_dir.name.replace("_", " ")
        name = chosen.get(command)
        raws = sorted(cmd_dir.glob("*.raw"))
        if name:
            outputs[command] = cmd_dir / name
        elif raws and platform not in DEFAULT_PICKS:
            outputs[command] = raws[0]
    return outputs


def hostname_of(show_version: str) -> str:
    """The hostname in `show version` (IOS "<host> uptime is ...", NX-OS "Device name: <host>")."""
    nxos = re.search(r"^\s*Device name: (\S+)", show_version, re.MULTILINE)
    ios = re.search(r"^(\S+) uptime is ", show_version, re.MULTILINE)
    found = nxos or ios
    return found.group(1) if found else "Switch"


@contextlib.contextmanager
def _user_lock() -> Iterator[None]:
    with open(Path(tempfile.gettempdir()) / "chmd-test-netops.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(*argv: str, stdin: str | None = None) -> None:
    run_checked(argv, stdin=stdin)


def ensure_user() -> None:
    """Create the unprivileged login user (once per machine), with its password and home."""
    if os.geteuid() != 0:
        raise HarnessError("the sshd fixture needs root (it runs sshd and creates user netops)")
    with _user_lock():
        USER_HOME.mkdir(mode=0o755, exist_ok=True)
        existing = subprocess.run(
            ["getent", "passwd", USER], capture_output=True, text=True, check=False
        ).stdout
        if not existing:
            _run("useradd", "-M", "-d", str(USER_HOME), "-s", "/bin/sh", USER)
        elif existing.strip().split(":")[5] != str(USER_HOME):
            _run("usermod", "-d", str(USER_HOME), USER)
        shutil.chown(USER_HOME, USER, USER)
        _run("chpasswd", stdin=f"{USER}:{PASSWORD}\n")


def ssh_banner(host: str, port: int) -> bool:
    """True when the port speaks SSH (sends its `SSH-2.0-` banner)."""
    with socket.create_connection((host, port), timeout=2) as sock:
        sock.settimeout(2)
        return sock.recv(64).startswith(b"SSH-2.0-")


class Sshd(ManagedServer):
    """OpenSSH as a fake Cisco device: `.port`, `.user`, `.password`, `.client_key`, `.known_hosts`.

    `.outputs` maps each command to the recording it answers with; `.hostname` is the prompt.
    """

    user = USER
    password = PASSWORD
    name = "sshd"
    ready_what = "SSH banner"

    def __init__(
        self,
        platform: str = "cisco_ios",
        picks: Mapping[str, str] | None = None,
        base: Path | None = None,
    ) -> None:
        super().__init__("sshd", base)
        self.platform = platform
        self.outputs = recorded_outputs(platform, picks)
        version = self.outputs.get("show version")
        self.hostname = hostname_of(version.read_text()) if version else "Switch"
        self.client_key = self.base / "client_ed25519"
        self.host_key = self.base / "ssh_host_ed25519_key"
        self.known_hosts = self.base / "known_hosts"

    def _prepare(self) -> None:
        ensure_user()
        cli = self.base / "cli"
        (cli / "outputs").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CLI_SCRIPT, cli / "fake_cisco_cli.py")
        for command, path in self.outputs.items():
            shutil.copyfile(path, cli / "outputs" / (command.replace(" ", "_") + ".txt"))
        (cli / "outputs" / "hostname").write_text(self.hostname + "\n")
        keygen = require_binary("ssh-keygen")
        for key in (self.host_key, self.client_key):
            if not key.exists():
                _run(keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key))
        keys = self.base / "authorized_keys"
        keys.mkdir(exist_ok=True)
        shutil.copyfile(self.client_key.with_suffix(".pub"), keys / USER)
        for path in (cli, cli / "outputs", keys, *cli.rglob("*"), *keys.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir

    def _argv(self) -> list[str]:
        sshd = require_binary("/usr/sbin/sshd")
        conf = self.base / "sshd_config"
        conf.write_text(
            SSHD_CONFIG.format(port=self.port, host=self.host, base=self.base, user=USER)
        )
        _run(sshd, "-t", "-f", str(conf))
        return [sshd, "-D", "-e", "-f", str(conf)]

    def _ready(self) -> bool:
        return ssh_banner(self.host, self.port)

    def _started(self) -> None:
        host_pub = self.host_key.with_suffix(".pub").read_text().split()
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {host_pub[0]} {host_pub[1]}\n")
