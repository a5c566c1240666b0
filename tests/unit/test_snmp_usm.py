"""SNMPv3 USM (usm.py, v3client.py) against RFC 3414's test vectors and pysnmp, the reference."""

from __future__ import annotations

import contextlib
import hmac
from hashlib import md5, sha1, sha224, sha256, sha384, sha512
from typing import Any

import pytest
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder
from pyasn1.type import univ
from pysnmp.hlapi.v3arch import asyncio as _hlapi  # noqa: F401 - loads pysnmp's secmod in order
from pysnmp.proto.mpmod.rfc3412 import ScopedPDU, SNMPv3Message
from pysnmp.proto.secmod.eso.priv import aes192, aes256
from pysnmp.proto.secmod.rfc3414 import localkey
from pysnmp.proto.secmod.rfc3414.auth import hmacmd5, hmacsha
from pysnmp.proto.secmod.rfc3414.priv import des
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters
from pysnmp.proto.secmod.rfc3826.priv import aes
from pysnmp.proto.secmod.rfc7860.auth import hmacsha2

from chmd.collect.snmp import ber, usm
from chmd.collect.snmp.client import SnmpTarget
from chmd.collect.snmp.transport import Discard, UdpEngine
from chmd.collect.snmp.v3client import PeerEngine, UsmClient, UsmReport, usm_user
from chmd.configtypes import Secret
from chmd.errors import AuthError, CollectError, ProtocolError

RFC_ENGINE = bytes.fromhex("000000000000000000000002")
ENGINE = bytes.fromhex("80001f8880e9630000d61ff449")
PYSNMP_AUTH = {  # chmd name → (pysnmp service id, hash)
    "MD5": (hmacmd5.HmacMd5.SERVICE_ID, md5),
    "SHA": (hmacsha.HmacSha.SERVICE_ID, sha1),
    "SHA224": (hmacsha2.HmacSha2.SHA224_SERVICE_ID, sha224),
    "SHA256": (hmacsha2.HmacSha2.SHA256_SERVICE_ID, sha256),
    "SHA384": (hmacsha2.HmacSha2.SAH384_SERVICE_ID, sha384),
    "SHA512": (hmacsha2.HmacSha2.SHA512_SERVICE_ID, sha512),
}
VARBINDS: list[ber.VarBind] = [
    ((1, 3, 6, 1, 2, 1, 1, 5, 0), ber.OCTET_STRING, b"core-sw1"),
    ((1, 3, 6, 1, 2, 1, 1, 3, 0), ber.TIMETICKS, 123456),
    ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 3), ber.COUNTER64, 2**63 + 5),
    ((1, 3, 6, 1, 2, 1, 4, 20, 1, 1, 10, 0, 0, 1), ber.IP_ADDRESS, "10.0.0.1"),
    ((1, 3, 6, 1, 2, 1, 1, 9, 0), ber.NO_SUCH_INSTANCE, None),
]


def user(
    auth: str | None = "SHA", priv: str | None = "AES", name: bytes = b"netmon"
) -> usm.UsmUser:
    return usm.UsmUser(
        name,
        usm.AUTH_PROTOCOLS[auth] if auth else None,
        b"authpass123",
        usm.PRIV_PROTOCOLS[priv] if priv else None,
        b"privpass123",
    )


def pdu(request_id: int, varbinds: list[ber.VarBind], pdu_type: int = ber.RESPONSE) -> bytes:
    """A Response (or Report) PDU as an agent encodes it."""
    message = ber.encode_response(1, b"", request_id, varbinds)
    pos = 2 if message[1] < 0x80 else 2 + (message[1] & 0x7F)
    return bytes((pdu_type,)) + message[pos + 6 :]


