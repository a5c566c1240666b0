"""SshCollector against an in-test asyncssh server that answers from the real recordings.

The server (a real SSH server on 127.0.0.1, ephemeral port) plays a Cisco IOS device whose
answers are tests/fixtures/cli/cisco_ios recordings, and misbehaves on demand: output that
hangs past the command deadline, a connection dropped mid-output, `% Invalid input`,
garbage output, a wrong password or key, a changed host key.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from prometheus_client import CollectorRegistry

from chmd.collect.metrics import CollectMetrics
from chmd.collect.ssh.client import record_host_key
from chmd.collect.ssh.collector import SshCollector
from chmd.collect.ssh.metrics import SshMetrics
from chmd.collect.ssh.settings import SshCollectorSettings
from chmd.inventory.schema import Device
from chmd.model import PollResult

pytestmark = pytest.mark.integration

CLI = Path(__file__).resolve().parents[1] / "fixtures" / "cli" / "cisco_ios"
RECORDED = {
    "show version": "show_version/cisco_ios_show_version.raw",
    "show processes cpu": "show_processes_cpu/cisco_ios_show_processes_cpu.raw",
    "show processes memory sorted": (
        "show_processes_memory_sorted/cisco_ios_show_processes_memory_sorted.raw"
    ),
    "show environment temperature": (
        "show_environment_temperature/cisco_ios_show_environment_temperature.raw"
    ),
    "show environment power all": (
        "show_environment_power_all/cisco_ios_show_environment_power_all.raw"
    ),
    "show interfaces": "show_interfaces/cisco_ios_show_interfaces.raw",
    "show ip interface brief": "show_ip_interface_brief/cisco_ios_show_ip_interface_brief.raw",
    "show inventory": "show_inventory/cisco_ios_show_inventory.raw",
    "show logging": "show_logging/cisco_ios_show_logging_1.raw",
}
INVALID = "            ^\n% Invalid input detected at '^' marker.\n"
USER, PASSWORD = "netops", "netops123"


class FakeCisco:
    """A real asyncssh server answering like an IOS device; `faults` maps command → misbehaviour."""

    def __init__(self) -> None:
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.outputs = {cmd: (CLI / rel).read_text() for cmd, rel in RECORDED.items()}
        self.faults: dict[str, str] = {}  # command → "hang" | "drop" | "invalid" | "garbage"
        self.connections = 0
        self.auth_attempts = 0
        self.received: list[str] = []
        self.active = 0  # exec channels open right now, and the most ever open at once
        self.max_active = 0
        self.hanging = asyncio.Event()  # set once a "hang" command has sent its partial output
        self.port = 0
        self._server: Any = None

    def answer(self, command: str) -> str:
        self.received.append(command)
        fault = self.faults.get(command)
        if fault == "invalid" or (command not in self.outputs and not command.startswith("term")):
            return INVALID
        if fault == "garbage":
            return "\x00\x01 this is not what the template expects\n"
        return self.outputs.get(command, "")

    async def _handle(self, process: asyncssh.SSHServerProcess[str]) -> None:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await self._serve(process)
        finally:
            self.active -= 1

    async def _serve(self, process: asyncssh.SSHServerProcess[str]) -> None:
        if process.command is not None:
            if self.faults.get(process.command) == "slow":
                await asyncio.sleep(0.2)
            fault = self.faults.get(process.command)
            if fault in ("hang", "drop"):
                self.received.append(process.command)
                process.stdout.write(self.outputs[process.command][:200])
                if fault == "drop":
                    await asyncio.sleep(0.05)
                    process.channel.get_connection().abort()
                    return
                self.hanging.set()
                await asyncio.sleep(3600)
            out = self.answer(process.command)
            process.stdout.write(out)
            process.exit(1 if out == INVALID else 0)
            return
        process.stdout.write("\r\nr1#")
        while True:
            line = await process.stdin.readline()
            if not line:
                break
            command = line.strip()
            if process.get_terminal_type():
                process.stdout.write(command + "\r\n")
            if command in ("exit", "quit"):
                break
            if self.faults.get(command) == "drop":
                process.stdout.write(self.outputs[command][:200])
                await asyncio.sleep(0.05)
                process.channel.get_connection().abort()
                return
            if command:
                process.stdout.write(self.answer(command).replace("\n", "\r\n"))
            process.stdout.write("r1#")
        process.exit(0)

    async def start(self, port: int = 0) -> None:
        fake = self

        class _Server(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                fake.connections += 1

            def begin_auth(self, username: str) -> bool:
                fake.auth_attempts += 1
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return username == USER and password == PASSWORD

            def public_key_auth_supported(self) -> bool:
                return True

            def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                wanted = fake.client_key.export_public_key()
                return username == USER and key.export_public_key() == wanted

        self._server = await asyncssh.create_server(
            _Server,
            "127.0.0.1",
            port,
            server_host_keys=[self.host_key],
            process_factory=self._handle,
            line_editor=False,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def fake() -> AsyncIterator[FakeCisco]:
    server = FakeCisco()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def known_hosts(tmp_path: Path, fake: FakeCisco) -> Path:
    path = tmp_path / "known_hosts"
    record_host_key(path, "127.0.0.1", fake.port, fake.host_key)
    return path


def _trusting(path: Path, *servers: FakeCisco) -> Path:
    for server in servers:
        record_host_key(path, "127.0.0.1", server.port, server.host_key)
    return path


def device(fake: FakeCisco, known_hosts: Path | None, **ssh: Any) -> Device:
    access: dict[str, Any] = {
        "port": fake.port,
        "user": USER,
        "password": PASSWORD,
        "known_hosts": str(known_hosts) if known_hosts else None,
        "command_timeout": "10s",
        "connect_timeout": "5s",
    }
    access.update(ssh)
    return Device.model_validate({"name": "r1", "host": "127.0.0.1", "ssh": access})


@pytest.fixture
async def collector(tmp_path: Path) -> AsyncIterator[SshCollector]:
    registry = CollectorRegistry()
    coll = SshCollector(
        SshCollectorSettings(), state_dir=tmp_path / "state", metrics=SshMetrics(registry)
    )
    coll.registry = registry  # type: ignore[attr-defined]  # for the metric assertions
    yield coll
    await coll.aclose()


def reasons(result: PollResult) -> dict[str, str]:
    return {e.step: e.reason for e in result.errors}


async def test_poll_reads_every_builtin_command(
    fake: FakeCisco, known_hosts: Path, collector: SshCollector
) -> None:
    """One poll runs every enabled IOS command and turns the recorded answers into samples."""
    result = await collector.poll(device(fake, known_hosts))
    assert result.errors == ()
    measurements = {s.measurement for s in result.samples}
    assert measurements == {"system", "cpu", "memory", "sensor", "interface", "ip_interface",
                            "inventory"}  # fmt: skip
    (system,) = [s for s in result.samples if s.measurement == "system"]
    assert system.fields["version"] == "12.2(54)SG1"
    assert system.tags["collector"] == "ssh"
    assert result.collector == "ssh"


async def test_connection_is_reused(
    fake: FakeCisco, known_hosts: Path, collector: SshCollector
) -> None:
    """Two polls of a device use one SSH connection (a channel per command)."""
    dev = device(fake, known_hosts)
    await collector.poll(dev)
    await collector.poll(dev)
    assert fake.connections == 1


async def test_key_login(fake: FakeCisco, known_hosts: Path, collector: SshCollector,
                         tmp_path: Path) -> None:  # fmt: skip
    """A device with a key file and no password logs in with the key."""
    key_file = tmp_path / "id_ed25519"
    key_file.write_bytes(fake.client_key.export_private_key())
    result = await collector.poll(device(fake, known_hosts, password=None, key_file=str(key_file)))
    assert result.errors == ()
    assert result.samples


async def test_output_hanging_past_deadline(
    fake: FakeCisco, known_hosts: Path, collector: SshCollector
) -> None:
    """Output that stops mid-way fails that command with reason `timeout`, naming the device."""
    fake.faults["show processes cpu"] = "hang"
    result = await collector.poll(device(fake, known_hosts, command_timeout="2s"))
    assert reasons(result) == {"show processes cpu": "timeout"}
    assert "r1" in result.errors[0].message
    assert any(s.measurement == "system" for s in result.samples)  # ran before the hang


async def test_hung_device_does_not_stop_others(
    fake: FakeCisco, known_hosts: Path, collector: SshCollector
) -> None:
    """While one device hangs past its deadline, another device is polled normally."""
    fake.faults["show version"] = "hang"
    other = FakeCisco()
    await other.start()
    try:
        hosts = _trusting(known_hosts.parent / "both", fake, other)
        hung = device(fake, hosts, command_timeout="2s")
        fine = device(other, hosts).model_copy(update={"name": "r2"})
        bad, good = await asyncio.gather(collector.poll(hung), collector.poll(fine))
    finally:
        await other.stop()
    assert reasons(bad) == {"show version": "timeout"}
    assert good.errors == ()
    assert good.samples


async def test_connection_dropped_mid_output(
    fake: FakeCisco, known_hosts: Path, collector: SshCollector
) -> None:
    """A connection dropped mid-output is reason `disconnected`; the next poll reconnects."""
    fake.faults["show interfaces"] = "drop"
    dev = device(fake, known_hosts)
    first = await collector.poll(dev)
    assert reasons(first) == {"show interfaces": "disconnected"}
    del fake.faults["show interfaces"]
    second = await collector.poll(dev)
    assert second.errors == ()
    assert fake.connections == 2


@pytest.mark.parametrize("login", [{"password": "wrong"}, {"password": None, "key_file": "X"}])
async def test_login_rejected(
    fake: FakeCisco, known_hosts: Path, collector: SshCollector, tmp_path: Path,
    login: dict[str, Any],
) -> None:  # fmt: skip
    """A wrong password or a key the server does not know fails the poll with reason `auth`."""
    if login.get("key_file"):
        key_file = tmp_path / "other_key"
        key_file.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
        login = {**login, "key_file": str(key_file)}
    result = await collector.poll(device(fake, known_hosts, **login))
    assert reasons(result) == {"connect": "auth"}
    assert "r1" in result.errors[0].message
    assert "wrong" not in result.errors[0].message
    assert result.samples == ()


async def test_changed_host_key_is_refused(
    fake: FakeCisco, tmp_path: Path, collector: SshCollector
) -> None:
    """A host key that differs from known_hosts is refused before any login is attempted."""
    path = tmp_path / "known_hosts"
    record_host_key(path, "127.0.0.1", fake.port, asyncssh.generate_private_key("ssh-ed25519"))
    result = await collector.poll(device(fake, path))
    assert reasons(result) == {"connect": "host_key"}
    assert "CHANGED" in result.errors[0].message
    assert fake.auth_attempts == 0


async def test_unknown_host_is_refused(
    fake: FakeCisco, tmp_path: Path, collector: SshCollector
) -> None:
    """Strict checking refuses a host missing from known_hosts, saying it is unknown."""
    path = tmp_path / "known_hosts"
    path.write_text("")
    result = await collector.poll(device(fake, path))
    assert reasons(result) == {"connect": "host_key"}
    assert "unknown" in result.errors[0].message
    assert fake.auth_attempts == 0


async def test_tofu_records_first_key_then_holds_to_it(fake: FakeCisco, tmp_path: Path) -> None:
    """Trust-on-first-use records the first key in the state dir and refuses a later change."""
    state = tmp_path / "state"
    first = SshCollector(state_dir=state)
    result = await first.poll(device(fake, None, host_key_policy="tofu"))
    await first.aclose()
    assert result.errors == ()
    recorded = (state / "ssh_known_hosts.tofu").read_text()
    assert fake.host_key.export_public_key().decode().split()[1] in recorded

    impostor = FakeCisco()
    await impostor.start()
    try:
        record = (state / "ssh_known_hosts.tofu").read_text()
        (state / "ssh_known_hosts.tofu").write_text(
            record.replace(f"[127.0.0.1]:{fake.port}", f"[127.0.0.1]:{impostor.port}")
        )
        second = SshCollector(state_dir=state)
        refused = await second.poll(device(impostor, None, host_key_policy="tofu"))
        await second.aclose()
    finally:
        await impostor.stop()
    assert reasons(refused) == {"connect": "host_key"}
    assert impostor.auth_attempts == 0


async def test_unsupported_command_does_not_stop_the_rest(
    fake: FakeCisco, known_hosts: Path, collector: SshCollector
) -> None:
    """`% Invalid input` fails only that command (reason `unsupported`); the others still run."""
    fake.faults["show environment power all"] = "invalid"
    result = await collector.poll(device(fake, known_hosts))
    assert reasons(result) == {"show environment power all": "unsupported"}
    assert {"system", "interface", "memory"} <= {s.measurement for s in result.samples}


async def test_unparsable_output(
    fake: FakeCisco, known_hosts: Path, collector: SshCollector
) -> None:
    """Output the template cannot read fails that command with reason `parse`."""
    fake.faults["show processes memory sorted"] = "garbage"
    result = await collector.poll(device(fake, known_hosts))
    assert reasons(result) == {"show processes memory sorted": "parse"}
    assert "memory" not in {s.measurement for s in result.samples}


async def test_errors_are_counted_by_reason(
    fake: FakeCisco, known_hosts: Path, collector: SshCollector
) -> None:
    """Failures are counted by reason in the shared collect metrics (collector=ssh), and
    commands by outcome in chmd_ssh_commands_total."""
    fake.faults["show inventory"] = "invalid"
    fake.faults["show processes memory sorted"] = "garbage"
    result = await collector.poll(device(fake, known_hosts))
    shared = CollectorRegistry()
    CollectMetrics(shared).observe(result, now_s=0.0)
    for reason in ("unsupported", "parse"):
        labels = {"collector": "ssh", "reason": reason}
        assert shared.get_sample_value("chmd_collect_step_errors_total", labels) == 1.0
    registry: CollectorRegistry = collector.registry  # type: ignore[attr-defined]
    errors = {"device": "r1", "outcome": "error"}
    assert registry.get_sample_value("chmd_ssh_commands_total", errors) == 2.0


async def test_only_new_log_entries_become_samples(
    fake: FakeCisco, known_hosts: Path, collector: SshCollector
) -> None:
    """`show logging`: the first poll is the baseline; the next yields only the new entry."""
    dev = device(fake, known_hosts)
    first = await collector.poll(dev)
    assert not [s for s in first.samples if s.measurement == "syslog"]
    new = "022704: Jun 19 03:05:00: %SYS-5-CONFIG_I: Configured from console by netops on vty0\n"
    fake.outputs["show logging"] += new
    second = await collector.poll(dev)
    logs = [s for s in second.samples if s.measurement == "syslog"]
    assert [s.fields["message"] for s in logs] == ["Configured from console by netops on vty0"]
    assert logs[0].tags["facility"] == "SYS"
    assert logs[0].tags["severity"] == "notice"


async def test_interactive_session_disables_paging_first(
    fake: FakeCisco, known_hosts: Path, tmp_path: Path
) -> None:
    """An `interactive` command set sends `terminal length 0` before its commands."""
    own = tmp_path / "ios_interactive.yaml"
    own.write_text(
        "platform: cisco_ios\nntc_platform: cisco_ios\nsession: interactive\n"
        "commands:\n  - command: show version\n    samples:\n"
        "      - measurement: system\n        fields: {version: version}\n"
    )
    coll = SshCollector(
        SshCollectorSettings(command_sets={"cisco_ios": str(own)}), state_dir=tmp_path
    )
    try:
        result = await coll.poll(device(fake, known_hosts))
    finally:
        await coll.aclose()
    assert result.errors == ()
    assert fake.received[:2] == ["terminal length 0", "show version"]
    assert [s.fields for s in result.samples] == [{"version": "12.2(54)SG1"}]


async def test_poll_deadline_bounds_the_whole_poll(
    fake: FakeCisco, known_hosts: Path, collector: SshCollector
) -> None:
    """The device's `timeout` (3s) bounds the poll: a hang is cut there, not at the
    command's own 30s deadline."""
    fake.faults["show processes cpu"] = "hang"
    dev = device(fake, known_hosts, command_timeout="30s").model_copy(update={"timeout": 3.0})
    result = await collector.poll(dev)
    assert reasons(result) == {"show processes cpu": "timeout"}


