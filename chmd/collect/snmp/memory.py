"""An in-memory SNMP agent over a recording: the "recorded mock" for tests without sockets.

`MemoryClient` answers GET/GETNEXT/GETBULK from a sorted list of varbinds exactly as an
RFC 3416 agent would (noSuchObject/noSuchInstance, endOfMibView), through the same
`_Requester` walk and GET-packing logic the real clients use.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from chmd.collect.snmp import ber
from chmd.collect.snmp.ber import OID, VarBind
from chmd.collect.snmp.client import SnmpTarget, _Requester


class MemoryAgent:
    """A sorted view of varbinds answering PDUs."""

    def __init__(self, varbinds: Sequence[VarBind]) -> None:
        self.load(varbinds)
        self.requests = 0

    def load(self, varbinds: Sequence[VarBind]) -> None:
        ordered = sorted(varbinds, key=lambda vb: vb[0])
        self._oids = [vb[0] for vb in ordered]
        self._vbs = ordered
        self._index = {vb[0]: vb for vb in ordered}

    def get(self, oid: OID) -> VarBind:
        found = self._index.get(oid)
        if found is not None:
            return found
        # an object type exists if anything lives one level below its parent column
        i = bisect.bisect_left(self._oids, oid[:-1])
        parent = oid[:-1]
        if i < len(self._oids) and self._oids[i][: len(parent)] == parent:
            return (oid, ber.NO_SUCH_INSTANCE, None)
        return (oid, ber.NO_SUCH_OBJECT, None)

    def next(self, oid: OID) -> VarBind:
        i = bisect.bisect_right(self._oids, oid)
        if i >= len(self._vbs):
            return (oid, ber.END_OF_MIB_VIEW, None)
        return self._vbs[i]

    def answer(self, pdu: int, oids: Sequence[OID], max_repetitions: int) -> list[VarBind]:
        self.requests += 1
        if pdu == ber.GET:
            return [self.get(o) for o in oids]
        if pdu == ber.GETNEXT:
            return [self.next(o) for o in oids]
        out: list[VarBind] = []
        cursors = list(oids)
        for _ in range(max_repetitions):
            row = [self.next(o) for o in cursors]
            out.extend(row)
            cursors = [vb[0] for vb in row]
            if all(vb[1] == ber.END_OF_MIB_VIEW for vb in row):
                break
        return out


class MemoryClient(_Requester):
    """A client whose every request is answered by a `MemoryAgent` (no I/O)."""

    def __init__(self, agent: MemoryAgent, target: SnmpTarget | None = None) -> None:
        super().__init__(target or SnmpTarget(host="memory"))
        self.agent = agent

    async def _request(
        self, pdu: int, oids: Sequence[OID], max_repetitions: int = 0
    ) -> tuple[int, int, list[VarBind]]:
        return 0, 0, self.agent.answer(pdu, oids, max_repetitions)
