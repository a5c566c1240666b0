"""chmd's own small SNMP interface: `get(oids)` and `walk(prefixes)` → decoded varbinds.

Three implementations sit behind it:

* `FastClient` — v1/v2c over `transport.UdpEngine` with the `ber` codec (the hot path);
* `v3client.UsmClient` — SNMPv3 (USM, `usm.py`) over the same engine and codec;
* `pysnmp_client.PysnmpClient` — pysnmp 7 (asyncio): the reference the tests compare against,
  and the fallback for a v3 target `UsmClient` does not take.

All share `_Requester`: GETs packed `oids_per_get` to a PDU, and GETBULK multi-column table
walks (GETNEXT on v1) that stop at the end of each column or endOfMibView, refuse
non-increasing OIDs and cap endless tables.
"""

from __future__ import annotations

import asyncio
import operator
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Protocol

from chmd.collect.snmp import ber
from chmd.collect.snmp.ber import OID, VarBind
from chmd.collect.snmp.transport import UdpEngine, is_loopback
from chmd.configtypes import Secret
from chmd.errors import CollectError, ProtocolError
from chmd.inventory.schema import Device

ERROR_STATUS = {
    1: "tooBig",
    2: "noSuchName",
    3: "badValue",
    4: "readOnly",
    5: "genErr",
    6: "noAccess",
    16: "authorizationError",
}
MAX_ROWS = 20_000  # per column: an "endless table" guard


@dataclass(frozen=True, slots=True)
class SnmpTarget:
    """Where and how to ask; built once per device from `Device.snmp`."""

    host: str
    port: int = 161
    version: str = "2c"
    community: Secret | None = None
    user: str | None = None
    auth_protocol: str | None = None
    auth_key: Secret | None = None
    priv_protocol: str | None = None
    priv_key: Secret | None = None
    context: str = ""
    timeout_s: float = 2.0
    retries: int = 1
    max_repetitions: int = 25
    oids_per_get: int = 20

    @classmethod
    def of(cls, device: Device) -> SnmpTarget:
        snmp = device.snmp
        if snmp is None:
            raise CollectError(f"{device.name}: no snmp access configured", step="setup")
        return cls(
            host=device.host,
            port=snmp.port,
            version=snmp.version,
            community=snmp.community,
            user=snmp.user,
            auth_protocol=snmp.auth_protocol,
            auth_key=snmp.auth_key,
            priv_protocol=snmp.priv_protocol,
            priv_key=snmp.priv_key,
            context=snmp.context,
            timeout_s=snmp.timeout,
            retries=snmp.retries,
            max_repetitions=snmp.max_repetitions,
            oids_per_get=snmp.oids_per_get,
        )


class SnmpClient(Protocol):
    """One device's SNMP session. Not shared between devices; `aclose` once at the end."""

    varbinds_read: int
    clock: Callable[[], float]  # monotonic seconds, for `row_times`

    async def get(self, oids: Sequence[OID]) -> list[VarBind]:
        """One varbind per requested OID, in order; absent ones carry tag noSuchObject/Instance."""
        ...

    async def walk(
        self, prefixes: Sequence[OID], timed: Collection[OID] = ()
    ) -> dict[OID, list[VarBind]]:
        """Every varbind under each prefix, in OID order (an absent column maps to []).

        For the `timed` prefixes, `row_times[prefix][i]` is afterwards the midpoint between
        sending the request and receiving the response that carried row i (rates use it).
        """
        ...

    row_times: dict[OID, list[float]]

    async def aclose(self) -> None: ...


