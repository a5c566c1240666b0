"""Writes that may create an InfluxDB shard go alone (chmd.store.shards; no sockets).

InfluxDB 1.6.7 acknowledges two concurrent writes that create the same new shard, but the
points of one stay invisible until it restarts (seen as a 1-in-300 flake of
tests/integration/test_store_rollups.py). The Writer must therefore never have two writes in
flight when either may create a shard: the first write of a target and hour goes alone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import CollectorRegistry

from chmd.model import Sample
from chmd.store.metrics import StoreMetrics
from chmd.store.settings import StorageSettings
from chmd.store.shards import HOUR_NS, ShardGuard
from chmd.store.spool import Spool, encode_record
from chmd.store.writer import Writer

T0 = 500_000 * HOUR_NS


class RecordingTransport:
    """Holds each write until the test releases it; records how many were in flight."""

    def __init__(self) -> None:
        self.inflight = 0
        self.max_inflight = 0
        self.started: list[bytes] = []
        self.release = asyncio.Event()

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def write(self, target: str, body: bytes) -> None:
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        self.started.append(body)
        try:
            await self.release.wait()
        finally:
            self.inflight -= 1


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_first_writes_of_an_hour_are_never_concurrent() -> None:
    """Two batches into an hour not written yet go one after the other; once the hour is
    known, batches into it go together."""
    guard = ShardGuard()
    transport = RecordingTransport()

    async def write(body: bytes, lo: int, hi: int) -> None:
        async with guard.slot("raw", lo, hi):
            await transport.write("raw", body)
        guard.written("raw", lo, hi)

    first = [asyncio.create_task(write(b"a%d" % i, T0, T0 + 10**9)) for i in range(2)]
    await settle()
    assert len(transport.started) == 1  # the second waits for the first
    transport.release.set()
    await asyncio.gather(*first)
    assert transport.max_inflight == 1
    transport.release.clear()
    later = [
        asyncio.create_task(write(b"b%d" % i, T0 + 5 * 10**9, T0 + 6 * 10**9)) for i in range(3)
    ]
    await settle()
    assert transport.inflight == 3  # a known hour: no need to wait
    transport.release.set()
    await asyncio.gather(*later)


async def test_a_new_hour_waits_for_writes_in_flight_and_holds_the_others() -> None:
    """A batch reaching into a new hour waits until nothing else is in flight, and writes that
    come after it wait until it is done."""
    guard = ShardGuard()
    guard.written("raw", T0, T0)
    order: list[str] = []
    gates = {name: asyncio.Event() for name in ("old", "new", "next")}

    async def write(name: str, lo: int, hi: int) -> None:
        async with guard.slot("raw", lo, hi):
            order.append(f"start {name}")
            await gates[name].wait()
            order.append(f"end {name}")
        guard.written("raw", lo, hi)

    old = asyncio.create_task(write("old", T0, T0))
    await settle()
    new = asyncio.create_task(write("new", T0, T0 + HOUR_NS))  # reaches into the next hour
    await settle()
    later = asyncio.create_task(write("next", T0, T0))  # a known hour, but queued behind it
    await settle()
    assert order == ["start old"]
    gates["old"].set()
    await settle()
    assert order == ["start old", "end old", "start new"]
    gates["new"].set()
    gates["next"].set()
    await asyncio.gather(old, new, later)
    assert order[-2:] == ["start next", "end next"]


async def test_writer_sends_first_batches_of_a_new_target_one_at_a_time(tmp_path: Path) -> None:
    """The Writer's replay of two spooled batches into a fresh retention policy sends them one
    after the other (the InfluxDB 1.6.7 flake's situation), although max_in_flight is 2."""
    settings = StorageSettings.model_validate(
        {
            "spool_dir": str(tmp_path),
            "batch_size": 2,
            "max_in_flight": 2,
            "retention": {"rollups": [], "ensure": False},
        }
    )
    writer = Writer(settings, StoreMetrics(CollectorRegistry()))
    transport = RecordingTransport()
    writer.transport = transport  # type: ignore[assignment]
    writer.submit([Sample("cpu", {"d": "a"}, {"v": i}, T0 + i) for i in range(4)])
    await writer.start()
    await settle()
    assert len(transport.started) == 1
    transport.release.set()
    for _ in range(50):
        await settle()
        if not writer.spool.has_records():
            break
    assert not writer.spool.has_records()
    assert transport.max_inflight == 1
    await writer.aclose()


def test_spool_keeps_the_time_range_and_reads_records_without_one(tmp_path: Path) -> None:
    """A record's oldest/newest point times come back from the spool; a record written by an
    older chmd (no range) reads back with None, which the guard sends alone."""
    spool = Spool(tmp_path, max_bytes=10**6, segment_bytes=10**5)
    spool.append("raw", 1, 2, b"new", (T0, T0 + 5))
    spool.close()
    legacy = tmp_path / "0000000000000099.seg"
    legacy.write_bytes(encode_record("raw", 2, 1, b"old"))
    again = Spool(tmp_path, max_bytes=10**6, segment_bytes=10**5)
    first = again.peek()
    assert first is not None
    assert (first.body, first.lo_ns, first.hi_ns) == (b"new", T0, T0 + 5)
    second = again.peek(after=first)
    assert second is not None
    assert (second.body, second.lo_ns, second.hi_ns) == (b"old", None, None)
    assert ShardGuard().needs_alone("raw", second.lo_ns, second.hi_ns)
    again.close()
