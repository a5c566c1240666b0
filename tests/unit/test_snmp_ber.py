"""The fast BER codec against pysnmp/pyasn1, the reference: same bytes out, same values in."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api, rfc1902, rfc1905

from chmd.collect.snmp import ber
from chmd.collect.snmp.snmprec import read_snmprec

V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
V1 = api.PROTOCOL_MODULES[api.SNMP_VERSION_1]
SNMPREC = Path(__file__).resolve().parents[1] / "fixtures" / "snmprec"
if not SNMPREC.is_dir():  # the harness copies them; fall back to the shared originals
    SNMPREC = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "snmprec"
RECORDINGS = sorted(p.stem for p in SNMPREC.glob("*.snmprec"))

_TO_PYSNMP = {
    ber.INTEGER: rfc1902.Integer32,
    ber.OCTET_STRING: rfc1902.OctetString,
    ber.OBJECT_ID: rfc1902.ObjectName,
    ber.IP_ADDRESS: rfc1902.IpAddress,
    ber.COUNTER32: rfc1902.Counter32,
    ber.GAUGE32: rfc1902.Gauge32,
    ber.TIMETICKS: rfc1902.TimeTicks,
    ber.OPAQUE: rfc1902.Opaque,
    ber.COUNTER64: rfc1902.Counter64,
}


def pysnmp_value(tag: int, value: ber.Value) -> object:
    if tag == ber.NO_SUCH_OBJECT:
        return rfc1905.noSuchObject
    if tag == ber.NO_SUCH_INSTANCE:
        return rfc1905.noSuchInstance
    if tag == ber.END_OF_MIB_VIEW:
        return rfc1905.endOfMibView
    if tag == ber.NULL:
        return V2C.null
    return _TO_PYSNMP[tag](value)


def pysnmp_response(request_id: int, varbinds: list[ber.VarBind], community: bytes) -> bytes:
    pdu = V2C.ResponsePDU()
    V2C.apiPDU.set_defaults(pdu)
    V2C.apiPDU.set_request_id(pdu, request_id)
    V2C.apiPDU.set_varbinds(pdu, [(oid, pysnmp_value(tag, val)) for oid, tag, val in varbinds])
    msg = V2C.Message()
    V2C.apiMessage.set_defaults(msg)
    V2C.apiMessage.set_community(msg, community)
    V2C.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


def pysnmp_request(
    kind: str, request_id: int, oids: list[ber.OID], community: bytes, mod=V2C
) -> bytes:
    pdu = {
        "get": mod.GetRequestPDU,
        "next": mod.GetNextRequestPDU,
        "bulk": V2C.GetBulkRequestPDU,
    }[kind]()
    if kind == "bulk":
        V2C.apiBulkPDU.set_defaults(pdu)
        V2C.apiBulkPDU.set_non_repeaters(pdu, 1)
        V2C.apiBulkPDU.set_max_repetitions(pdu, 25)
    else:
        mod.apiPDU.set_defaults(pdu)
    mod.apiPDU.set_request_id(pdu, request_id)
    mod.apiPDU.set_varbinds(pdu, [(oid, mod.null) for oid in oids])
    msg = mod.Message()
    mod.apiMessage.set_defaults(msg)
    mod.apiMessage.set_community(msg, community)
    mod.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


oids = st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=20).flatmap(
    lambda rest: st.tuples(st.integers(0, 1), st.integers(0, 39)).map(lambda head: (*head, *rest))
)
values = st.one_of(
    st.tuples(st.just(ber.INTEGER), st.integers(-(2**31), 2**31 - 1)),
    st.tuples(st.just(ber.OCTET_STRING), st.binary(max_size=300)),
    st.tuples(st.just(ber.OBJECT_ID), oids),
    st.tuples(
        st.just(ber.IP_ADDRESS),
        st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    ),
    st.tuples(
        st.sampled_from([ber.COUNTER32, ber.GAUGE32, ber.TIMETICKS]), st.integers(0, 2**32 - 1)
    ),
    st.tuples(st.just(ber.COUNTER64), st.integers(0, 2**64 - 1)),
    st.tuples(
        st.sampled_from([ber.NO_SUCH_OBJECT, ber.NO_SUCH_INSTANCE, ber.END_OF_MIB_VIEW]), st.none()
    ),
)
varbinds = st.lists(st.tuples(oids, values).map(lambda t: (t[0], t[1][0], t[1][1])), max_size=40)


@settings(max_examples=300, deadline=None)
@given(request_id=st.integers(0, 2**31 - 1), vbs=varbinds, community=st.binary(max_size=40))
def test_decodes_what_pysnmp_encodes(
    request_id: int, vbs: list[ber.VarBind], community: bytes
) -> None:
    """Any Response pysnmp encodes decodes to the same request-id and varbinds."""
    data = pysnmp_response(request_id, vbs, community)
    resp = ber.decode_response(data)
    assert resp.request_id == request_id
    assert resp.varbinds == vbs
    assert ber.peek_request_id(data) == request_id


@settings(max_examples=300, deadline=None)
@given(request_id=st.integers(0, 2**31 - 1), vbs=varbinds, community=st.binary(max_size=40))
def test_encodes_responses_like_pysnmp(
    request_id: int, vbs: list[ber.VarBind], community: bytes
) -> None:
    """The test-side response encoder produces byte-identical messages to pysnmp."""
    assert ber.encode_response(1, community, request_id, vbs) == pysnmp_response(
        request_id, vbs, community
    )


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["get", "next", "bulk"]),
    request_id=st.integers(0, 2**31 - 1),
    oid_list=st.lists(oids, min_size=1, max_size=30),
    community=st.binary(max_size=40),
)
def test_requests_are_byte_identical_to_pysnmp(
    kind: str, request_id: int, oid_list: list[ber.OID], community: bytes
) -> None:
    """GET/GETNEXT/GETBULK requests encode to exactly pysnmp's bytes."""
    pdu = {"get": ber.GET, "next": ber.GETNEXT, "bulk": ber.GETBULK}[kind]
    ours = ber.encode_request(ber.V2C, community, pdu, request_id, oid_list, 1, 25)
    assert ours == pysnmp_request(kind, request_id, oid_list, community)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["get", "next", "bulk"]),
    ids=st.lists(st.integers(0x800000, 2**31 - 1), min_size=2, max_size=4),
    oid_list=st.lists(oids, min_size=1, max_size=30),
    community=st.binary(max_size=200),
)
def test_a_request_sent_again_with_a_new_request_id_is_byte_identical_to_pysnmp(
    kind: str, ids: list[int], oid_list: list[ber.OID], community: bytes
) -> None:
    """The same request encoded again (from the cached message, only the 4-byte request-id
    put in anew) is exactly pysnmp's encoding for that request-id, every time."""
    pdu = {"get": ber.GET, "next": ber.GETNEXT, "bulk": ber.GETBULK}[kind]
    for request_id in ids:
        ours = ber.encode_request(ber.V2C, community, pdu, request_id, oid_list, 1, 25)
        assert ours == pysnmp_request(kind, request_id, oid_list, community)
        assert ber.peek_request_id(ours) == request_id