class _Requester(ABC):
    """GET packing and table walks on top of one primitive, `_request`."""

    def __init__(self, target: SnmpTarget) -> None:
        self.target = target
        self.varbinds_read = 0
        self._table_rows: dict[tuple[OID, ...], int] = {}
        self.row_times: dict[OID, list[float]] = {}
        self.clock: Callable[[], float] = time.monotonic
        # when the request now in flight was (last) sent: `walk` sets it before a request; a
        # client that queues or resends (FastClient) moves it to the send that was answered
        self.sent_at = 0.0

    @abstractmethod
    async def _request(
        self, pdu: int, oids: Sequence[OID], max_repetitions: int = 0
    ) -> tuple[int, int, list[VarBind]]:
        """Send one PDU; return (error_status, error_index, varbinds)."""

    async def aclose(self) -> None:
        return None

    async def get(self, oids: Sequence[OID]) -> list[VarBind]:
        out: list[VarBind] = []
        size = self.target.oids_per_get
        for start in range(0, len(oids), size):
            out.extend(await self._get_pack(tuple(oids[start : start + size])))
        return out

    async def _get_pack(self, oids: tuple[OID, ...]) -> list[VarBind]:
        status, index, vbs = await self._request(ber.GET, oids)
        if not status and len(vbs) == len(oids):  # the common case: every OID answered
            self.varbinds_read += len(vbs)
            return vbs
        return await self._get_rest(oids, status, index, vbs)

    async def _get_rest(
        self, oids: tuple[OID, ...], status: int, index: int, vbs: list[VarBind]
    ) -> list[VarBind]:
        """The first answer was an error (v1 noSuchName: drop that OID, ask the rest)."""
        missing: dict[int, VarBind] = {}
        ask = list(range(len(oids)))
        first = True
        while ask:
            if not first:
                status, index, vbs = await self._request(ber.GET, [oids[i] for i in ask])
            first = False
            if status == 2 and 0 < index <= len(ask):  # v1 noSuchName: drop it, ask the rest
                gone = ask.pop(index - 1)
                missing[gone] = (oids[gone], ber.NO_SUCH_OBJECT, None)
                continue
            if status:
                raise ProtocolError(f"GET answered {ERROR_STATUS.get(status, status)}")
            if len(vbs) != len(ask):
                raise ProtocolError(f"GET of {len(ask)} OIDs answered {len(vbs)} varbinds")
            self.varbinds_read += len(vbs)
            got = dict(zip(ask, vbs, strict=True))
            return [got.get(i) or missing[i] for i in range(len(oids))]
        return [missing[i] for i in range(len(oids))]

    async def walk(
        self, prefixes: Sequence[OID], timed: Collection[OID] = ()
    ) -> dict[OID, list[VarBind]]:
        rows: dict[OID, list[VarBind]] = {p: [] for p in prefixes}
        times: dict[OID, list[float]] = {p: [] for p in timed if p in rows}
        self.row_times = times
        cursor: dict[OID, OID] = {p: p for p in prefixes}  # active columns → last OID seen
        reps = self.target.max_repetitions
        bulk = self.target.version != "1"
        key = tuple(prefixes)
        expected = self._table_rows.get(key)  # rows last time: don't ask far past the end
        while cursor:
            columns = list(cursor)
            width = len(columns)
            pdu_reps = max(1, min(reps, 1000 // width)) if bulk else 0
            if bulk and expected is not None:
                remaining = expected - max(map(len, map(rows.__getitem__, columns)))
                pdu_reps = max(1, min(pdu_reps, remaining + 1))
            self.sent_at = self.clock() if times else 0.0
            status, index, vbs = await self._request(
                ber.GETBULK if bulk else ber.GETNEXT,
                list(map(cursor.__getitem__, columns)),
                pdu_reps,
            )
            if status == 1 and bulk and reps > 1:  # tooBig: ask for fewer rows
                reps = max(1, reps // 2)
                continue
            if status == 2 and not bulk and 0 < index <= width:  # v1 end of MIB for that column
                del cursor[columns[index - 1]]
                continue
            if status:
                raise ProtocolError(f"walk answered {ERROR_STATUS.get(status, status)}")
            if not vbs:
                raise ProtocolError("walk answered no varbinds")
            self.varbinds_read += len(vbs)
            self._consume(columns, vbs, cursor, rows)
            if times:
                now = (self.sent_at + self.clock()) / 2.0  # the agent read them mid-way
                for column, stamps in times.items():
                    if (new_rows := len(rows[column]) - len(stamps)) > 0:
                        stamps.extend([now] * new_rows)
        if len(self._table_rows) < 1000:
            self._table_rows[key] = max((len(r) for r in rows.values()), default=0)
        return rows

    @staticmethod
    def _consume(
        columns: list[OID],
        vbs: list[VarBind],
        cursor: dict[OID, OID],
        rows: dict[OID, list[VarBind]],
    ) -> None:
        width = len(columns)
        if vbs and len(vbs) % width == 0 and _Requester._all_in_order(columns, vbs, cursor):
            # the common case, checked in C over the whole answer: every column's OIDs
            # increase and its last is still in the column (so all are: a column's OIDs are
            # one interval in OID order), no endOfMibView
            for position, column in enumerate(columns):
                rows[column].extend(vbs[position::width])  # row-major: this column's varbinds
            cursor.update(zip(columns, map(_oid_of, vbs[-width:]), strict=True))
            if max(map(len, map(rows.__getitem__, columns))) >= MAX_ROWS:
                column = next(c for c in columns if len(rows[c]) >= MAX_ROWS)
                raise ProtocolError(f"table {ber.format_oid(column)} exceeds {MAX_ROWS} rows")
            return
        for position, column in enumerate(columns):
            out = rows[column]
            moved = _Requester._consume_slowly(column, cursor[column], vbs[position::width], out)
            if moved is None:
                del cursor[column]
            else:
                cursor[column] = moved
            if len(out) >= MAX_ROWS:
                raise ProtocolError(f"table {ber.format_oid(column)} exceeds {MAX_ROWS} rows")

    @staticmethod
    def _all_in_order(columns: list[OID], vbs: list[VarBind], cursor: dict[OID, OID]) -> bool:
        """Whole rows, each OID above the one a row before it in its column (the first row:
        above the cursor, which is the column or inside it), no endOfMibView, and the last
        row still inside every column."""
        width = len(columns)
        oids = list(map(_oid_of, vbs))
        last_row = oids[-width:]
        return (
            ber.END_OF_MIB_VIEW not in map(_tag_of, vbs)
            and all(map(_less, chain(map(cursor.__getitem__, columns), oids), oids))
            and all(map(_less, last_row, map(_COLUMN_ENDS.__getitem__, columns)))
        )

    @staticmethod
    def _consume_slowly(
        column: OID, last: OID, stride: list[VarBind], out: list[VarBind]
    ) -> OID | None:
        """One varbind at a time: the column's new cursor, or None where it ends (at
        endOfMibView or the first OID outside it). A non-increasing OID raises."""
        n = len(column)
        end_of_view = ber.END_OF_MIB_VIEW
        for vb in stride:
            oid = vb[0]
            if vb[1] == end_of_view or oid[:n] != column:
                return None
            if oid <= last:
                raise ProtocolError(f"agent returned non-increasing OID {ber.format_oid(oid)}")
            last = oid
            out.append(vb)
        return last


_tag_of = itemgetter(1)
_oid_of = itemgetter(0)
_less = operator.lt


class _ColumnEnds(dict[OID, OID]):
    """Column → the first OID past it (its last arc + 1). An OID above the column's cursor is
    inside the column exactly when it is below that end: a column is one interval of OIDs."""

    def __missing__(self, column: OID) -> OID:
        if len(self) >= 10_000:
            self.clear()
        end = self[column] = (*column[:-1], column[-1] + 1)
        return end


_COLUMN_ENDS = _ColumnEnds()


class UdpRequester(_Requester):
    """What the fast-path clients (v1/v2c here, v3 in `v3client`) share over a `UdpEngine`:
    the target's address, resolved once, and the answers of pipelined GET packs."""

    def __init__(self, target: SnmpTarget, engine: UdpEngine) -> None:
        super().__init__(target)
        self._engine = engine
        self._address: tuple[str, int] | None = None
        self._loopback = False
        self._family = socket.AF_INET
        self._stamp = self._sent_now  # bound once: the engine calls it at every (re)send

    def _sent_now(self) -> None:
        self.sent_at = self.clock()

    async def _resolve(self) -> tuple[str, int]:
        if self._address is None:
            infos = await asyncio.get_running_loop().getaddrinfo(
                self.target.host, self.target.port, type=socket.SOCK_DGRAM
            )
            if not infos:
                raise CollectError(f"cannot resolve {self.target.host}", step="resolve")
            family, _, _, _, sockaddr = infos[0]
            self._family = family
            self._address = (str(sockaddr[0]), int(sockaddr[1]))
            self._loopback = is_loopback(self._address[0])
        return self._address

    def _packs(self, oids: Sequence[OID]) -> list[tuple[OID, ...]]:
        size = self.target.oids_per_get
        return [tuple(oids[start : start + size]) for start in range(0, len(oids), size)]

    async def _send_many(
        self,
        messages: list[tuple[bytes, int]],
        decode: Callable[[bytes], ber.Response] = ber.decode_response,
    ) -> list[ber.Response]:
        """`(message, request-id)`s sent back to back to the target (`UdpEngine.request_many`)."""
        address = self._address or await self._resolve()
        return await self._engine.request_many(
            address,
            self._family,
            messages,
            timeout_s=self.target.timeout_s,
            retries=self.target.retries,
            loopback=self._loopback,
            decode=decode,
        )

    async def _pack_answers(
        self, packs: list[tuple[OID, ...]], answers: list[ber.Response]
    ) -> list[VarBind]:
        """The varbinds of a pipelined GET, in order; a pack answered with an error (v1
        noSuchName) is asked again without the OID at fault."""
        out: list[VarBind] = []
        for pack, answer in zip(packs, answers, strict=True):
            vbs = answer.varbinds
            if not answer.error_status and len(vbs) == len(pack):  # every OID answered
                self.varbinds_read += len(vbs)
                out.extend(vbs)
            else:
                out.extend(await self._get_rest(pack, answer.error_status, answer.error_index, vbs))
        return out


class FastClient(UdpRequester):
    """v1/v2c with chmd's codec over a shared `UdpEngine`."""

    def __init__(self, target: SnmpTarget, engine: UdpEngine) -> None:
        super().__init__(target, engine)
        if target.community is None:
            raise CollectError("SNMP v1/v2c needs a community", step="setup")
        self._community = target.community.reveal().encode()
        self._version = ber.V1 if target.version == "1" else ber.V2C

    async def get(self, oids: Sequence[OID]) -> list[VarBind]:
        """The packs of one GET are sent back to back (pipelined, under the engine's
        in-flight cap), not one after the other's answer: one wake-up for all answers."""
        if len(oids) <= self.target.oids_per_get:
            return await self._get_pack(tuple(oids)) if oids else []
        packs = self._packs(oids)
        messages = []
        for pack in packs:
            request_id = self._engine.next_request_id()
            message = ber.encode_request(self._version, self._community, ber.GET, request_id, pack)
            messages.append((message, request_id))
        return await self._pack_answers(packs, await self._send_many(messages))

    async def _request(
        self, pdu: int, oids: Sequence[OID], max_repetitions: int = 0
    ) -> tuple[int, int, list[VarBind]]:
        address = self._address or await self._resolve()
        request_id = self._engine.next_request_id()
        message = ber.encode_request(
            self._version, self._community, pdu, request_id, oids, 0, max_repetitions
        )
        response = await self._engine.request(
            address,
            self._family,
            message,
            request_id,
            timeout_s=self.target.timeout_s,
            retries=self.target.retries,
            loopback=self._loopback,
            on_send=self._stamp,
        )
        return response.error_status, response.error_index, response.varbinds
