"""asyncssh client for one device: one reused connection, a channel per command (or one shell).

The only module that reveals SSH secrets and the only one that sees asyncssh's exceptions:
`_translate` maps them once into chmd's tree (AuthError, HostKeyError, CollectTimeout,
Disconnected, ConnectFailed, ProtocolError), each naming the device and the step.

Host keys: `strict` (default) checks against a known_hosts file and refuses an unknown or
changed key before any credential is sent. `tofu` trusts the first key seen, records it in
chmd's own file (in the state dir), and from then on is strict against it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from chmd.collect.ssh.errors import ConnectFailed, Disconnected, HostKeyError
from chmd.collect.ssh.parsers.parse import check_cli_error
from chmd.errors import AuthError, CollectError, CollectTimeout, ProtocolError
from chmd.inventory.schema import Device, SshAccess


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Fleet-wide settings of the SSH client (from SshCollectorSettings)."""

    known_hosts: Path  # default for devices without `ssh.known_hosts`
    tofu_known_hosts: Path  # where trust-on-first-use records keys
    keepalive_interval_s: float = 30.0
    keepalive_count_max: int = 3


def _host_pattern(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def known_host_entries(path: Path, host: str, port: int) -> int:
    """How many keys `path` trusts for host:port (0 when the file is missing)."""
    if not path.is_file():
        return 0
    known = asyncssh.read_known_hosts(str(path))
    return len(known.match(host, host, port)[0])


def record_host_key(path: Path, host: str, port: int, key: Any) -> None:
    """Append `key` (an asyncssh SSHKey) for host:port to a known_hosts file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = key.export_public_key("openssh").decode().strip()
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"{_host_pattern(host, port)} {line}\n")


@contextmanager
def translate(
    device: str, step: str, *, host: str = "", port: int = 22, known_hosts: Path | None = None
) -> Iterator[None]:
    """Map asyncssh and socket errors to chmd's tree, naming device and step."""
    try:
        yield
    except CollectError:
        raise
    except asyncssh.HostKeyNotVerifiable as exc:
        changed = known_hosts is not None and known_host_entries(known_hosts, host, port) > 0
        raise HostKeyError(_host_key_message(device, known_hosts, changed), step=step) from exc
    except asyncssh.PermissionDenied as exc:
        raise AuthError(f"{device}: SSH login rejected ({step})", step=step) from exc
    except TimeoutError as exc:
        raise CollectTimeout(f"{device}: {step!r} timed out", step=step) from exc
    except (asyncssh.ConnectionLost, BrokenPipeError, ConnectionResetError) as exc:
        raise Disconnected(f"{device}: connection lost during {step!r}", step=step) from exc
    except asyncssh.DisconnectError as exc:
        raise Disconnected(
            f"{device}: disconnected during {step!r} (code {exc.code})", step=step
        ) from exc
    except asyncssh.ChannelOpenError as exc:
        raise ProtocolError(f"{device}: channel refused for {step!r}", step=step) from exc
    except asyncssh.Error as exc:
        raise ProtocolError(
            f"{device}: SSH error in {step!r}: {type(exc).__name__}", step=step
        ) from exc
    except OSError as exc:
        raise ConnectFailed(f"{device}: cannot connect ({exc.strerror or exc})", step=step) from exc


def _host_key_message(device: str, known_hosts: Path | None, changed: bool) -> str:
    if changed:
        return (
            f"{device}: host key CHANGED (differs from {known_hosts}); refusing to connect. "
            "If the device was replaced, remove its old entry from that file."
        )
    return f"{device}: host key unknown (not in {known_hosts}); refusing to connect"


class DeviceSession:
    """One device's connection; `run` opens a channel per command (or uses one shell)."""

    def __init__(
        self,
        device: Device,
        conn: asyncssh.SSHClientConnection,
        *,
        interactive: bool,
        pagination: str,
        prompt: str,
    ) -> None:
        self.device = device
        self._conn = conn
        self._interactive = interactive
        self._pagination = pagination
        self._prompt = re.compile(prompt)
        self._prompt_text: str | None = None  # the device's own prompt, learnt at login
        self._shell: asyncssh.SSHClientProcess[str] | None = None

    @property
    def closed(self) -> bool:
        return bool(self._conn.is_closed())

    async def run(self, command: str, timeout_s: float) -> str:
        """The command's output. Raises CollectTimeout, Disconnected, ProtocolError."""
        with translate(self.device.name, command):
            async with asyncio.timeout(timeout_s):
                if self._interactive:
                    return await self._run_shell(command)
                result = await self._conn.run(command, check=False)
        if result.exit_status is None and result.exit_signal is None:
            raise Disconnected(
                f"{self.device.name}: channel closed before {command!r} finished", step=command
            )
        out = result.stdout
        return out if isinstance(out, str) else (out or b"").decode("utf-8", "replace")

    async def _open_shell(self) -> asyncssh.SSHClientProcess[str]:
        shell = await self._conn.create_process(term_type="vt100", term_size=(511, 24))
        banner = await self._read_to_prompt(shell, "login")
        self._prompt_text = _last_line(banner).strip()
        if self._pagination:
            shell.stdin.write(self._pagination + "\n")
            reply = await self._read_to_prompt(shell, self._pagination)
            check_cli_error(self.device.name, self._pagination, reply)
        return shell

    async def _run_shell(self, command: str) -> str:
        if self._shell is None:
            self._shell = await self._open_shell()
        self._shell.stdin.write(command + "\n")
        text = await self._read_to_prompt(self._shell, command)
        text = text.replace("\r\n", "\n").replace("\r", "\n").rstrip()
        text = text.removesuffix(self._prompt_text or "")  # the prompt that ended it
        first, _, rest = text.partition("\n")
        return rest if command in first else text  # drop the echo of the command

    async def _read_to_prompt(self, shell: asyncssh.SSHClientProcess[str], what: str) -> str:
        """Read until the output's unfinished last line is the prompt (`prompt:` regex at
        login; from then on exactly the prompt the device showed, e.g. `lab-sw1#`)."""
        buffer = ""
        while True:
            chunk = await shell.stdout.read(65536)
            if not chunk:
                raise Disconnected(f"{self.device.name}: the device closed the shell ({what!r})")
            buffer += chunk
            last = _last_line(buffer).strip()
            if self._prompt_text is not None:
                if last.endswith(self._prompt_text):  # output without a final newline
                    return buffer
            elif self._prompt.fullmatch(last):
                return buffer

    def close(self) -> None:
        self._conn.close()


def _last_line(text: str) -> str:
    """The text after the last line break (a prompt has no newline after it)."""
    return text.replace("\r", "\n").rsplit("\n", 1)[-1]


async def open_session(
    device: Device, options: ClientOptions, *, interactive: bool, pagination: str, prompt: str
) -> DeviceSession:
    """Connect and log in to `device` (which must have `ssh`), checking its host key."""
    access = device.ssh
    if access is None:
        raise ProtocolError(f"{device.name}: no `ssh:` access configured", step="connect")
    known_hosts, tofu = _host_key_source(device.host, access, options)
    with translate(
        device.name, "connect", host=device.host, port=access.port, known_hosts=known_hosts
    ):
        if known_hosts is not None and not known_hosts.is_file():
            raise HostKeyError(
                f"{device.name}: known_hosts file {known_hosts} does not exist; "
                "refusing to connect",
                step="connect",
            )
        async with asyncio.timeout(access.connect_timeout):
            conn = await asyncssh.connect(
                device.host,
                access.port,
                username=access.user,
                password=access.password.reveal() if access.password else None,
                client_keys=[access.key_file] if access.key_file else None,
                passphrase=access.key_passphrase.reveal() if access.key_passphrase else None,
                known_hosts=str(known_hosts) if known_hosts is not None else None,
                agent_path=None,
                config=[],
                connect_timeout=access.connect_timeout,
                login_timeout=access.connect_timeout,
                keepalive_interval=options.keepalive_interval_s,
                keepalive_count_max=options.keepalive_count_max,
            )
    if tofu:
        record_host_key(
            options.tofu_known_hosts, device.host, access.port, conn.get_server_host_key()
        )
    return DeviceSession(
        device, conn, interactive=interactive, pagination=pagination, prompt=prompt
    )


def _host_key_source(
    host: str, access: SshAccess, options: ClientOptions
) -> tuple[Path | None, bool]:
    """(known_hosts file to check against or None, whether to record the key after connecting)."""
    if access.host_key_policy == "strict":
        return Path(access.known_hosts) if access.known_hosts else options.known_hosts, False
    if known_host_entries(options.tofu_known_hosts, host, access.port) > 0:
        return options.tofu_known_hosts, False
    return None, True
