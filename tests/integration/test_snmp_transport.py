"""The v1/v2c UDP transport against snmpsim: one socket however many first polls race for it,
and every socket really closed when the collector's `aclose` returns."""

from __future__ import annotations

import asyncio
import gc
import os
import warnings
from pathlib import Path
from typing import Any

import pytest
from harness.aio import run_sync

from chmd.collect.snmp.collector import SnmpCollector
from chmd.collect.snmp.profiles import load_profiles
from chmd.inventory.schema import Device

pytestmark = pytest.mark.integration
PROFILES = load_profiles()
CONCURRENT = 24


def udp_sockets() -> set[int]:
    """Inodes of the UDP sockets this process holds open (Linux /proc)."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if link.startswith("socket:["):
            mine.add(int(link[len("socket:[") : -1]))
    udp = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        lines = Path(table).read_text().splitlines()[1:] if Path(table).exists() else []
        udp |= {int(line.split()[9]) for line in lines} & mine
    return udp


def device(agent: Any, n: int) -> Device:
    return Device.model_validate(
        {
            "name": f"sw{n}",
            "host": agent.host,
            "timeout": 60,
            "profiles": ["system"],
            "snmp": {"community": "iosxe_c9300", "port": agent.port, "timeout": 5, "retries": 2},
        }
    )


def test_concurrent_first_polls_share_one_socket(snmpsim: Any) -> None:
    """24 devices polled for the first time at once open exactly one UDP socket, and no
    losing socket is left for the garbage collector (no ResourceWarning)."""
    before = udp_sockets()

    async def polls() -> set[int]:
        collector = SnmpCollector(PROFILES)
        try:
            results = await asyncio.gather(
                *(collector.poll(device(snmpsim, n)) for n in range(CONCURRENT))
            )
            assert [r.errors for r in results] == [()] * CONCURRENT
            assert all(r.samples for r in results)
            return udp_sockets() - before
        finally:
            await collector.aclose()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opened = run_sync(polls())
        gc.collect()
    assert len(opened) == 1
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_aclose_returns_with_the_sockets_closed(snmpsim: Any) -> None:
    """When `aclose` returns the UDP socket is closed already (not merely scheduled to close),
    so an event loop ending right after it leaves no socket behind."""
    before = udp_sockets()

    async def poll_and_close() -> tuple[set[int], set[int]]:
        collector = SnmpCollector(PROFILES)
        result = await collector.poll(device(snmpsim, 0))
        assert result.errors == ()
        during = udp_sockets() - before
        await collector.aclose()
        return during, udp_sockets() - before

    during, after = run_sync(poll_and_close())
    assert len(during) == 1
    assert after == set()
