"""The harness's OpenSSH fake Cisco device answers like IOS, from the recorded outputs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncssh
import pytest
from harness.sshd import Sshd


def connect(sshd: Sshd, *, key: bool = True) -> asyncssh.SSHClientConnection:
    """An asyncssh connection as netops, by key or by password, checking the host key."""
    auth: dict[str, object] = (
        {"client_keys": [str(sshd.client_key)]}
        if key
        else {"password": sshd.password, "client_keys": None}
    )
    return asyncssh.connect(  # type: ignore[return-value]
        sshd.host,
        sshd.port,
        username=sshd.user,
        known_hosts=str(sshd.known_hosts),
        agent_path=None,
        connect_timeout=30,
        **auth,
    )


@pytest.mark.parametrize("key", [True, False], ids=["key", "password"])
async def test_exec_show_version(sshd: Sshd, key: bool) -> None:
    """`show version` over an exec channel returns the recorded output with exit status 0."""
    async with connect(sshd, key=key) as conn:
        result = await conn.run("show version", check=False)
    assert result.exit_status == 0
    assert result.stdout == sshd.outputs["show version"].read_text()
    assert "Cisco IOS XE Software, Version 16.12.04" in str(result.stdout)


async def test_abbreviated_command(sshd: Sshd) -> None:
    """`sh ip int br` is answered like `show ip interface brief`."""
    async with connect(sshd) as conn:
        result = await conn.run("sh ip int br", check=False)
    assert result.exit_status == 0
    assert result.stdout == sshd.outputs["show ip interface brief"].read_text()


async def test_unknown_command_is_invalid_input(sshd: Sshd) -> None:
    """An unknown command gets IOS's caret message and exit status 1."""
    async with connect(sshd) as conn:
        result = await conn.run("show bogus", check=False)
    assert result.exit_status == 1
    caret = " " * (len(sshd.hostname) + 1 + len("show ")) + "^"
    assert result.stdout == f"{caret}\n% Invalid input detected at '^' marker.\n"


async def test_interactive_shell_with_prompt(sshd: Sshd) -> None:
    """A pty shell shows `HOST#`, takes `terminal length 0`, answers `sh ver`, and exits."""
    prompt = f"{sshd.hostname}#"
    async with connect(sshd) as conn:
        proc = await conn.create_process(term_type="vt100", term_size=(511, 24))
        banner = await asyncio.wait_for(proc.stdout.readuntil(prompt), 30)
        proc.stdin.write("terminal length 0\n")
        await asyncio.wait_for(proc.stdout.readuntil(prompt), 30)
        proc.stdin.write("sh ver\n")
        output = await asyncio.wait_for(proc.stdout.readuntil(prompt), 30)
        proc.stdin.write("exit\n")
        await asyncio.wait_for(proc.wait_closed(), 30)
    assert banner.endswith(prompt)
    assert "Switch-Hostname uptime is 7 weeks, 17 hours, 14 minutes" in output
    assert "\r\n" in output  # a terminal gets CRLF line ends, as from a real device


@pytest.mark.parametrize(
    ("command", "status", "stdout"),
    [
        ("terminal length 0", 0, ""),
        ("term width 511", 0, ""),
        ("sh in", 1, '% Ambiguous command:  "sh in"\n'),
        ("show", 1, "% Incomplete command.\n"),
    ],
)
async def test_exec_builtins_and_errors(sshd: Sshd, command: str, status: int, stdout: str) -> None:
    """Terminal settings are silent successes; ambiguous and incomplete commands fail like IOS."""
    async with connect(sshd) as conn:
        result = await conn.run(command, check=False)
    assert (result.exit_status, result.stdout) == (status, stdout)


async def test_nxos_device_from_factory(sshd_factory: Callable[..., Sshd]) -> None:
    """A cisco_nxos fake device answers `show version` from an NX-OS recording, prompt `HOST#`."""
    device = sshd_factory("cisco_nxos")
    async with connect(device) as conn:
        result = await conn.run("sh ver", check=False)
    assert result.exit_status == 0
    assert result.stdout == device.outputs["show version"].read_text()
    assert device.hostname == "N9K1"
