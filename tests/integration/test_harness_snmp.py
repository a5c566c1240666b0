"""The harness's SNMP agents answer real SNMP: snmpsim with the recordings, net-snmp snmpd."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from harness.snmp import LIVE_RATES, SNMPREC_DIR, Snmpd, SnmpSim, write_data_dir
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    get_cmd,
    usmAesCfb128Protocol,
    usmHMACSHAAuthProtocol,
)

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_IN_OCTETS_1 = "1.3.6.1.2.1.2.2.1.10.1"
IF_HC_IN_OCTETS_2 = "1.3.6.1.2.1.31.1.1.1.6.2"


def recorded(name: str, oid: str) -> str:
    """The value a recording holds for `oid`."""
    for line in (SNMPREC_DIR / f"{name}.snmprec").read_text().splitlines():
        if line.startswith(oid + "|"):
            _, tag, value = line.split("|", 2)
            return bytes.fromhex(value).decode() if tag.endswith("x") else value
    raise KeyError(oid)


async def get(
    host: str, port: int, auth: CommunityData | UsmUserData, *oids: str, context: str = ""
) -> list[object]:
    """Values of one SNMP GET (fails the test on any error)."""
    engine = SnmpEngine()
    try:
        target = await UdpTransportTarget.create((host, port), timeout=3, retries=3)
        err_ind, err_stat, _, varbinds = await get_cmd(
            engine,
            auth,
            target,
            ContextData(contextName=context),
            *(ObjectType(ObjectIdentity(oid)) for oid in oids),
        )
    finally:
        engine.close_dispatcher()
    assert not err_ind, err_ind
    assert not int(err_stat), err_stat
    return [value for _, value in varbinds]


V3 = UsmUserData(
    "netmonv3",
    "authpass123",
    "privpass123",
    authProtocol=usmHMACSHAAuthProtocol,
    privProtocol=usmAesCfb128Protocol,
)


async def test_snmpsim_serves_recorded_sysdescr(snmpsim: SnmpSim) -> None:
    """A v2c GET of sysDescr with community iosxe_c9300 returns the recorded Catalyst 9300 text."""
    (descr,) = await get(snmpsim.host, snmpsim.port, CommunityData("iosxe_c9300"), SYS_DESCR)
    assert str(descr) == recorded("iosxe_c9300", SYS_DESCR)
    assert "CAT9K_IOSXE" in str(descr)


async def test_snmpsim_v3_context_selects_recording(snmpsim: SnmpSim) -> None:
    """An SNMPv3 authPriv GET with context iosxe_isr4321 reads that recording's sysDescr."""
    (descr,) = await get(snmpsim.host, snmpsim.port, V3, SYS_DESCR, context="iosxe_isr4321")
    assert str(descr) == recorded("iosxe_isr4321", SYS_DESCR)


async def test_snmpsim_live_counters_advance_at_documented_rates(snmpsim: SnmpSim) -> None:
    """On `<name>-live`, ifInOctets, ifHCInOctets and sysUpTime grow at LIVE_RATES (within 1 %)."""
    auth = CommunityData("iosxe_c9300-live")
    oids = (IF_IN_OCTETS_1, IF_HC_IN_OCTETS_2, SYS_UPTIME)
    t0 = time.monotonic()
    first = [int(v) for v in await get(snmpsim.host, snmpsim.port, auth, *oids)]  # type: ignore[call-overload]
    await asyncio.sleep(2.0)
    second = [int(v) for v in await get(snmpsim.host, snmpsim.port, auth, *oids)]  # type: ignore[call-overload]
    elapsed = time.monotonic() - t0
    deltas = dict(
        zip(
            ("ifInOctets", "ifHCInOctets", "sysUpTime"),
            (b - a for a, b in zip(first, second, strict=True)),
            strict=True,
        )
    )
    for name, delta in deltas.items():
        # GETs take time too: the rate lies between delta/elapsed and delta/(2 s)
        assert delta / elapsed * 0.99 <= LIVE_RATES[name] <= delta / 2.0 * 1.01, (name, delta)


