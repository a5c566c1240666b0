"""UsmClient (the SNMPv3 fast path) against net-snmp snmpd and snmpsim, with pysnmp as reference."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from harness.aio import run_sync
from harness.snmp import SNMPD_V3_USERS, Snmpd, recordings
from helpers import invoke_cli, poll_once

from chmd.collect.snmp import usm
from chmd.collect.snmp.ber import OID, VarBind
from chmd.collect.snmp.client import SnmpTarget
from chmd.collect.snmp.collector import SnmpCollector
from chmd.collect.snmp.profiles import load_profiles
from chmd.collect.snmp.pysnmp_client import PysnmpClient, close_pysnmp_engine, new_pysnmp_engine
from chmd.collect.snmp.transport import UdpEngine
from chmd.collect.snmp.v3client import UsmClient
from chmd.configtypes import Secret
from chmd.errors import AuthError, CollectError, CollectTimeout
from chmd.inventory.schema import Device

pytestmark = pytest.mark.integration
T = TypeVar("T")
PROFILES = load_profiles()
SYSTEM: OID = (1, 3, 6, 1, 2, 1, 1)
SYS_UPTIME: OID = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME: OID = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SYS_OBJECT_ID: OID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
IF_TABLE: OID = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_X_TABLE: OID = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
# ifDescr, ifType, ifMtu, ifSpeed, ifPhysAddress, ifAdminStatus: static on the agent's host
IF_STATIC = [(*IF_TABLE, column) for column in (2, 3, 4, 5, 6, 7)]
# every (user, auth, priv) the harness's snmpd serves
SNMPD_USERS = [
    ("netmonv3", "SHA", "AES"),
    ("netmonv3s256", "SHA256", "AES"),
    *((name, auth, priv) for name, (auth, priv) in SNMPD_V3_USERS.items()),
]


def target(agent: Any, user: str, auth: str | None, priv: str | None, **changes: Any) -> SnmpTarget:
    settings: dict[str, Any] = {
        "host": agent.host,
        "port": agent.port,
        "version": "3",
        "user": user,
        "auth_protocol": auth,
        "auth_key": Secret("authpass123") if auth else None,
        "priv_protocol": priv,
        "priv_key": Secret("privpass123") if priv else None,
        "timeout_s": 1.0,
        "retries": 1,
    }
    return SnmpTarget(**{**settings, **changes})


def with_usm(t: SnmpTarget, work: Callable[[UsmClient], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = UdpEngine()
        try:
            return await work(UsmClient(t, engine))
        finally:
            await engine.aclose()

    return run_sync(run())


def with_pysnmp(t: SnmpTarget, work: Callable[[PysnmpClient], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = new_pysnmp_engine()
        try:
            return await work(PysnmpClient(t, engine))
        finally:
            close_pysnmp_engine(engine)

    return run_sync(run())


async def read_static(
    client: Any,
) -> tuple[list[VarBind], dict[OID, list[VarBind]], list[VarBind]]:
    """A GET, a GETBULK walk and a GET of several packs (sent back to back) of values that
    do not move while the test runs."""
    got = await client.get([SYS_NAME, SYS_OBJECT_ID])
    walked = await client.walk([SYSTEM, *IF_STATIC])
    walked[SYSTEM] = [vb for vb in walked[SYSTEM] if vb[0] != SYS_UPTIME]
    oids = [vb[0] for column in walked.values() for vb in column]
    assert len(oids) > 2 * client.target.oids_per_get
    return got, walked, await client.get(oids)


@pytest.mark.parametrize(("user", "auth", "priv"), SNMPD_USERS)
def test_usm_client_reads_what_pysnmp_reads_on_snmpd(
    snmpd: Any, user: str, auth: str | None, priv: str | None
) -> None:
    """For every security level and auth/priv protocol snmpd serves, UsmClient's GET and walk
    return exactly PysnmpClient's varbinds."""
    t = target(snmpd, user, auth, priv)
    ours = with_usm(t, read_static)
    reference = with_pysnmp(t, read_static)
    assert ours == reference
    assert ours[0][0][2] == b"ci-snmpd"
    assert ours[1][IF_STATIC[0]]  # interfaces were read