def agent_message(
    u: usm.UsmUser,
    msg_id: int,
    varbinds: list[ber.VarBind],
    *,
    pdu_type: int = ber.RESPONSE,
    engine_id: bytes = ENGINE,
    boots: int = 3,
    time: int = 1000,
    flags: int | None = None,
    keys: usm.UsmKeys | None = None,
) -> bytes:
    """What the agent would send back: authenticated/encrypted at the user's level."""
    level = (usm.FLAG_AUTH if u.auth else 0) | (usm.FLAG_PRIV if u.priv else 0)
    scoped = usm.scoped_pdu(engine_id, b"", pdu(msg_id, varbinds, pdu_type))
    return usm.encode_message(
        msg_id,
        u,
        keys or usm.keys_for(u, engine_id),
        engine_id,
        boots,
        time,
        scoped,
        flags=level if flags is None else flags,
        salt=99,
    )


# ---------------------------------------------------------------- keys


def test_rfc3414_a3_1_md5_vector() -> None:
    """RFC 3414 A.3.1: "maplesyrup" → Ku and, localised to engine ...02, Kul (MD5)."""
    assert usm.password_to_key(b"maplesyrup", "md5").hex() == "9faf3283884e92834ebc9847d8edd963"
    assert usm.localized_key(b"maplesyrup", RFC_ENGINE, "md5").hex() == (
        "526f5eed9fcce26f8964c2930787d82b"
    )


def test_rfc3414_a3_2_sha_vector() -> None:
    """RFC 3414 A.3.2: "maplesyrup" → Ku and Kul with SHA-1."""
    assert usm.password_to_key(b"maplesyrup", "sha1").hex() == (
        "9fb5cc0381497b3793528939ff788d5d79145211"
    )
    assert usm.localized_key(b"maplesyrup", RFC_ENGINE, "sha1").hex() == (
        "6695febc9288e36282235fc7151f128497b38f3f"
    )


@pytest.mark.parametrize("auth", list(PYSNMP_AUTH))
def test_auth_keys_match_pysnmp(auth: str) -> None:
    """Every auth protocol's localised key equals pysnmp's password_to_key (RFC 7860 for SHA-2)."""
    _, hash_func = PYSNMP_AUTH[auth]
    ref = localkey.password_to_key(b"authpass123", univ.OctetString(ENGINE), hash_func)
    assert usm.keys_for(user(auth, None), ENGINE).auth == bytes(ref)


@pytest.mark.parametrize("auth", list(PYSNMP_AUTH))
@pytest.mark.parametrize(
    ("priv", "service"),
    [
        ("DES", des.Des()),
        ("AES", aes.Aes()),
        ("AES192", aes192.Aes192()),
        ("AES256", aes256.Aes256()),
    ],
)
def test_priv_keys_match_pysnmp_defaults(auth: str, priv: str, service: Any) -> None:
    """Privacy keys equal pysnmp's (AES-192/256: its default Reeder extension, as Cisco's)."""
    service_id, _ = PYSNMP_AUTH[auth]
    ku = service.hash_passphrase(service_id, b"privpass123")
    ref = service.localize_key(service_id, ku, univ.OctetString(ENGINE))
    assert (
        usm.keys_for(user(auth, priv), ENGINE).priv
        == bytes(ref)[: usm.PRIV_PROTOCOLS[priv].key_len]
    )


def test_empty_password_is_refused() -> None:
    """An empty key cannot be stretched (RFC 3414 needs at least one byte)."""
    with pytest.raises(ValueError, match="empty"):
        usm.password_to_key(b"", "sha1")


# ---------------------------------------------------------------- privacy


@pytest.mark.parametrize(
    ("priv", "service"), [("DES", des.Des()), ("AES", aes.Aes()), ("AES256", aes256.Aes256())]
)
def test_pysnmp_decrypts_ours_and_we_decrypt_pysnmps(priv: str, service: Any) -> None:
    """Ciphertext round-trips both ways between usm.py and pysnmp's DES/AES services."""
    key = usm.keys_for(user("SHA", priv), ENGINE).priv
    spec = usm.PRIV_PROTOCOLS[priv]
    plain = usm.scoped_pdu(ENGINE, b"ctx", pdu(42, VARBINDS))
    cipher, params = usm.encrypt(spec, key, 7, 4242, 0x0102030405060708, plain)
    theirs = service.decrypt_data(
        univ.OctetString(key), (7, 4242, univ.OctetString(params)), univ.OctetString(cipher)
    )
    assert theirs[: len(plain)] == plain
    their_cipher, their_params = service.encrypt_data(univ.OctetString(key), (7, 4242, None), plain)
    ours = usm.decrypt(spec, key, 7, 4242, bytes(their_params), bytes(their_cipher))
    assert ours[: len(plain)] == plain


