"""Packed GETs: the common answer is returned as is; error answers take the slow path."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from harness.aio import run_sync

from chmd.collect.snmp import ber
from chmd.collect.snmp.ber import OID, VarBind
from chmd.collect.snmp.client import SnmpTarget, _Requester
from chmd.errors import ProtocolError

A = (1, 3, 6, 1, 2, 1, 1, 1, 0)
B = (1, 3, 6, 1, 2, 1, 1, 2, 0)
C = (1, 3, 6, 1, 2, 1, 1, 3, 0)


class V1Agent(_Requester):
    """Answers GETs like an SNMPv1 agent: noSuchName (status 2) at the first absent OID."""

    def __init__(self, values: dict[OID, VarBind], status: int = 0) -> None:
        super().__init__(SnmpTarget(host="memory", version="1", oids_per_get=2))
        self.values = values
        self.status = status
        self.asked: list[tuple[OID, ...]] = []

    async def _request(
        self, pdu: int, oids: Sequence[OID], max_repetitions: int = 0
    ) -> tuple[int, int, list[VarBind]]:
        self.asked.append(tuple(oids))
        if self.status:
            return self.status, 0, [(o, ber.NULL, None) for o in oids]
        for position, oid in enumerate(oids, start=1):
            if oid not in self.values:
                return 2, position, [(o, ber.NULL, None) for o in oids]
        return 0, 0, [self.values[o] for o in oids]


def test_v1_nosuchname_is_dropped_and_the_rest_asked_again() -> None:
    """A v1 noSuchName in the first answer marks that OID noSuchObject; the others are re-asked."""
    agent = V1Agent({A: (A, ber.OCTET_STRING, b"x"), C: (C, ber.TIMETICKS, 5)})
    got = run_sync(agent.get([A, B, C]))
    assert got == [
        (A, ber.OCTET_STRING, b"x"),
        (B, ber.NO_SUCH_OBJECT, None),
        (C, ber.TIMETICKS, 5),
    ]
    assert agent.asked == [(A, B), (A,), (C,)]
    assert agent.varbinds_read == 2


def test_error_status_in_the_first_answer_raises() -> None:
    """Any other error status in the first answer raises ProtocolError naming it."""
    agent = V1Agent({A: (A, ber.INTEGER, 1)}, status=5)
    with pytest.raises(ProtocolError, match="genErr"):
        run_sync(agent.get([A]))
