"""A small, fast BER codec for SNMP v1/v2c: GET/GETNEXT/GETBULK requests out, responses in.

This is the collection hot path: pysnmp/pyasn1 spend ~110 µs of CPU per varbind, this
codec a few µs. It knows only what a poller needs (RFC 3416 PDUs over RFC 1157/1901
messages; SNMPv3's scoped PDUs reuse it through `usm.py`); everything else stays with pysnmp
(`pysnmp_client.py`), which is also the reference the tests compare this codec against.

OIDs are tuples of ints (they compare in SNMP's lexicographic order); a varbind is a
plain tuple `(oid, tag, value)` where `tag` is the BER tag of the value:

=========  ======================  =====================
tag        SNMP type               Python value
=========  ======================  =====================
0x02       INTEGER / Integer32     int
0x04       OCTET STRING            bytes
0x05       NULL                    None
0x06       OBJECT IDENTIFIER       tuple[int, ...]
0x40       IpAddress               str ("10.0.0.1")
0x41/42/43 Counter32/Gauge32/Ticks int (unsigned)
0x44       Opaque                  bytes
0x46       Counter64               int (unsigned)
0x80/81/82 noSuchObject/noSuchInstance/endOfMibView   None
=========  ======================  =====================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

OID = tuple[int, ...]
Value = int | bytes | str | tuple[int, ...] | None
VarBind = tuple[OID, int, Value]

INTEGER: Final = 0x02
OCTET_STRING: Final = 0x04
NULL: Final = 0x05
OBJECT_ID: Final = 0x06
IP_ADDRESS: Final = 0x40
COUNTER32: Final = 0x41
GAUGE32: Final = 0x42
TIMETICKS: Final = 0x43
OPAQUE: Final = 0x44
COUNTER64: Final = 0x46
NO_SUCH_OBJECT: Final = 0x80
NO_SUCH_INSTANCE: Final = 0x81
END_OF_MIB_VIEW: Final = 0x82

GET: Final = 0xA0
GETNEXT: Final = 0xA1
RESPONSE: Final = 0xA2
GETBULK: Final = 0xA5
REPORT: Final = 0xA8

V1: Final = 0
V2C: Final = 1

TYPE_NAMES: Final[dict[int, str]] = {
    INTEGER: "INTEGER",
    OCTET_STRING: "OCTET STRING",
    NULL: "NULL",
    OBJECT_ID: "OBJECT IDENTIFIER",
    IP_ADDRESS: "IpAddress",
    COUNTER32: "Counter32",
    GAUGE32: "Gauge32",
    TIMETICKS: "TimeTicks",
    OPAQUE: "Opaque",
    COUNTER64: "Counter64",
    NO_SUCH_OBJECT: "noSuchObject",
    NO_SUCH_INSTANCE: "noSuchInstance",
    END_OF_MIB_VIEW: "endOfMibView",
}
EXCEPTIONS: Final = frozenset({NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW})
_UNSIGNED: Final = frozenset({COUNTER32, GAUGE32, TIMETICKS, COUNTER64})


class BerError(ValueError):
    """The bytes are not a well-formed SNMP message (truncated, bad tag or length)."""


class Response:
    """A decoded Response-PDU."""

    __slots__ = ("error_index", "error_status", "request_id", "varbinds", "version")

    def __init__(
        self,
        version: int,
        request_id: int,
        error_status: int,
        error_index: int,
        varbinds: list[VarBind],
    ) -> None:
        self.version = version
        self.request_id = request_id
        self.error_status = error_status
        self.error_index = error_index
        self.varbinds = varbinds


# ---------------------------------------------------------------- encoding


def length_octets(n: int) -> bytes:
    """A BER length field (short form below 128)."""
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, body: bytes) -> bytes:
    """One BER tag-length-value (the SNMPv3 envelope in `usm` is built from these too)."""
    return bytes((tag,)) + length_octets(len(body)) + body


def _int(value: int) -> bytes:
    return tlv(INTEGER, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def _subid(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def encode_oid(oid: OID) -> bytes:
    """The full TLV of an OBJECT IDENTIFIER (needs at least two arcs, first ≤ 2)."""
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] >= 40):
        raise BerError(f"invalid OID {'.'.join(map(str, oid))}")
    body = _subid(oid[0] * 40 + oid[1]) + b"".join([_subid(arc) for arc in oid[2:]])
    return tlv(OBJECT_ID, body)


_NULL_VARBIND_CACHE: dict[OID, bytes] = {}
_OID_CACHE: dict[bytes, OID] = {}
_OID_CACHE_LIMIT: Final = 200_000
_CACHE_LIMIT: Final = 100_000


def _null_varbind(oid: OID) -> bytes:
    encoded = _NULL_VARBIND_CACHE.get(oid)
    if encoded is None:
        encoded = tlv(0x30, encode_oid(oid) + b"\x05\x00")
        if len(_NULL_VARBIND_CACHE) < _CACHE_LIMIT:
            _NULL_VARBIND_CACHE[oid] = encoded
    return encoded


_VARBIND_LIST_CACHE: dict[tuple[OID, ...], bytes] = {}
_VARBIND_LIST_LIMIT: Final = 10_000


def _varbind_list(oids: tuple[OID, ...]) -> bytes:
    """The TLV of a whole NULL-valued varbind list. A poller asks the same OID sets every
    poll (packed GETs), so the encoded list is cached by the OID tuple."""
    encoded = _VARBIND_LIST_CACHE.get(oids)
    if encoded is None:
        encoded = tlv(0x30, b"".join([_null_varbind(oid) for oid in oids]))
        if len(_VARBIND_LIST_CACHE) >= _VARBIND_LIST_LIMIT:
            _VARBIND_LIST_CACHE.clear()
        _VARBIND_LIST_CACHE[oids] = encoded
    return encoded


def encode_request(
    version: int,
    community: bytes,
    pdu_type: int,
    request_id: int,
    oids: Sequence[OID],
    non_repeaters: int = 0,
    max_repetitions: int = 0,
) -> bytes:
    """A whole v1/v2c message: GET, GETNEXT or GETBULK (for GETBULK the two error fields
    carry non-repeaters and max-repetitions).

    A poller sends the same requests every poll (its GET packs, and its walks' requests
    while the tables stay the same), so for a request-id of 4 bytes (2**23 .. 2**31-1) the
    message is cached without its request-id, which is put in at every call."""
    if 0x800000 <= request_id <= 0x7FFFFFFF:
        key = (version, community, pdu_type, tuple(oids), non_repeaters, max_repetitions)
        template = _TEMPLATES.get(key)
        if template is None:
            template = _template(key)
            if len(_TEMPLATES) >= _TEMPLATE_LIMIT:
                _TEMPLATES.clear()
            _TEMPLATES[key] = template
        return template[0] + request_id.to_bytes(4, "big") + template[1]
    return _encode_request(
        version, community, pdu_type, request_id, oids, non_repeaters, max_repetitions
    )


_TemplateKey = tuple[int, bytes, int, tuple[OID, ...], int, int]
_TEMPLATES: dict[_TemplateKey, tuple[bytes, bytes]] = {}
_TEMPLATE_LIMIT: Final = 20_000


def _template(key: _TemplateKey) -> tuple[bytes, bytes]:
    """The message of `key` split around its request-id's 4 value bytes."""
    version, community, pdu_type, oids, non_repeaters, max_repetitions = key
    # any 4-byte id will do: the lengths, hence the offsets, are those of every 4-byte id
    body = _pdu_body(pdu_type, 0x7F000000, oids, non_repeaters, max_repetitions)
    message = _message(version, community, tlv(pdu_type, body))
    id_at = len(message) - len(body) + 2  # the body opens with the id's tag and length
    return message[:id_at], message[id_at + 4 :]


