"""Writes that may create an InfluxDB shard are sent alone.

InfluxDB 1.6.7 loses sight of points when two concurrent writes create the same new shard: both
are acknowledged (204), but the points of one stay invisible to queries until influxd restarts
(they are in its WAL). Measured here: about 1 in 300 runs of two concurrent first writes to a
new retention policy (tests/integration/test_store_rollups.py failed that way).

A shard is created by the first write into its shard group. Shard groups are at least an hour
long and aligned to whole hours (1h, 1d or 7d by default), so chmd tracks, per target, the
hours it has written in this process. A batch with points in an hour not known yet waits until
no other write is in flight and is sent alone; other writes wait while it runs. This costs one
unshared write per target and hour, and nothing otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

HOUR_NS = 3600 * 10**9
_MAX_SPAN_HOURS = 48  # a batch spanning more hours than this is simply sent alone


class ShardGuard:
    """`async with guard.slot(target, lo_ns, hi_ns):` around each write; `written(...)` after
    a write succeeded. `lo_ns`/`hi_ns` are the batch's oldest and newest point times (None:
    unknown, e.g. a record spooled by an older chmd: sent alone)."""

    def __init__(self) -> None:
        self._known: dict[str, set[int]] = {}
        self._inflight = 0
        self._alone = False  # a write that must be alone is in flight
        self._waiting_alone = 0
        self._change: asyncio.Future[None] | None = None  # resolved at the next release

    def needs_alone(self, target: str, lo_ns: int | None, hi_ns: int | None) -> bool:
        if lo_ns is None or hi_ns is None:
            return True
        first, last = lo_ns // HOUR_NS, hi_ns // HOUR_NS
        if last - first > _MAX_SPAN_HOURS:
            return True
        known = self._known.get(target)
        if known is None:
            return True
        return any(hour not in known for hour in range(first, last + 1))

    def written(self, target: str, lo_ns: int | None, hi_ns: int | None) -> None:
        """The hours holding the batch's first and last points now have their shards."""
        if lo_ns is None or hi_ns is None:
            return
        known = self._known.setdefault(target, set())
        known.add(lo_ns // HOUR_NS)
        known.add(hi_ns // HOUR_NS)

    @asynccontextmanager
    async def slot(self, target: str, lo_ns: int | None, hi_ns: int | None) -> AsyncIterator[None]:
        if self.needs_alone(target, lo_ns, hi_ns):
            self._waiting_alone += 1
            try:
                await self._wait_until(lambda: not self._inflight)
            finally:
                self._waiting_alone -= 1
            self._alone = True
            alone = True
        else:
            await self._wait_until(lambda: not self._alone and not self._waiting_alone)
            alone = False
        self._inflight += 1
        try:
            yield
        finally:  # no await here: a cancelled write still releases its slot
            self._inflight -= 1
            if alone:
                self._alone = False
            if self._change is not None:
                change, self._change = self._change, None
                change.set_result(None)

    async def _wait_until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            if self._change is None:
                self._change = asyncio.get_running_loop().create_future()
            await asyncio.wait((self._change,))  # (cancelling the waiter leaves the future)
