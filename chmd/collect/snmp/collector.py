"""`SnmpCollector`: one poll of one device → `PollResult` (profiles, label cache, rates, deadline).

Steps of a poll, each named in errors: `get system` (identity, uptime, change markers) →
classification and profile choice (cached until sysObjectID/sysDescr change) → per table
`walk labels <table>` (only when the label cache is stale) and `walk <table>`. A failed table
is an error in the result and the poll goes on; a failed `get system` ends the poll (the
device is unreachable or refuses us). The whole poll runs under the device's hard deadline
(`Device.timeout`); an abandoned poll names the step it was in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chmd.collect.fieldtypes import typed_fields
from chmd.collect.metrics import CollectMetrics
from chmd.collect.snmp import ber
from chmd.collect.snmp.ber import OID, VarBind
from chmd.collect.snmp.classify import Classification, classify
from chmd.collect.snmp.client import (
    FastClient,
    SnmpClient,
    SnmpTarget,
)
from chmd.collect.snmp.counters import RateTracker
from chmd.collect.snmp.profiles import Profile, Table, select_profiles
from chmd.collect.snmp.pysnmp_client import PysnmpClient, close_pysnmp_engine, new_pysnmp_engine
from chmd.collect.snmp.tables import (
    Context,
    index_rows,
    scalar_samples,
    table_samples,
    text,
)
from chmd.collect.snmp.transport import TransportStats, UdpEngine
from chmd.collect.snmp.v3client import UsmClient
from chmd.errors import CollectError, ConfigError
from chmd.inventory.schema import Device
from chmd.model import CollectError as StepError
from chmd.model import PollResult, Sample

SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
ENT_PHYSICAL_TABLE = (1, 3, 6, 1, 2, 1, 47, 1, 1, 1)
# ENTITY-MIB entLastChangeTime: moves whenever entPhysicalTable changes (a module swapped), so
# names looked up there (entPhysicalName of CPUs and sensors) are re-read then, not only on TTL
ENT_LAST_CHANGE = (1, 3, 6, 1, 2, 1, 47, 1, 4, 1, 0)


@dataclass
class _Labels:
    values: dict[str, dict[tuple[int, ...], str]]
    fetched_at: float
    marker: object = None
    indexes: set[tuple[int, ...]] = field(default_factory=set)  # data rows when fetched


@dataclass
class DeviceState:
    """What the collector remembers about one device between polls."""

    tracker: RateTracker = field(default_factory=RateTracker)
    identity: tuple[object, object] | None = None
    classification: Classification | None = None
    profiles: list[Profile] = field(default_factory=list)
    labels: dict[str, _Labels] = field(default_factory=dict)
    lookups: dict[OID, _Labels] = field(default_factory=dict)
    last_run: dict[str, float] = field(default_factory=dict)
    fallbacks: dict[str, bool] = field(default_factory=dict)  # table → walk 32-bit columns too
    row_sets: dict[str, frozenset[object]] = field(default_factory=dict)  # table → last rows
    client: SnmpClient | None = None
    target: SnmpTarget | None = None
    counted: dict[str, int] = field(default_factory=dict)  # tracker.stats already in metrics


class SnmpCollector:
    """Polls devices over SNMP with the given profiles. One instance per process/event loop.

    `poll` runs at most once at a time per device (the scheduler guarantees it) and returns
    a PollResult for every outcome; `forget(name)` drops a removed device's state; `aclose`
    runs once after the last poll.
    """

    name = "snmp"

    def __init__(
        self,
        profiles: dict[str, Profile],
        *,
        label_ttl_s: float = 900.0,
        max_in_flight: int = 64,
        monotonic: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        metrics: CollectMetrics | None = None,
    ) -> None:
        self._profiles = profiles
        self._metrics = metrics
        self._label_ttl = label_ttl_s
        self._udp = UdpEngine(max_in_flight=max_in_flight)
        self._pysnmp: Any = None
        self._states: dict[str, DeviceState] = {}
        self._monotonic = monotonic
        self._wall_ns = wall_ns
        tables = [t for p in profiles.values() for t in p.tables]
        markers = {t.labels_changed for t in tables if t.labels_changed}
        if any(
            oid[: len(ENT_PHYSICAL_TABLE)] == ENT_PHYSICAL_TABLE
            for t in tables
            for tag in t.tags
            for oid in tag.lookup or ()
        ):
            markers.add(ENT_LAST_CHANGE)
        self._markers = sorted(markers)

    @property
    def transport_stats(self) -> TransportStats:
        """The UDP engine's counters (v1/v2c and fast-path v3), for self-metrics."""
        return self._udp.stats

    def state(self, name: str) -> DeviceState:
        return self._states.setdefault(name, DeviceState())

    def forget(self, name: str) -> None:
        self._states.pop(name, None)

    def _client(self, device: Device, state: DeviceState) -> SnmpClient:
        target = SnmpTarget.of(device)
        if state.client is None or state.target != target:
            if target.version == "3" and UsmClient.supports(target):
                state.client = UsmClient(target, self._udp)  # the v3 fast path
            elif target.version == "3":  # pysnmp: the reference, for what UsmClient refuses
                if self._pysnmp is None:
                    self._pysnmp = new_pysnmp_engine()
                state.client = PysnmpClient(target, self._pysnmp)
            else:
                state.client = FastClient(target, self._udp)
            state.target = target
        state.client.clock = self._monotonic
        return state.client

    async def poll(self, device: Device) -> PollResult:
        started = self._monotonic()
        state = self.state(device.name)
        samples: list[Sample] = []
        errors: list[StepError] = []
        step = ["setup"]
        read_before = state.client.varbinds_read if state.client else 0
        try:
            async with asyncio.timeout(device.timeout):
                await self._poll(device, state, samples, errors, step)
        except CollectError as exc:
            errors.append(
                StepError(device.name, exc.step or step[0], exc.reason, f"{device.name}: {exc}")
            )
        except TimeoutError:
            errors.append(
                StepError(
                    device.name,
                    step[0],
                    "deadline",
                    f"{device.name}: poll abandoned after {device.timeout:g}s deadline in step"
                    f" {step[0]!r}",
                )
            )
        read = (state.client.varbinds_read if state.client else 0) - read_before
        self._count_withheld(state)
        return PollResult(
            device.name,
            "snmp",
            tuple(samples),
            self._monotonic() - started,
            tuple(errors),
            varbinds=max(0, read),
        )

    async def _poll(
        self,
        device: Device,
        state: DeviceState,
        samples: list[Sample],
        errors: list[StepError],
        step: list[str],
    ) -> None:
        client = self._client(device, state)
        ctx = Context(device.name, device.host, device.tags, self._wall_ns(), self._monotonic())
        step[0] = "get system"
        system = await self._get_system(client)
        uptime = system[SYS_UPTIME][2]
        if state.tracker.observe_uptime(uptime if isinstance(uptime, int) else None, ctx.now):
            state.labels.clear()  # restarted: names and lookups may have moved too
            state.lookups.clear()
        self._classify(device, state, system)
        samples.extend(await self._scalars(client, state, system, ctx))
        for profile in state.profiles:
            for table in profile.tables:
                last = state.last_run.get(table.name)
                if table.every_s and last is not None and ctx.now - last < table.every_s:
                    continue
                try:
                    samples.extend(await self._table(client, state, table, system, ctx, step))
                    state.last_run[table.name] = ctx.now
                except CollectError as exc:
                    message = f"{device.name}: {step[0]}: {exc}"
                    errors.append(StepError(device.name, step[0], exc.reason, message))
                    if exc.reason in ("timeout", "auth"):  # the device went away: stop here
                        return

    async def _get_system(self, client: SnmpClient) -> dict[OID, VarBind]:
        """The system group and the label-change markers, in one GET."""
        oids = [SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME, *self._markers]
        try:
            return {vb[0]: vb for vb in await client.get(oids)}
        except CollectError as exc:
            exc.step = "get system"
            raise

    async def _scalars(
        self, client: SnmpClient, state: DeviceState, system: dict[OID, VarBind], ctx: Context
    ) -> list[Sample]:
        out = []
        for profile in state.profiles:
            for scalars in profile.scalars:
                values = system
                if not all(c.oid in system for c in scalars.fields):
                    values = {vb[0]: vb for vb in await client.get([c.oid for c in scalars.fields])}
                if (sample := scalar_samples(scalars, values, ctx)) is not None:
                    if profile.name == "system":
                        sample = self._with_identity(sample, state)
                    out.append(sample)
        return out

    def _count_withheld(self, state: DeviceState) -> None:
        """Rates withheld this poll (restart, reset, discontinuity, over_speed) → metrics."""
        stats = state.tracker.stats
        if self._metrics is not None:
            for reason, total in stats.items():
                if reason != "wrap":
                    self._metrics.withheld("snmp", reason, total - state.counted.get(reason, 0))
        state.counted = dict(stats)

    def _classify(self, device: Device, state: DeviceState, system: dict[OID, VarBind]) -> None:
        oid_value, descr_value = system[SYS_OBJECT_ID][2], system[SYS_DESCR][2]
        identity = (oid_value, descr_value)
        if state.identity == identity and state.classification is not None:
            return
        sys_object_id = oid_value if isinstance(oid_value, tuple) else None
        descr = text(descr_value) if isinstance(descr_value, bytes) else ""
        state.classification = classify(sys_object_id, descr)
        c = state.classification
        try:
            state.profiles = select_profiles(
                self._profiles, c.vendor, c.os, sys_object_id, device.profiles
            )
        except ConfigError as exc:
            raise CollectError("; ".join(exc.problems), step="select profiles") from exc
        state.identity = identity
        state.labels.clear()

    @staticmethod
    def _with_identity(sample: Sample, state: DeviceState) -> Sample:
        c = state.classification
        fields = dict(sample.fields)
        uptime = fields.get("sysUpTime")
        if isinstance(uptime, int):
            fields["uptime"] = uptime / 100.0
        if c is not None:
            fields.update(vendor=c.vendor, os=c.os, model=c.model, version=c.version)
        return Sample(
            sample.measurement,
            sample.tags,
            typed_fields(sample.measurement, fields),
            sample.time_ns,
        )

    async def _table(
        self,
        client: SnmpClient,
        state: DeviceState,
        table: Table,
        system: dict[OID, VarBind],
        ctx: Context,
        step: list[str],
    ) -> list[Sample]:
        step[0] = f"walk {table.name}"
        columns = table.fields + (table.fallbacks if state.fallbacks.get(table.name) else ())
        timed = [c.oid for c in (*table.fields, *table.fallbacks) if c.kind == "counter"]
        walked = await client.walk([c.oid for c in columns], timed)
        rows, read_at = index_rows(columns, walked, client.row_times)
        if table.fallbacks and not state.fallbacks.get(table.name):
            primaries = [c for c in table.fields if c.fallback]
            if any(c.name not in row for row in rows.values() for c in primaries):
                # some rows lack the HC column: from now on walk the 32-bit ones too (all in one
                # walk, so every counter of a row is read at one time for its rate)
                state.fallbacks[table.name] = True
                columns = table.fields + table.fallbacks
                walked = await client.walk([c.oid for c in columns], timed)
                rows, read_at = index_rows(columns, walked, client.row_times)
        labels = await self._labels(client, state, table, system, set(rows), ctx.now, step)
        step[0] = f"walk {table.name}"
        if state.row_sets.get(table.name) != (current := frozenset(rows)):
            # only rows that were polled before can have baselines to drop: skip the scan
            # of every baseline while the table's rows stay the same (nearly every poll)
            state.row_sets[table.name] = current
            state.tracker.forget_rows(table.name, {(table.name, index) for index in rows})
        return table_samples(table, rows, labels, ctx, state.tracker, read_at)

    async def _labels(
        self,
        client: SnmpClient,
        state: DeviceState,
        table: Table,
        system: dict[OID, VarBind],
        indexes: set[tuple[int, ...]],
        now: float,
        step: list[str],
    ) -> dict[str, dict[tuple[int, ...], str]]:
        """Tag values per tag name and index, from the cache unless stale."""
        marker = system.get(table.labels_changed) if table.labels_changed else None
        cached = state.labels.get(table.name)
        column_tags = [t for t in table.tags if t.oid is not None]
        stale = (
            cached is None
            or now - cached.fetched_at > self._label_ttl
            or (marker is not None and marker != cached.marker)
            or not indexes <= cached.indexes
        )
        if stale and column_tags:
            step[0] = f"walk labels {table.name}"
            walked = await client.walk([t.oid for t in column_tags if t.oid])
            values: dict[str, dict[tuple[int, ...], str]] = {}
            for tag in column_tags:
                assert tag.oid is not None  # noqa: S101 - filtered above
                n = len(tag.oid)
                values[tag.name] = {
                    oid[n:]: text(v)
                    for oid, t, v in walked.get(tag.oid, ())
                    if t not in ber.EXCEPTIONS
                }
            cached = _Labels(values, now, marker, set(indexes))
            state.labels[table.name] = cached
        elif cached is None or stale:
            cached = _Labels({}, now, marker, set(indexes))
            state.labels[table.name] = cached
        out = dict(cached.values)
        for tag in table.tags:
            if not tag.lookup:
                continue
            tables = [
                await self._lookup(client, state, oid, now, step, system) for oid in tag.lookup
            ]
            source = out.get(tag.name, {}) if tag.oid is not None else None
            resolved: dict[tuple[int, ...], str] = {}
            for index in indexes:
                if source is not None:
                    key_text = source.get(index, "")
                    key: tuple[int, ...] | None = (int(key_text),) if key_text.isdigit() else None
                else:
                    key = index[tag.index or 0 : (tag.index or 0) + 1]
                if key is not None:
                    name = next((t[key] for t in tables if t.get(key)), "")
                    if name:
                        resolved[index] = name
            out[tag.name] = resolved
        return out

    async def _lookup(
        self,
        client: SnmpClient,
        state: DeviceState,
        oid: OID,
        now: float,
        step: list[str],
        system: dict[OID, VarBind],
    ) -> dict[tuple[int, ...], str]:
        """A lookup column (index → name), cached until the TTL or, for entPhysicalTable
        columns, until entLastChangeTime moves (an agent without it: the TTL alone)."""
        marker = (
            system.get(ENT_LAST_CHANGE)
            if oid[: len(ENT_PHYSICAL_TABLE)] == ENT_PHYSICAL_TABLE
            else None
        )
        cached = state.lookups.get(oid)
        if (
            cached is None
            or now - cached.fetched_at > self._label_ttl
            or (marker is not None and marker != cached.marker)
        ):
            step[0] = f"walk lookup {ber.format_oid(oid)}"
            walked = await client.walk([oid])
            n = len(oid)
            values = {o[n:]: text(v) for o, t, v in walked[oid] if t not in ber.EXCEPTIONS}
            cached = _Labels({"": values}, now, marker)
            state.lookups[oid] = cached
        return cached.values[""]

    async def aclose(self) -> None:
        for state in self._states.values():
            if state.client is not None:
                await state.client.aclose()
        await self._udp.aclose()  # sockets closed, not merely scheduled to close
        if self._pysnmp is not None:
            close_pysnmp_engine(self._pysnmp)
            self._pysnmp = None