def test_wrong_privacy_key_decrypts_to_garbage_not_a_pdu() -> None:
    """A scopedPDU decrypted with another key does not parse (that is how a wrong key shows)."""
    good = usm.keys_for(user("SHA", "AES"), ENGINE).priv
    bad = usm.keys_for(
        usm.UsmUser(
            b"x", usm.AUTH_PROTOCOLS["SHA"], b"a" * 8, usm.PRIV_PROTOCOLS["AES"], b"wrong-priv-123"
        ),
        ENGINE,
    ).priv
    plain = usm.scoped_pdu(ENGINE, b"", pdu(42, VARBINDS))
    cipher, params = usm.encrypt(usm.PRIV_PROTOCOLS["AES"], good, 1, 2, 3, plain)
    garbage = usm.decrypt(usm.PRIV_PROTOCOLS["AES"], bad, 1, 2, params, cipher)
    with pytest.raises(ber.BerError):
        usm.parse_scoped(garbage)


# ---------------------------------------------------------------- messages


@pytest.mark.parametrize("auth", list(PYSNMP_AUTH))
@pytest.mark.parametrize("priv", [None, "DES", "AES", "AES192", "AES256"])
def test_pysnmp_reads_and_authenticates_our_request(auth: str, priv: str | None) -> None:
    """Our authPriv/authNoPriv GETBULK is a valid RFC 3412 message to pyasn1: fields, HMAC
    (pysnmp's verifier) and the decrypted scopedPDU."""
    u = user(auth, priv)
    keys = usm.keys_for(u, ENGINE)
    request = usm.encode_pdu(ber.GETBULK, 4711, [(1, 3, 6, 1, 2, 1, 2, 2, 1, 10)], 25)
    scoped = usm.scoped_pdu(ENGINE, b"iosxe", request)
    data = usm.encode_message(4711, u, keys, ENGINE, 5, 777, scoped, salt=12345)
    message, rest = decoder.decode(data, asn1Spec=SNMPv3Message())
    assert rest == b""
    header = message["msgGlobalData"]
    assert (int(header["msgID"]), int(header["msgSecurityModel"])) == (4711, 3)
    assert bytes(header["msgFlags"]) == bytes((0x05 | (0x02 if priv else 0),))
    params, _ = decoder.decode(
        bytes(message["msgSecurityParameters"]), asn1Spec=UsmSecurityParameters()
    )
    assert bytes(params["msgAuthoritativeEngineId"]) == ENGINE
    assert (
        int(params["msgAuthoritativeEngineBoots"]),
        int(params["msgAuthoritativeEngineTime"]),
    ) == (5, 777)
    assert bytes(params["msgUserName"]) == b"netmon"
    service_id, _ = PYSNMP_AUTH[auth]
    verifier = {
        "MD5": hmacmd5.HmacMd5(),
        "SHA": hmacsha.HmacSha(),
    }.get(auth) or hmacsha2.HmacSha2(service_id)
    verifier.authenticate_incoming_message(
        univ.OctetString(keys.auth), params["msgAuthenticationParameters"], data
    )  # raises on a bad HMAC
    payload = message["msgData"]
    if priv:
        service = {
            "DES": des.Des(),
            "AES": aes.Aes(),
            "AES192": aes192.Aes192(),
            "AES256": aes256.Aes256(),
        }[priv]
        plain = service.decrypt_data(
            univ.OctetString(keys.priv),
            (5, 777, params["msgPrivacyParameters"]),
            payload["encryptedPDU"],
        )
        got, _ = decoder.decode(plain, asn1Spec=ScopedPDU())
    else:
        got = payload["plaintext"]
    assert bytes(got["contextName"]) == b"iosxe"
    assert int(got["data"]["get-bulk-request"]["max-repetitions"]) == 25