@pytest.mark.parametrize("context", recordings())
def test_usm_client_reads_what_pysnmp_reads_on_snmpsim(snmpsim: Any, context: str) -> None:
    """snmpsim's v3 user with each recording as context: UsmClient walks the system group,
    ifTable and ifXTable to the same varbinds as PysnmpClient."""
    t = target(snmpsim, "netmonv3", "SHA", "AES", context=context, timeout_s=3.0)

    async def walk(client: Any) -> dict[OID, list[VarBind]]:
        return dict(await client.walk([SYSTEM, IF_TABLE, IF_X_TABLE]))

    ours = with_usm(t, walk)
    assert ours == with_pysnmp(t, walk)
    assert ours[SYSTEM]


def test_wrong_auth_key_is_authentication_failure(snmpd: Any) -> None:
    """A wrong auth key gets snmpd's usmStatsWrongDigests report: AuthError, no key in it."""
    t = target(snmpd, "netmonv3", "SHA", "AES", auth_key=Secret("wrong-pass-123"))
    with pytest.raises(AuthError) as caught:
        with_usm(t, lambda c: c.get([SYS_NAME]))
    assert "authentication failed" in str(caught.value)
    assert "wrong digest" in str(caught.value)
    assert "wrong-pass-123" not in str(caught.value)


def test_wrong_priv_key_is_a_clear_error_not_a_timeout(snmpd: Any) -> None:
    """snmpd drops what it cannot decrypt; the unauthenticated probe turns that into an
    AuthError naming the privacy key (not a CollectTimeout)."""
    t = target(snmpd, "netmonv3", "SHA", "AES", priv_key=Secret("wrong-priv-123"))
    with pytest.raises(AuthError, match="privacy key") as caught:
        with_usm(t, lambda c: c.get([SYS_NAME]))
    assert not isinstance(caught.value, CollectTimeout)
    assert "wrong-priv-123" not in str(caught.value)


def test_unknown_user_is_authentication_failure(snmpd: Any) -> None:
    """An unknown user gets usmStatsUnknownUserNames: AuthError naming it."""
    with pytest.raises(AuthError, match="unknown user name"):
        with_usm(target(snmpd, "nobody", "SHA", "AES"), lambda c: c.get([SYS_NAME]))


def test_security_level_above_the_users_is_authentication_failure(snmpd: Any) -> None:
    """authPriv for a user snmpd knows without privacy: usmStatsUnsupportedSecLevels."""
    t = target(snmpd, "v3shanopriv", "SHA", "AES")
    with pytest.raises(AuthError, match="unsupported security level"):
        with_usm(t, lambda c: c.get([SYS_NAME]))