def _pdu_body(
    pdu_type: int,
    request_id: int,
    oids: Sequence[OID],
    non_repeaters: int,
    max_repetitions: int,
) -> bytes:
    if pdu_type == GET:
        varbinds = _varbind_list(tuple(oids))
    else:  # walk cursors move every request: caching whole lists would only churn
        varbinds = tlv(0x30, b"".join([_null_varbind(oid) for oid in oids]))
    if pdu_type == GETBULK:
        fields = _int(request_id) + _int(non_repeaters) + _int(max_repetitions)
    else:
        fields = _int(request_id) + b"\x02\x01\x00\x02\x01\x00"
    return fields + varbinds


def _encode_request(
    version: int,
    community: bytes,
    pdu_type: int,
    request_id: int,
    oids: Sequence[OID],
    non_repeaters: int = 0,
    max_repetitions: int = 0,
) -> bytes:
    body = _pdu_body(pdu_type, request_id, oids, non_repeaters, max_repetitions)
    return _message(version, community, tlv(pdu_type, body))


def _message(version: int, community: bytes, pdu: bytes) -> bytes:
    head = _HEAD_CACHE.get((version, community))
    if head is None:
        head = _int(version) + tlv(OCTET_STRING, community)
        if len(_HEAD_CACHE) < _CACHE_LIMIT:
            _HEAD_CACHE[(version, community)] = head
    return tlv(0x30, head + pdu)