def test_v1_get_is_byte_identical_to_pysnmp() -> None:
    """A v1 GET carries version 0 and otherwise the same PDU as pysnmp's v1 API."""
    oid_list = [(1, 3, 6, 1, 2, 1, 1, 3, 0), (1, 3, 6, 1, 2, 1, 1, 5, 0)]
    ours = ber.encode_request(ber.V1, b"public", ber.GET, 77, oid_list)
    assert ours == pysnmp_request("get", 77, oid_list, b"public", mod=V1)


@pytest.mark.parametrize("name", RECORDINGS)
def test_every_recorded_varbind_round_trips(name: str) -> None:
    """Every varbind of every recording decodes from pysnmp's encoding to the recorded value."""
    vbs = read_snmprec(SNMPREC / f"{name}.snmprec")
    assert len(vbs) > 100
    for start in range(0, len(vbs), 50):
        chunk = vbs[start : start + 50]
        data = pysnmp_response(start, chunk, b"public")
        assert ber.decode_response(data).varbinds == chunk
        assert ber.encode_response(1, b"public", start, chunk) == data


def test_pysnmp_decodes_our_requests() -> None:
    """pysnmp's decoder reads our GETBULK back with the same fields."""
    data = ber.encode_request(
        ber.V2C, b"c", ber.GETBULK, 5, [(1, 3, 6, 1, 2, 1, 2, 2, 1, 2)], 0, 30
    )
    msg, rest = decoder.decode(data, asn1Spec=V2C.Message())
    assert rest == b""
    pdu = V2C.apiMessage.get_pdu(msg)
    assert int(V2C.apiBulkPDU.get_max_repetitions(pdu)) == 30
    assert [tuple(o) for o, _ in V2C.apiPDU.get_varbinds(pdu)] == [(1, 3, 6, 1, 2, 1, 2, 2, 1, 2)]


@pytest.mark.parametrize(
    "data",
    [b"", b"\x30", b"\x30\x05\x02\x01\x01\x04", b"\x04\x00", b"\x30\x03\x02\x01\x01"],
)
def test_malformed_messages_raise_ber_error(data: bytes) -> None:
    """Truncated or non-SNMP bytes raise BerError, never IndexError or a wrong value."""
    with pytest.raises(ber.BerError):
        ber.decode_response(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_decoder(data: bytes) -> None:
    """Arbitrary bytes either decode or raise BerError."""
    with contextlib.suppress(ber.BerError):
        ber.decode_response(data)