def test_dead_port_is_a_timeout() -> None:
    """No agent at all: CollectTimeout (the probe is not answered either)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = SnmpTarget(
        host="127.0.0.1", port=port, version="3", user="netmonv3", auth_protocol="SHA",
        auth_key=Secret("authpass123"), timeout_s=0.3, retries=0,
    )  # fmt: skip
    with pytest.raises(CollectTimeout):
        with_usm(t, lambda c: c.get([SYS_NAME]))


def v3_device(agent: Any, user: str = "netmonv3", auth: str = "SHA", priv: str = "AES") -> Device:
    return Device.model_validate(
        {
            "name": "v3dev",
            "host": agent.host,
            "timeout": 20,
            "snmp": {
                "version": "3",
                "port": agent.port,
                "user": user,
                "auth_protocol": auth,
                "auth_key": "authpass123",
                "priv_protocol": priv,
                "priv_key": "privpass123",
                "timeout": 2,
                "retries": 1,
            },
        }
    )


def test_collector_polls_v3_through_the_fast_path(snmpd: Any) -> None:
    """The collector picks UsmClient for a v3 device and the poll reads interfaces."""
    collector = SnmpCollector(PROFILES)
    dev = v3_device(snmpd, "v3md5des", "MD5", "DES")
    result = poll_once(collector, dev)
    assert result.errors == ()
    assert isinstance(collector.state(dev.name).client, UsmClient)
    assert any(s.measurement == "interface" for s in result.samples)


class PersistentSnmpd(Snmpd):
    """snmpd that also reads its persistent state on restart (`-C` otherwise skips it), so a
    restart keeps its engine ID and counts engine boots up, as a real device does."""

    def _argv(self) -> list[str]:
        argv = super()._argv()
        persisted = self.base / "persist" / "snmpd.conf"
        if persisted.exists():
            at = argv.index("-c") + 1
            argv[at] = f"{argv[at]},{persisted}"
        return argv


@pytest.mark.parametrize(
    ("agent_class", "same_engine"),
    [(PersistentSnmpd, True), (Snmpd, False)],
    ids=["boots-up", "new-engine-id"],
)
def test_agent_restart_recovers_without_an_error(
    tmp_path: Any, agent_class: type[Snmpd], same_engine: bool
) -> None:
    """snmpd restarts: with its engine ID kept and boots counted up (the agent answers
    usmStatsNotInTimeWindows: resync) or with a new engine ID (usmStatsUnknownEngineIDs:
    rediscovery). Either way the next poll succeeds with no error."""
    agent = agent_class(tmp_path).start()
    try:
        dev = v3_device(agent)
        collector = SnmpCollector(PROFILES)

        async def polls() -> tuple[Any, Any, tuple[bytes, int], tuple[bytes, int]]:
            try:
                first = await collector.poll(dev)
                client = collector.state(dev.name).client
                assert isinstance(client, UsmClient)
                assert client._peer is not None
                before = (client._peer.engine_id, client._peer.boots)
                agent.restart()
                second = await collector.poll(dev)
                after = (client._peer.engine_id, client._peer.boots)
                return first, second, before, after
            finally:
                await collector.aclose()

        first, second, before, after = run_sync(polls())
        assert first.errors == ()
        assert second.errors == ()
        assert second.ok
        if same_engine:
            assert after[0] == before[0]
            assert after[1] > before[1]
        else:
            assert after[0] != before[0]
    finally:
        agent.close()


@pytest.mark.parametrize(("boots", "seconds"), [(0, 3600), (0, -3600), (5, 0)])
def test_clock_out_of_window_resyncs_from_the_report(snmpd: Any, boots: int, seconds: int) -> None:
    """With our estimate of the agent's clock off by an hour (or its boots wrong), snmpd's
    authenticated usmStatsNotInTimeWindows report resyncs it and the request succeeds."""
    t = target(snmpd, "netmonv3", "SHA", "AES")

    async def skewed(client: UsmClient) -> list[VarBind]:
        await client.get([SYS_NAME])  # discovered and in sync
        assert client._peer is not None
        real = (client._peer.boots, client._peer.time)
        client._peer.boots += boots
        client._peer.time = max(0, client._peer.time + seconds)
        client._peer.latest_time = client._peer.time
        got = await client.get([SYS_NAME])
        assert client._peer.boots == real[0]
        return got

    assert with_usm(t, skewed)[0][2] == b"ci-snmpd"


def test_wrong_key_through_the_collector_names_auth_not_timeout(snmpd: Any) -> None:
    """Through the collector a wrong privacy key ends the poll with reason `auth`."""
    dev = v3_device(snmpd)
    snmp = dev.snmp.model_copy(update={"priv_key": Secret("wrong-priv-123")})  # type: ignore[union-attr]
    dev = dev.model_copy(update={"snmp": snmp})
    result = poll_once(SnmpCollector(PROFILES), dev)
    assert [(e.reason, e.step) for e in result.errors] == [("auth", "get system")]


def test_unsupported_target_falls_back_to_pysnmp(snmpd: Any) -> None:
    """A v3 device UsmClient refuses (privacy without authentication) gets PysnmpClient, and
    UsmClient itself refuses it at setup."""
    dev = Device.model_validate(
        {
            "name": "odd",
            "host": snmpd.host,
            "snmp": {"version": "3", "port": snmpd.port, "user": "netmonv3", "priv_protocol": "AES",
                     "priv_key": "privpass123"},
        }
    )  # fmt: skip
    collector = SnmpCollector(PROFILES)

    async def pick() -> Any:
        try:
            return collector._client(dev, collector.state(dev.name))
        finally:
            await collector.aclose()

    assert isinstance(run_sync(pick()), PysnmpClient)
    with pytest.raises(CollectError, match="privacy needs an auth protocol"):
        UsmClient(SnmpTarget.of(dev), UdpEngine())


def test_chmd_poll_with_v3_flags_uses_the_fast_path(
    snmpd: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`chmd poll --snmp-version 3 …` polls snmpd over UsmClient (pysnmp is never built)."""

    def no_pysnmp(*_: Any) -> None:
        raise AssertionError("PysnmpClient used for a v3 target the fast path supports")

    monkeypatch.setattr("chmd.collect.snmp.collector.PysnmpClient", no_pysnmp)
    args = ["poll", "--host", snmpd.host, "--port", str(snmpd.port), "--snmp-version", "3"]
    args += ["--user", "v3sha512aes256", "--auth-protocol", "SHA512", "--auth-key", "env:A"]
    args += ["--priv-protocol", "AES256", "--priv-key", "env:P", "--format", "json"]
    result = invoke_cli(args, env={"A": "authpass123", "P": "privpass123"})
    assert result.exit_code == 0, result.output
    samples = json.loads(result.stdout)
    system = next(s for s in samples if s["measurement"] == "system")
    assert system["fields"]["sysName"] == "ci-snmpd"
    assert "authpass123" not in result.output


