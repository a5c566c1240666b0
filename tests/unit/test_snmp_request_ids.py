"""Request-ids of the UDP engine: always a positive Integer32 of 4 bytes, so a request's
cached message only needs its id put in (no sockets: the engine opens none until a request)."""

from __future__ import annotations

import itertools

from chmd.collect.snmp import ber
from chmd.collect.snmp.transport import UdpEngine


def test_request_ids_stay_four_bytes_across_the_wrap() -> None:
    """Ids from just before the counter's wrap to just after it stay within 2**24..2**31-1,
    each unique in that run, and each encodes as a 4-byte INTEGER."""
    engine = UdpEngine()
    span = (1 << 31) - (1 << 24)
    engine._ids = itertools.count(span - 3)
    ids = [engine.next_request_id() for _ in range(6)]
    assert ids == [
        (1 << 31) - 3,
        (1 << 31) - 2,
        (1 << 31) - 1,
        1 << 24,
        (1 << 24) + 1,
        (1 << 24) + 2,
    ]
    for request_id in ids:
        message = ber.encode_request(ber.V2C, b"public", ber.GET, request_id, [(1, 3, 6, 1)])
        assert ber.peek_request_id(message) == request_id
        assert len(message) == len(
            ber.encode_request(ber.V2C, b"public", ber.GET, 1 << 30, [(1, 3, 6, 1)])
        )