@settings(max_examples=100, deadline=None)
@given(
    msg_id=st.integers(0, 2**31 - 1),
    boots=st.integers(0, 2**31 - 1),
    time=st.integers(0, 2**31 - 1),
    engine_id=st.binary(min_size=5, max_size=32),
    priv=st.sampled_from([None, "DES", "AES", "AES256"]),
    context=st.binary(max_size=40),
)
def test_encode_parse_round_trip(
    msg_id: int, boots: int, time: int, engine_id: bytes, priv: str | None, context: bytes
) -> None:
    """Any message we encode parses back to its fields, authenticates and decrypts to its PDU."""
    u = user("SHA256", priv)
    keys = usm.keys_for(u, engine_id)
    scoped = usm.scoped_pdu(engine_id, context, pdu(msg_id, VARBINDS))
    data = usm.encode_message(msg_id, u, keys, engine_id, boots, time, scoped, salt=boots)
    incoming = usm.parse_message(data)
    assert (incoming.msg_id, incoming.engine_id, incoming.boots, incoming.time, incoming.user) == (
        msg_id, engine_id, boots, time, b"netmon",
    )  # fmt: skip
    assert usm.authentic(data, incoming, usm.AUTH_PROTOCOLS["SHA256"], keys.auth)
    plain = incoming.data
    if priv:
        plain = usm.decrypt(
            usm.PRIV_PROTOCOLS[priv], keys.priv, boots, time, incoming.priv_params, plain
        )
    got = usm.parse_scoped(plain)
    assert (got.context_engine_id, got.context_name) == (engine_id, context)
    assert (got.response.request_id, got.response.varbinds) == (msg_id, VARBINDS)


def test_a_changed_byte_fails_authentication() -> None:
    """Flipping any byte of an authenticated message makes it unparseable or its HMAC fail."""
    u = user("SHA", "AES")
    assert u.auth is not None
    keys = usm.keys_for(u, ENGINE)
    data = agent_message(u, 5, VARBINDS)
    assert usm.authentic(data, usm.parse_message(data), u.auth, keys.auth)
    for i in range(len(data)):
        tampered = data[:i] + bytes((data[i] ^ 0x01,)) + data[i + 1 :]
        try:
            incoming = usm.parse_message(tampered)
        except ber.BerError:
            continue
        assert not usm.authentic(tampered, incoming, u.auth, keys.auth), i


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_receive_path(data: bytes) -> None:
    """parse_message, parse_scoped and the client's decoder (which runs inside the engine's
    datagram callback) raise BerError or a CollectError, never anything else."""
    with contextlib.suppress(ber.BerError):
        usm.parse_message(data)
    with contextlib.suppress(ber.BerError):
        usm.parse_scoped(data)
    with contextlib.suppress(ber.BerError, CollectError):
        CLIENT._decode(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 400), st.integers(1, 255))
def test_corrupted_answers_never_crash_the_receive_path(position: int, xor: int) -> None:
    """A real authPriv answer with one byte changed: BerError, CollectError or a Discard
    verdict (the engine drops that datagram) only."""
    data = bytearray(ANSWER)
    data[position % len(data)] ^= xor
    with contextlib.suppress(ber.BerError, CollectError, Discard):
        CLIENT._decode(bytes(data))


def test_time_window() -> None:
    """RFC 3414 3.2.7: older boots, or the same boots 150 s behind the latest, are stale."""
    assert usm.in_time_window(3, 1000, 3, 900)
    assert usm.in_time_window(4, 0, 3, 900)
    assert usm.in_time_window(3, 851, 3, 1000)
    assert not usm.in_time_window(3, 849, 3, 1000)
    assert not usm.in_time_window(2, 5000, 3, 10)
    assert not usm.in_time_window(0x7FFFFFFF, 1, 3, 10)