def test_pipelined_get_after_a_restart_resyncs(snmpd: Any) -> None:
    """A GET of several packs (sent back to back) with the clock an hour off: the reports
    send the packs again one at a time, which resyncs, and every OID is answered."""
    t = target(snmpd, "netmonv3", "SHA", "AES", oids_per_get=5)

    async def skewed(client: UsmClient) -> list[VarBind]:
        walked = await client.walk([SYSTEM])
        assert client._peer is not None
        client._peer.time += 3600
        client._peer.latest_time = client._peer.time
        got = await client.get([vb[0] for vb in walked[SYSTEM]])
        assert len(got) == len(walked[SYSTEM]) > 10
        return got

    got = with_usm(t, skewed)
    assert (SYS_NAME, 4, b"ci-snmpd") in got


class ForgingRelay:
    """A UDP relay between the client and a real agent that, before each real answer, sends
    a forged copy (last byte flipped: the HMAC no longer verifies). With `only_forged`, the
    real answers are held back and only forgeries reach the client."""

    def __init__(self, agent: Any, only_forged: bool = False) -> None:
        self.agent = (agent.host, agent.port)
        self.only_forged = only_forged
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.host, self.port = self.sock.getsockname()
        self.forged = 0
        self._client: tuple[str, int] | None = None

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        self.sock.setblocking(False)
        while True:
            data, peer = await loop.sock_recvfrom(self.sock, 65535)
            if peer == self.agent:
                if self._client is None:
                    continue
                self.sock.sendto(data[:-1] + bytes((data[-1] ^ 0xFF,)), self._client)
                self.forged += 1
                if not self.only_forged or self._discovery(data):
                    self.sock.sendto(data, self._client)
            else:
                self._client = peer
                self.sock.sendto(data, self.agent)

    @staticmethod
    def _discovery(data: bytes) -> bool:
        """An unauthenticated answer (the engine discovery report) passes in every mode."""
        return not usm.parse_message(data).flags & usm.FLAG_AUTH


def with_relay(
    agent: Any, only_forged: bool, work: Callable[[UsmClient, ForgingRelay], Awaitable[T]]
) -> T:
    async def run() -> T:
        relay = ForgingRelay(agent, only_forged)
        server = asyncio.create_task(relay.serve())
        engine = UdpEngine()
        try:
            return await work(UsmClient(target(relay, "netmonv3", "SHA", "AES"), engine), relay)
        finally:
            await engine.aclose()
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server
            relay.sock.close()

    return run_sync(run())


def test_forged_answers_are_discarded_and_the_real_one_is_read(snmpd: Any) -> None:
    """An answer whose HMAC fails (here: one forged before every real answer) is dropped and
    counted; the poll reads the authentic answer that follows, as if no forger were there."""

    async def work(client: UsmClient, relay: ForgingRelay) -> tuple[Any, int, int]:
        got = await client.walk([SYSTEM])
        return got, relay.forged, client._engine.stats.discarded

    got, forged, discarded = with_relay(snmpd, False, work)
    expected = with_pysnmp(target(snmpd, "netmonv3", "SHA", "AES"), lambda c: c.walk([SYSTEM]))
    assert [vb[0] for vb in got[SYSTEM]] == [vb[0] for vb in expected[SYSTEM]]
    assert forged > 0
    assert discarded >= forged - 1  # every forged answer but the discovery report's twin


def test_only_forged_answers_fail_as_authentication_not_timeout(snmpd: Any) -> None:
    """When every answer fails its HMAC, the request ends after its tries with the reason
    (authentication failed: HMAC), not a bare timeout."""

    async def work(client: UsmClient, relay: ForgingRelay) -> None:
        await client.get([SYS_NAME])

    with pytest.raises(AuthError, match="HMAC"):
        with_relay(snmpd, True, work)