_HEAD_CACHE: dict[tuple[int, bytes], bytes] = {}  # (version, community) → their two TLVs


def encode_value(tag: int, value: Value) -> bytes:
    """The TLV of one value (used by tests and the response encoder)."""
    if tag == INTEGER:
        assert isinstance(value, int)  # noqa: S101 - tag says so
        return _int(value)
    if tag in _UNSIGNED:
        assert isinstance(value, int)  # noqa: S101
        return tlv(tag, value.to_bytes((value.bit_length() + 8) // 8 or 1, "big"))
    if tag in (OCTET_STRING, OPAQUE):
        assert isinstance(value, bytes)  # noqa: S101
        return tlv(tag, value)
    if tag == OBJECT_ID:
        assert isinstance(value, tuple)  # noqa: S101
        return encode_oid(value)
    if tag == IP_ADDRESS:
        assert isinstance(value, str)  # noqa: S101
        return tlv(tag, bytes([int(part) for part in value.split(".")]))
    if tag == NULL or tag in EXCEPTIONS:
        return bytes((tag, 0))
    raise BerError(f"cannot encode tag 0x{tag:02x}")


def encode_response(
    version: int,
    community: bytes,
    request_id: int,
    varbinds: list[VarBind],
    error_status: int = 0,
    error_index: int = 0,
) -> bytes:
    """A Response-PDU message: what an agent sends (for tests and fakes)."""
    body = b"".join(
        [tlv(0x30, encode_oid(oid) + encode_value(tag, val)) for oid, tag, val in varbinds]
    )
    pdu = tlv(RESPONSE, _int(request_id) + _int(error_status) + _int(error_index) + tlv(0x30, body))
    return tlv(0x30, _int(version) + tlv(OCTET_STRING, community) + pdu)


# ---------------------------------------------------------------- decoding


def _decode_oid(data: bytes, start: int, end: int) -> OID:
    if start >= end:
        raise BerError("empty OID")
    chunk = data[start:end]
    if max(chunk) < 0x80:  # every arc below 128: the common case
        first = chunk[0]
        if first < 80:
            return (first // 40, first % 40, *chunk[1:])
        return (2, first - 80, *chunk[1:])
    arcs: list[int] = []
    value = 0
    for byte in chunk:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if chunk[-1] & 0x80:
        raise BerError("truncated OID")
    first = arcs[0]
    head = (first // 40, first % 40) if first < 80 else (2, first - 80)
    return (*head, *arcs[1:])


def decode_response(data: bytes) -> Response:
    """Decode a v1/v2c Response-PDU message. Raises BerError on anything malformed."""
    try:
        return _decode(data)
    except IndexError as exc:
        raise BerError("truncated message") from exc


def _decode(data: bytes) -> Response:  # one straight pass, kept inline for speed
    end_total = len(data)
    if data[0] != 0x30:
        raise BerError("not a SEQUENCE")
    pos = 1
    n = data[pos]
    pos += 1
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[pos : pos + k], "big")
        pos += k
    if pos + n > end_total:
        raise BerError("truncated message")
    # version
    if data[pos] != INTEGER:
        raise BerError("bad version")
    n = data[pos + 1]
    version = int.from_bytes(data[pos + 2 : pos + 2 + n], "big", signed=True)
    pos += 2 + n
    # community
    if data[pos] != OCTET_STRING:
        raise BerError("bad community")
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[pos : pos + k], "big")
        pos += k
    pos += n
    # PDU
    if data[pos] != RESPONSE:
        raise BerError(f"unexpected PDU type 0x{data[pos]:02x}")
    pos += 1
    n = data[pos]
    pos += 1
    if n & 0x80:
        pos += n & 0x7F
    ints = []
    for _ in range(3):
        if data[pos] != INTEGER:
            raise BerError("bad PDU header")
        n = data[pos + 1]
        ints.append(int.from_bytes(data[pos + 2 : pos + 2 + n], "big", signed=True))
        pos += 2 + n
    if data[pos] != 0x30:
        raise BerError("bad varbind list")
    pos += 1
    n = data[pos]
    pos += 1
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[pos : pos + k], "big")
        pos += k
    end = pos + n
    if end > end_total:
        raise BerError("truncated varbind list")
    varbinds: list[VarBind] = []
    append = varbinds.append
    from_bytes = int.from_bytes
    oid_cache = _OID_CACHE
    while pos < end:
        if data[pos] != 0x30:
            raise BerError("bad varbind")
        n = data[pos + 1]
        pos += 2 if n < 0x80 else 2 + (n & 0x7F)
        # name: the same OIDs come back every poll, so decoded names are cached by their bytes
        if data[pos] != OBJECT_ID:
            raise BerError("bad varbind name")
        n = data[pos + 1]
        pos += 2
        if n & 0x80:
            k = n & 0x7F
            n = from_bytes(data[pos : pos + k], "big")
            pos += k
        raw = data[pos : pos + n]
        oid = oid_cache.get(raw)
        if oid is None:
            oid = _decode_oid(raw, 0, len(raw))
            if len(oid_cache) >= _OID_CACHE_LIMIT:
                oid_cache.clear()
            oid_cache[raw] = oid
        pos += n
        # value
        tag = data[pos]
        n = data[pos + 1]
        pos += 2
        if n & 0x80:
            k = n & 0x7F
            n = from_bytes(data[pos : pos + k], "big")
            pos += k
        vend = pos + n
        if vend > end:
            raise BerError("truncated value")
        value: Value
        if tag in _UNSIGNED:
            value = from_bytes(data[pos:vend], "big")
        elif tag == INTEGER:
            value = from_bytes(data[pos:vend], "big", signed=True)
        elif tag in (OCTET_STRING, OPAQUE):
            value = data[pos:vend]
        elif tag == OBJECT_ID:
            value = _decode_oid(data, pos, vend)
        elif tag == IP_ADDRESS:
            if n != 4:
                raise BerError("bad IpAddress")
            value = "%d.%d.%d.%d" % tuple(data[pos:vend])  # noqa: UP031 - fastest here
        elif tag == NULL or tag in EXCEPTIONS:
            value = None
        else:
            raise BerError(f"unknown value tag 0x{tag:02x}")
        pos = vend
        append((oid, tag, value))
    return Response(version, ints[0], ints[1], ints[2], varbinds)


def peek_request_id(data: bytes) -> int | None:
    """The request-id of a v1/v2c message without decoding the varbinds (None if unreadable).

    For an SNMPv3 message it is the msgID (RFC 3412), readable before any decryption: a v3
    client sends its msgID where v1/v2c put the request-id, so one engine matches both.
    """
    try:
        pos = 2 if data[1] < 0x80 else 2 + (data[1] & 0x7F)
        if data[pos + 1] == 1 and data[pos + 2] == 3:  # version 3: msgGlobalData's msgID
            pos += 3
            pos += 2 if data[pos + 1] < 0x80 else 2 + (data[pos + 1] & 0x7F)
            n = data[pos + 1]
            return int.from_bytes(data[pos + 2 : pos + 2 + n], "big", signed=True)
        pos += 2 + data[pos + 1]  # version
        n = data[pos + 1]
        pos += 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(data[pos : pos + k], "big")
            pos += k
        pos += n + 1  # community, PDU tag
        n = data[pos]
        pos += 1 + ((n & 0x7F) if n & 0x80 else 0)
        n = data[pos + 1]
        return int.from_bytes(data[pos + 2 : pos + 2 + n], "big", signed=True)
    except IndexError:
        return None


def format_oid(oid: OID) -> str:
    return ".".join(map(str, oid))


def parse_oid(text: str) -> OID:
    """`"1.3.6.1"` or `".1.3.6.1"` → (1, 3, 6, 1)."""
    try:
        oid = tuple(int(part) for part in text.strip().lstrip(".").split("."))
    except ValueError as exc:
        raise BerError(f"bad OID {text!r}") from exc
    if len(oid) < 2 or any(arc < 0 for arc in oid):
        raise BerError(f"bad OID {text!r}")
    return oid