def test_peer_engine_time_estimate_advances_with_local_time() -> None:
    """The engine time we send is what we heard plus the local seconds since."""
    peer = PeerEngine(ENGINE, 3, 1000, at_s=50.0, latest_time=1000)
    assert peer.now(50.0) == (3, 1000)
    assert peer.now(80.9) == (3, 1030)
    peer.heard(3, 1020, 60.0)
    assert peer.now(70.0) == (3, 1030)
    peer.heard(3, 900, 70.0)  # older: ignored
    assert peer.now(70.0) == (3, 1030)
    peer.heard(4, 5, 70.0)  # restarted
    assert peer.now(71.0) == (4, 6)


# ---------------------------------------------------------------- the client's receive path


def target(**changes: Any) -> SnmpTarget:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "version": "3",
        "user": "netmon",
        "auth_protocol": "SHA",
        "auth_key": Secret("authpass123"),
        "priv_protocol": "AES",
        "priv_key": Secret("privpass123"),
    }
    return SnmpTarget(**{**base, **changes})


def discovered_client(**changes: Any) -> UsmClient:
    """A client that has discovered ENGINE (boots 3, time 1000) and waits for msgID 77."""
    client = UsmClient(target(**changes), UdpEngine())
    report = usm.parse_message(agent_message(user(None, None, b""), 1, [], engine_id=ENGINE))
    client._adopt(report)
    client._expect = (77,)
    return client


CLIENT = discovered_client()
ANSWER = agent_message(user(), 77, VARBINDS)


def test_client_decodes_an_authentic_encrypted_response() -> None:
    """An authPriv Response from the discovered engine decodes to its varbinds."""
    client = discovered_client()
    response = client._decode(agent_message(user(), 77, VARBINDS))
    assert response.varbinds == VARBINDS


@pytest.mark.parametrize(
    ("oid", "word"),
    [
        (usm.WRONG_DIGESTS, "wrong digest"),
        (usm.UNKNOWN_USER_NAMES, "unknown user"),
        (usm.UNSUPPORTED_SEC_LEVELS, "unsupported security level"),
        (usm.DECRYPTION_ERRORS, "decryption error"),
    ],
)
def test_usmstats_reports_become_auth_errors(oid: ber.OID, word: str) -> None:
    """An unauthenticated usmStats report is a UsmReport, which the client turns into an
    AuthError saying "authentication failed" and which check failed, with no secret."""
    client = discovered_client()
    data = agent_message(user(None, None), 77, [(oid, ber.COUNTER32, 1)], pdu_type=ber.REPORT)
    with pytest.raises(UsmReport) as caught:
        client._decode(data)
    error = client._report_error(caught.value)
    assert isinstance(error, AuthError)
    assert "authentication failed" in str(error)
    assert word in str(error)
    assert "authpass123" not in str(error)
    assert "privpass123" not in str(error)


def test_tampered_response_is_discarded() -> None:
    """A response whose HMAC does not verify is discarded before anything in it is used; the
    request fails with an AuthError only if no authentic answer follows."""
    client = discovered_client()
    data = agent_message(user(), 77, VARBINDS)
    tampered = data[:-1] + bytes((data[-1] ^ 0xFF,))
    with pytest.raises(Discard) as verdict:
        client._decode(tampered)
    assert isinstance(verdict.value.error, AuthError)
    assert "HMAC" in str(verdict.value.error)


def test_response_encrypted_with_another_privacy_key_says_so() -> None:
    """Authentic but undecryptable (other privacy key): AuthError naming the privacy key."""
    client = discovered_client()
    other = usm.UsmUser(
        b"netmon",
        usm.AUTH_PROTOCOLS["SHA"],
        b"authpass123",
        usm.PRIV_PROTOCOLS["AES"],
        b"otherpriv99",
    )
    with pytest.raises(AuthError, match="privacy key"):
        client._decode(agent_message(other, 77, VARBINDS))


def test_response_from_another_engine_is_refused() -> None:
    """An authentic response whose engine ID is not the discovered one is a protocol error."""
    client = discovered_client()
    other_engine = b"\x80\x00\x00\x00\x01other"
    data = agent_message(
        user(), 77, VARBINDS, engine_id=other_engine, keys=usm.keys_for(user(), ENGINE)
    )
    with pytest.raises(ProtocolError, match="another SNMP engine"):
        client._decode(data)