async def test_forget_closes_the_connection(
    fake: FakeCisco, known_hosts: Path, collector: SshCollector
) -> None:
    """After `forget`, the next poll of the name opens a new connection."""
    dev = device(fake, known_hosts)
    await collector.poll(dev)
    collector.forget("r1")
    await collector.poll(dev)
    assert fake.connections == 2


async def test_broken_command_set_is_a_config_error(
    fake: FakeCisco, known_hosts: Path, tmp_path: Path
) -> None:
    """A broken own command-set file fails the poll with reason `config`, not an exception."""
    own = tmp_path / "broken.yaml"
    own.write_text("platform: cisco_ios\nntc_platform: cisco_ios\ncommands: [{command: 1}]\n")
    coll = SshCollector(
        SshCollectorSettings(command_sets={"cisco_ios": str(own)}), state_dir=tmp_path
    )
    try:
        result = await coll.poll(device(fake, known_hosts))
    finally:
        await coll.aclose()
    assert reasons(result) == {"command set": "config"}
    assert str(own) in result.errors[0].message


async def test_fleet_limit_caps_devices_polled_at_once(
    fake: FakeCisco, known_hosts: Path, tmp_path: Path
) -> None:
    """With max_sessions 1, two devices polled together never have two commands running."""
    fake.faults["show version"] = "slow"
    coll = SshCollector(SshCollectorSettings(max_sessions=1), state_dir=tmp_path)
    first = device(fake, known_hosts)
    second = first.model_copy(update={"name": "r2"})
    try:
        results = await asyncio.gather(coll.poll(first), coll.poll(second))
    finally:
        await coll.aclose()
    assert [r.errors for r in results] == [(), ()]
    assert fake.connections == 2
    assert fake.max_active == 1