async def test_snmpsim_static_counters_stay_recorded(snmpsim: SnmpSim) -> None:
    """The static copy returns exactly the recorded Counter32 value."""
    (value,) = await get(snmpsim.host, snmpsim.port, CommunityData("iosxe_c9300"), IF_IN_OCTETS_1)
    assert int(value) == int(recorded("iosxe_c9300", IF_IN_OCTETS_1))  # type: ignore[call-overload]


async def test_snmpsim_restart_resets_live_uptime(
    snmpsim_factory: Callable[..., SnmpSim], tmp_path: Path
) -> None:
    """A restarted private snmpsim answers on the same port, its live sysUpTime started over."""
    data = write_data_dir(tmp_path / "data", ["iosxe_c9300"])
    sim = snmpsim_factory(data_dir=data)
    auth = CommunityData("iosxe_c9300-live")
    recorded_ticks = int(recorded("iosxe_c9300", SYS_UPTIME))
    await asyncio.sleep(1.5)
    port = sim.port
    restarted_at = time.monotonic()
    sim.restart()
    (after,) = await get(sim.host, sim.port, auth, SYS_UPTIME)
    since_restart_s = time.monotonic() - restarted_at
    assert sim.port == port
    # the new process counts from the recording again: at most the time since the restart
    assert 0 <= (int(after) - recorded_ticks) / 100 <= since_restart_s * 1.01  # type: ignore[call-overload]


async def test_snmpd_v3_authpriv_get(snmpd: Snmpd) -> None:
    """pysnmp's SNMPv3 authPriv (SHA/AES) GET of sysName from snmpd returns `ci-snmpd`."""
    (name,) = await get(snmpd.host, snmpd.port, V3, SYS_NAME)
    assert str(name) == "ci-snmpd"


@pytest.mark.parametrize(("user", "auth_proto"), [("netmonv3", "SHA"), ("netmonv3s256", "SHA-256")])
def test_snmpd_v3_authpriv_with_net_snmp(snmpd: Snmpd, user: str, auth_proto: str) -> None:
    """net-snmp's snmpget authenticates as each v3 user (SHA and SHA-256, AES privacy)."""
    out = subprocess.run(
        [
            "snmpget",
            "-m",
            "",
            "-On",
            "-v3",
            "-l",
            "authPriv",
            "-u",
            user,
            "-a",
            auth_proto,
            "-A",
            "authpass123",
            "-x",
            "AES",
            "-X",
            "privpass123",
            "-t",
            "3",
            "-r",
            "3",
            f"{snmpd.host}:{snmpd.port}",
            SYS_NAME,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert out.strip() == '.1.3.6.1.2.1.1.5.0 = STRING: "ci-snmpd"'


async def test_snmpsim_live_counter32_wraps_modulo_2_pow_32(
    snmpsim_factory: Callable[..., SnmpSim], tmp_path: Path
) -> None:
    """With wrap_after_s=8, the live ifInOctets wraps past 2**32 once and keeps its rate."""
    data = write_data_dir(tmp_path / "data", ["iosxe_c9300"], wrap_after_s=8)
    sim = snmpsim_factory(data_dir=data)
    auth = CommunityData("iosxe_c9300-live")

    async def read() -> tuple[float, float, int]:
        started = time.monotonic()
        (value,) = await get(sim.host, sim.port, auth, IF_IN_OCTETS_1)
        return started, time.monotonic(), int(value)  # type: ignore[call-overload]

    prev = await read()
    assert prev[2] > 2**32 // 2, "the agent started too slowly to see its first wrap"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = await read()
        if now[2] < prev[2]:  # wrapped between these two reads
            seconds = ((now[2] - prev[2]) % 2**32) / LIVE_RATES["ifInOctets"]
            # the agent read its clock during each GET: between one's start and its end
            assert (now[0] - prev[1]) * 0.99 <= seconds <= (now[1] - prev[0]) * 1.01
            return
        prev = now
    raise AssertionError("no Counter32 wrap within 60 s")