def test_unauthenticated_response_to_an_authenticated_request_is_refused() -> None:
    """A noAuthNoPriv Response to an authPriv request is never trusted."""
    client = discovered_client()
    with pytest.raises(Discard, match="unauthenticated"):
        client._decode(agent_message(user(None, None), 77, VARBINDS))


def test_stale_authentic_response_is_refused() -> None:
    """An authentic response from an earlier boot (a replay) is refused."""
    client = discovered_client()
    with pytest.raises(Discard, match="time window"):
        client._decode(agent_message(user(), 77, VARBINDS, boots=2))


def test_response_to_another_msgid_is_refused() -> None:
    """The PDU's request-id must be the msgID we sent."""
    client = discovered_client()
    client._expect = (78,)
    with pytest.raises(ProtocolError):
        client._decode(agent_message(user(), 77, VARBINDS))


def test_authentic_time_window_report_resyncs_the_clock() -> None:
    """A notInTimeWindows report that authenticates carries the agent's new boots/time."""
    client = discovered_client()
    data = agent_message(
        user(), 77, [(usm.NOT_IN_TIME_WINDOWS, ber.COUNTER32, 1)], pdu_type=ber.REPORT,
        boots=4, time=12, flags=usm.FLAG_AUTH,
    )  # fmt: skip
    with pytest.raises(UsmReport) as caught:
        client._decode(data)
    assert caught.value.authenticated
    client._resync(caught.value)
    assert client._peer is not None
    assert (client._peer.boots, client._peer.time) == (4, 12)


def test_unauthenticated_time_window_report_is_not_trusted() -> None:
    """Without a valid HMAC, a notInTimeWindows report cannot move our clock."""
    client = discovered_client()
    data = agent_message(
        user(None, None), 77, [(usm.NOT_IN_TIME_WINDOWS, ber.COUNTER32, 1)],
        pdu_type=ber.REPORT, boots=9, time=1,
    )  # fmt: skip
    with pytest.raises(UsmReport) as caught:
        client._decode(data)
    with pytest.raises(ProtocolError, match="not trusted"):
        client._resync(caught.value)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"auth_protocol": None, "auth_key": None}, "privacy needs an auth protocol"),
        ({"priv_key": None}, "without its key"),
    ],
)
def test_invalid_user_settings_are_setup_errors(changes: dict[str, Any], words: str) -> None:
    """Privacy without auth, or a protocol without its key, is refused at setup."""
    with pytest.raises(CollectError, match=words):
        usm_user(target(**changes))
    assert not UsmClient.supports(target(**changes))


def test_user_repr_shows_no_password() -> None:
    """Passwords and keys never show in a repr (logs, tracebacks)."""
    u = usm_user(target())
    keys = usm.keys_for(u, ENGINE)
    assert "authpass123" not in repr(u)
    assert "privpass123" not in repr(u)
    assert keys.auth.hex() not in repr(keys)


@pytest.mark.parametrize("auth", list(PYSNMP_AUTH))
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1450])
def test_cached_hmac_and_cfb_equal_the_library_ones(auth: str, size: int) -> None:
    """The cached-pad HMAC equals hmac.digest and the ECB-based CFB decryption equals a
    CFB decryptor, for every hash and lengths around the block size."""
    spec = usm.AUTH_PROTOCOLS[auth]
    key = usm.keys_for(user(auth, "AES256"), ENGINE)
    data = bytes(range(256)) * 6
    data = data[:size]
    assert usm.hmac_digest(key.auth, spec.hash_name, data) == hmac.digest(
        key.auth, data, spec.hash_name
    )
    iv = bytes(range(16))
    reference = Cipher(algorithms.AES(key.priv), CFB(iv)).decryptor()
    expected = reference.update(data) + reference.finalize()
    assert (
        usm.decrypt(usm.PRIV_PROTOCOLS["AES256"], key.priv, 0x00010203, 0x04050607, iv[8:], data)
        == expected
    )