async def test_one_poll_at_a_time_per_device(
    fake: FakeCisco, known_hosts: Path, collector: SshCollector
) -> None:
    """Two overlapping polls of one device run one after the other on its one connection."""
    fake.faults["show version"] = "slow"
    dev = device(fake, known_hosts)
    results = await asyncio.gather(collector.poll(dev), collector.poll(dev))
    assert [r.errors for r in results] == [(), ()]
    assert fake.connections == 1
    assert fake.max_active == 1


async def test_cancelled_poll_drops_the_connection(
    fake: FakeCisco, known_hosts: Path, collector: SshCollector
) -> None:
    """A poll cancelled mid-output (the scheduler's timeout) leaves no half-read session:
    the next poll reconnects and reads cleanly."""
    fake.faults["show processes cpu"] = "hang"
    dev = device(fake, known_hosts, command_timeout="30s")
    poll = asyncio.create_task(collector.poll(dev))
    await asyncio.wait_for(fake.hanging.wait(), timeout=30)
    poll.cancel()
    with pytest.raises(asyncio.CancelledError):
        await poll
    del fake.faults["show processes cpu"]
    result = await collector.poll(dev)
    assert result.errors == ()
    assert fake.connections == 2


async def test_connection_refused(tmp_path: Path, collector: SshCollector) -> None:
    """Nothing listening on the port: reason `refused` at the `connect` step."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    dev = Device.model_validate(
        {"name": "r9", "host": "127.0.0.1",
         "ssh": {"port": port, "user": USER, "password": PASSWORD,
                 "known_hosts": str(tmp_path / "kh")}}
    )  # fmt: skip
    (tmp_path / "kh").write_text("")
    result = await collector.poll(dev)
    assert reasons(result) == {"connect": "refused"}


async def test_interactive_shell_dropped_mid_output(
    fake: FakeCisco, known_hosts: Path, tmp_path: Path
) -> None:
    """In an interactive shell too, a connection dropped mid-output is `disconnected`,
    naming device and command."""
    own = tmp_path / "ios_interactive.yaml"
    own.write_text(
        "platform: cisco_ios\nntc_platform: cisco_ios\nsession: interactive\n"
        "commands:\n  - command: show version\n    samples:\n"
        "      - measurement: system\n        fields: {version: version}\n"
    )
    fake.faults["show version"] = "drop"
    settings = SshCollectorSettings(command_sets={"cisco_ios": str(own)})
    coll = SshCollector(settings, state_dir=tmp_path)
    try:
        result = await coll.poll(device(fake, known_hosts))
    finally:
        await coll.aclose()
    assert reasons(result) == {"show version": "disconnected"}
    assert "r1" in result.errors[0].message
