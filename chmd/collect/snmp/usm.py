"""SNMPv3 User-based Security Model, pure: keys, HMAC, privacy and the RFC 3412 message.

* Keys (RFC 3414 A.2, RFC 7860 9.3): a password is stretched to 1 MB and hashed (Ku), then
  localised to the agent's engine ID (Kul = H(Ku | engineID | Ku)). Both steps are cached: Ku
  per (password, hash), Kul per (Ku, engine ID).
* Authentication: HMAC over the whole message with the localised key, truncated to 12 bytes
  (MD5, SHA-1) or 16/24/32/48 (SHA-224/256/384/512, RFC 7860).
* Privacy: DES-CBC (RFC 3414 8.1.1) and AES-CFB-128 (RFC 3826). AES-192/256 extend the
  localised key the way pysnmp's default `usmAesCfb192/256Protocol` and Cisco do (Reeder
  draft: hash the key so far as a password, localise, append); net-snmp calls that
  `AES-192-C`/`AES-256-C` (its own `AES-192` is the Blumenthal extension, not supported here).

Nothing here reads a clock or a socket: engine boots/time and salts are arguments. The
scoped PDU inside is chmd's BER codec's (`ber.py`) GET/GETNEXT/GETBULK PDU.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from chmd.collect.snmp import ber
from chmd.collect.snmp.ber import OID, BerError, length_octets, tlv

FLAG_AUTH: Final = 0x01
FLAG_PRIV: Final = 0x02
FLAG_REPORTABLE: Final = 0x04
USM: Final = 3  # msgSecurityModel
MAX_SIZE: Final = 65507  # msgMaxSize we accept (what pysnmp sends)

# usmStats counters an agent reports (RFC 3414 5): the last arc names the problem
USM_STATS: Final = (1, 3, 6, 1, 6, 3, 15, 1, 1)
UNSUPPORTED_SEC_LEVELS: Final = (*USM_STATS, 1, 0)
NOT_IN_TIME_WINDOWS: Final = (*USM_STATS, 2, 0)
UNKNOWN_USER_NAMES: Final = (*USM_STATS, 3, 0)
UNKNOWN_ENGINE_IDS: Final = (*USM_STATS, 4, 0)
WRONG_DIGESTS: Final = (*USM_STATS, 5, 0)
DECRYPTION_ERRORS: Final = (*USM_STATS, 6, 0)
REPORT_NAMES: Final[dict[OID, str]] = {
    UNSUPPORTED_SEC_LEVELS: "usmStatsUnsupportedSecLevels",
    NOT_IN_TIME_WINDOWS: "usmStatsNotInTimeWindows",
    UNKNOWN_USER_NAMES: "usmStatsUnknownUserNames",
    UNKNOWN_ENGINE_IDS: "usmStatsUnknownEngineIDs",
    WRONG_DIGESTS: "usmStatsWrongDigests",
    DECRYPTION_ERRORS: "usmStatsDecryptionErrors",
}
TIME_WINDOW_S: Final = 150  # RFC 3414 3.2.7


@dataclass(frozen=True, slots=True)
class AuthSpec:
    hash_name: str
    mac_len: int  # bytes of the HMAC carried in msgAuthenticationParameters


@dataclass(frozen=True, slots=True)
class PrivSpec:
    cipher: str  # "des" | "aes"
    key_len: int  # bytes of localised key the cipher needs (DES: key + pre-IV)


AUTH_PROTOCOLS: Final[dict[str, AuthSpec]] = {
    "MD5": AuthSpec("md5", 12),
    "SHA": AuthSpec("sha1", 12),
    "SHA224": AuthSpec("sha224", 16),
    "SHA256": AuthSpec("sha256", 24),
    "SHA384": AuthSpec("sha384", 32),
    "SHA512": AuthSpec("sha512", 48),
}
PRIV_PROTOCOLS: Final[dict[str, PrivSpec]] = {
    "DES": PrivSpec("des", 16),
    "AES": PrivSpec("aes", 16),
    "AES128": PrivSpec("aes", 16),
    "AES192": PrivSpec("aes", 24),
    "AES256": PrivSpec("aes", 32),
}


# ---------------------------------------------------------------- keys


@functools.lru_cache(maxsize=256)
def password_to_key(password: bytes, hash_name: str) -> bytes:
    """Ku (RFC 3414 A.2): the hash of the password repeated to 1 MB (1,048,576 bytes)."""
    if not password:
        raise ValueError("an SNMPv3 key must not be empty")
    stretched = (password * (1_048_576 // len(password) + 1))[:1_048_576]
    return hashlib.new(hash_name, stretched).digest()


@functools.lru_cache(maxsize=4096)
def localize_key(ku: bytes, engine_id: bytes, hash_name: str) -> bytes:
    """Kul = H(Ku | engineID | Ku) (RFC 3414 A.2)."""
    return hashlib.new(hash_name, ku + engine_id + ku).digest()


def localized_key(password: bytes, engine_id: bytes, hash_name: str, size: int = 0) -> bytes:
    """The localised key, extended to `size` bytes when the hash is shorter (Reeder: the key
    so far is hashed as a password and localised again, as pysnmp's default AES-192/256)."""
    key = localize_key(password_to_key(password, hash_name), engine_id, hash_name)
    while len(key) < size:
        key += localize_key(password_to_key(key, hash_name), engine_id, hash_name)
    return key[:size] if size else key


@dataclass(frozen=True, slots=True)
class UsmUser:
    """A v3 user: name, protocols and passwords (passwords never shown in a repr)."""

    name: bytes
    auth: AuthSpec | None = None
    auth_password: bytes = field(default=b"", repr=False)
    priv: PrivSpec | None = None
    priv_password: bytes = field(default=b"", repr=False)

    @property
    def flags(self) -> int:
        """msgFlags of our requests: the security level, and reportable."""
        return FLAG_REPORTABLE | (FLAG_AUTH if self.auth else 0) | (FLAG_PRIV if self.priv else 0)


@dataclass(frozen=True, slots=True)
class UsmKeys:
    auth: bytes = field(repr=False)
    priv: bytes = field(repr=False)


def keys_for(user: UsmUser, engine_id: bytes) -> UsmKeys:
    """The user's keys localised to one engine (each 1 MB hash is computed once per process)."""
    if user.auth is None:
        return UsmKeys(b"", b"")
    hash_name = user.auth.hash_name
    auth = localized_key(user.auth_password, engine_id, hash_name)
    priv = b""
    if user.priv is not None:
        priv = localized_key(user.priv_password, engine_id, hash_name, user.priv.key_len)
    return UsmKeys(auth, priv)


# ---------------------------------------------------------------- encoding


def _int(value: int) -> bytes:
    body = value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)  # < 128 bytes
    return bytes((0x02, len(body))) + body


_V2C_HEAD: Final = b"\x02\x01\x01\x04\x00"  # version 1 (v2c), empty community


def encode_pdu(
    pdu_type: int, request_id: int, oids: list[OID] | tuple[OID, ...], max_repetitions: int = 0
) -> bytes:
    """The PDU TLV alone, cut from ber.py's v2c message with an empty community."""
    message = ber.encode_request(ber.V2C, b"", pdu_type, request_id, oids, 0, max_repetitions)
    pos = 2 if message[1] < 0x80 else 2 + (message[1] & 0x7F)
    return message[pos + len(_V2C_HEAD) :]


def scoped_pdu(context_engine_id: bytes, context_name: bytes, pdu: bytes) -> bytes:
    head = _scoped_head(context_engine_id, context_name)
    return b"".join((b"\x30", length_octets(len(head) + len(pdu)), head, pdu))


@functools.lru_cache(maxsize=4096)
def _scoped_head(context_engine_id: bytes, context_name: bytes) -> bytes:
    return tlv(0x04, context_engine_id) + tlv(0x04, context_name)


@functools.lru_cache(maxsize=1024)
def _algorithm(cipher: str, key: bytes) -> algorithms.AES | TripleDES:
    """The cipher's key object, built (and validated) once per key."""
    if cipher == "des":
        return TripleDES(key * 3)  # one 8-byte key thrice = single DES
    return algorithms.AES(key)


def _des(key: bytes, iv: bytes) -> Cipher[modes.CBC]:
    return Cipher(_algorithm("des", key), modes.CBC(iv))


def encrypt(
    priv: PrivSpec, key: bytes, boots: int, time: int, salt: int, plain: bytes
) -> tuple[bytes, bytes]:
    """(ciphertext, msgPrivacyParameters). `salt` is the sender's counter (64-bit for AES,
    its low 32 bits for DES)."""
    if priv.cipher == "des":  # RFC 3414 8.1.1.1: salt = boots | counter, IV = pre-IV xor salt
        params = boots.to_bytes(4, "big") + (salt & 0xFFFFFFFF).to_bytes(4, "big")
        iv = bytes(a ^ b for a, b in zip(key[8:16], params, strict=True))
        plain += b"\x00" * (-len(plain) % 8)
        encryptor = _des(key[:8], iv).encryptor()
    else:  # RFC 3826 3.1.2.1: IV = boots | time | salt
        params = (salt & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")
        iv = boots.to_bytes(4, "big") + time.to_bytes(4, "big") + params
        encryptor = Cipher(_algorithm("aes", key), CFB(iv)).encryptor()
    return encryptor.update(plain) + encryptor.finalize(), params


def decrypt(priv: PrivSpec, key: bytes, boots: int, time: int, params: bytes, data: bytes) -> bytes:
    """The plaintext (DES: with its padding). Raises BerError on impossible parameters."""
    if priv.cipher == "des":
        if len(params) != 8 or len(data) % 8:
            raise BerError("bad DES privacy parameters or length")
        iv = bytes(a ^ b for a, b in zip(key[8:16], params, strict=True))
        decryptor = _des(key[:8], iv).decryptor()
    else:
        if len(params) != 8:
            raise BerError("bad AES privacy parameters")
        iv = boots.to_bytes(4, "big") + time.to_bytes(4, "big") + params
        # CFB-128 decryption is P = C xor E(IV | C[:-1 block]): one ECB pass on a context
        # kept per key, rather than a new cipher context per message (the hot path)
        n = len(data)
        stream = _aes_block(key).update(iv + data[: (n - 1) // 16 * 16] if n else b"")
        return (int.from_bytes(data, "big") ^ int.from_bytes(stream[:n], "big")).to_bytes(n, "big")
    return decryptor.update(data) + decryptor.finalize()


@functools.lru_cache(maxsize=1024)
def _aes_block(key: bytes) -> Any:
    """A raw AES block encryptor for `key` (used only in whole blocks, so it holds no state
    between calls; single-threaded use on the event loop)."""
    return Cipher(_algorithm("aes", key), modes.ECB()).encryptor()  # noqa: S305 - the CFB block step


@functools.lru_cache(maxsize=1024)
def _hmac_pads(key: bytes, hash_name: str) -> tuple[Any, Any]:
    """HMAC's keyed inner and outer hash states (RFC 2104), computed once per key."""
    probe = hashlib.new(hash_name)
    block = probe.block_size
    key = key if len(key) <= block else hashlib.new(hash_name, key).digest()
    key = key.ljust(block, b"\x00")
    inner = hashlib.new(hash_name, bytes(b ^ 0x36 for b in key))
    outer = hashlib.new(hash_name, bytes(b ^ 0x5C for b in key))
    return inner, outer


def hmac_digest(key: bytes, hash_name: str, data: bytes) -> bytes:
    """HMAC(key, data) from the cached pads (same result as `hmac.digest`)."""
    inner, outer = _hmac_pads(key, hash_name)
    h = inner.copy()
    h.update(data)
    o = outer.copy()
    o.update(h.digest())
    digest: bytes = o.digest()
    return digest


@functools.lru_cache(maxsize=4096)
def _fixed_parts(
    engine_id: bytes, user_name: bytes, flags: int, mac_len: int
) -> tuple[bytes, bytes, bytes]:
    """The parts of a message that stay the same for one engine, user and security level:
    msgGlobalData after the msgID, the engine ID TLV, and the user name TLV followed by the
    header of msgAuthenticationParameters."""
    return (
        _int(MAX_SIZE) + tlv(0x04, bytes((flags,))) + _int(USM),
        tlv(0x04, engine_id),
        tlv(0x04, user_name) + bytes((0x04, mac_len)),
    )


def encode_message(
    msg_id: int,
    user: UsmUser,
    keys: UsmKeys,
    engine_id: bytes,
    boots: int,
    time: int,
    scoped: bytes,
    *,
    flags: int | None = None,
    salt: int = 0,
) -> bytes:
    """A whole SNMPv3 message: encrypted if the user has privacy, then authenticated if it
    has authentication (`flags` overrides the user's level, e.g. for discovery)."""
    flags = user.flags if flags is None else flags
    if flags & FLAG_PRIV:
        assert user.priv is not None  # noqa: S101 - the flag comes from the user
        cipher, priv_params = encrypt(user.priv, keys.priv, boots, time, salt, scoped)
        tail = b"\x04\x08" + priv_params + tlv(0x04, cipher)
    else:
        tail = b"\x04\x00" + scoped
    auth = user.auth if flags & FLAG_AUTH else None
    mac_len = auth.mac_len if auth is not None else 0
    global_tail, engine_tlv, user_tlv = _fixed_parts(engine_id, user.name, flags, mac_len)
    # msgSecurityParameters up to the MAC's value; the MAC; then privacy parameters + data
    before_mac = engine_tlv + _int(boots) + _int(time) + user_tlv
    security_len = len(before_mac) + mac_len + 2 + (8 if flags & FLAG_PRIV else 0)
    security_head = b"\x30" + length_octets(security_len)
    head = (
        b"\x02\x01\x03"
        + tlv(0x30, _int(msg_id) + global_tail)
        + b"\x04"
        + length_octets(security_len + len(security_head))
        + security_head
        + before_mac
    )
    prefix = b"\x30" + length_octets(len(head) + mac_len + len(tail)) + head
    if auth is None:
        return prefix + tail
    mac = hmac_digest(keys.auth, auth.hash_name, prefix + b"\x00" * mac_len + tail)
    return prefix + mac[:mac_len] + tail


# ---------------------------------------------------------------- decoding


def _header(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    """(start, end) of the value of the TLV at `pos`, which must carry `tag`."""
    if data[pos] != tag:
        raise BerError(f"expected tag 0x{tag:02x}, got 0x{data[pos]:02x}")
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if not 0 < k <= 4:
            raise BerError("bad length")
        n = int.from_bytes(data[pos : pos + k], "big")
        pos += k
    if pos + n > len(data):
        raise BerError("truncated")
    return pos, pos + n


class Incoming(NamedTuple):
    """An SNMPv3 message as received, before authentication and decryption."""

    msg_id: int
    flags: int
    engine_id: bytes
    boots: int
    time: int
    user: bytes
    mac: bytes
    mac_offset: int  # where `mac` sits in the message
    priv_params: bytes
    data: bytes  # the scopedPDU TLV, or the ciphertext when encrypted
    encrypted: bool


def parse_message(data: bytes) -> Incoming:
    """The RFC 3412 envelope and the USM parameters. Raises BerError if malformed."""
    try:
        return _parse(data)
    except IndexError as exc:
        raise BerError("truncated message") from exc


def _short(data: bytes, pos: int, tag: int, limit: int) -> tuple[int, int]:
    """(start, end) of the value of the TLV at `pos`, ending by `limit`; the short form
    (length below 128: every INTEGER and name of a message) without a further call."""
    n = data[pos + 1]
    if data[pos] == tag and n < 0x80:
        start, end = pos + 2, pos + 2 + n
    else:
        start, end = _header(data, pos, tag)  # long form, or the error
    if end > limit:
        raise BerError("truncated")
    return start, end


def _parse(data: bytes) -> Incoming:  # straight-line: this runs for every answer
    from_bytes = int.from_bytes
    pos, end = _header(data, 0, 0x30)
    if data[pos : pos + 3] != b"\x02\x01\x03":
        raise BerError("not an SNMPv3 message")
    pos, global_end = _header(data, pos + 3, 0x30)
    start, pos = _short(data, pos, 0x02, global_end)
    msg_id = from_bytes(data[start:pos], "big", signed=True)
    pos = _short(data, pos, 0x02, global_end)[1]  # msgMaxSize
    start, pos = _short(data, pos, 0x04, global_end)
    if pos - start != 1 or data[pos : pos + 3] != b"\x02\x01\x03" or pos + 3 != global_end:
        raise BerError("unsupported msgFlags or security model")
    flags = data[start]
    start, params_end = _header(data, global_end, 0x04)
    spos, security_end = _header(data, start, 0x30)
    start, spos = _short(data, spos, 0x04, security_end)
    engine_id = data[start:spos]
    start, spos = _short(data, spos, 0x02, security_end)
    boots = from_bytes(data[start:spos], "big", signed=True)
    start, spos = _short(data, spos, 0x02, security_end)
    time = from_bytes(data[start:spos], "big", signed=True)
    start, spos = _short(data, spos, 0x04, security_end)
    user = data[start:spos]
    mac_start, mac_end = _short(data, spos, 0x04, security_end)
    start, spos = _short(data, mac_end, 0x04, security_end)
    priv_params = data[start:spos]
    encrypted = bool(flags & FLAG_PRIV)
    if encrypted:
        cipher_start, cipher_end = _header(data, params_end, 0x04)
    else:
        cipher_start, cipher_end = params_end, _header(data, params_end, 0x30)[1]
    if cipher_end > end:
        raise BerError("truncated message data")
    return Incoming(
        msg_id,
        flags,
        engine_id,
        boots,
        time,
        user,
        data[mac_start:mac_end],
        mac_start,
        priv_params,
        data[cipher_start:cipher_end],
        encrypted,
    )


def authentic(data: bytes, incoming: Incoming, auth: AuthSpec, key: bytes) -> bool:
    """Does the message's HMAC verify with `key` (RFC 3414 6.3.2 / 7.3.2)?"""
    n = len(incoming.mac)
    if n != auth.mac_len:
        return False
    zeroed = data[: incoming.mac_offset] + b"\x00" * n + data[incoming.mac_offset + n :]
    expected = hmac_digest(key, auth.hash_name, zeroed)[:n]
    return hmac.compare_digest(expected, incoming.mac)


class Scoped(NamedTuple):
    """A decoded scopedPDU."""

    context_engine_id: bytes
    context_name: bytes
    pdu_type: int
    response: ber.Response  # the PDU's request-id, error fields and varbinds


def parse_scoped(plain: bytes) -> Scoped:
    """A scopedPDU (trailing DES padding ignored). Raises BerError if malformed, which is
    what a plaintext decrypted with the wrong key looks like."""
    try:
        pos, end = _header(plain, 0, 0x30)
        start, pos = _short(plain, pos, 0x04, end)
        context_engine_id = plain[start:pos]
        start, pos = _short(plain, pos, 0x04, end)
        context_name = plain[start:pos]
        pdu_type = plain[pos]
        pdu_end = _header(plain, pos, pdu_type)[1]
    except IndexError as exc:
        raise BerError("truncated scopedPDU") from exc
    if pdu_end > end or pdu_type not in (ber.RESPONSE, ber.REPORT):
        raise BerError(f"unexpected scopedPDU (PDU type 0x{pdu_type:02x})")
    # ber.py decodes whole v2c messages: wrap the PDU in one (a Report as a Response)
    n = pdu_end - pos + len(_V2C_HEAD)
    response = ber.decode_response(
        b"".join((b"\x30", length_octets(n), _V2C_HEAD, b"\xa2", plain[pos + 1 : pdu_end]))
    )
    return Scoped(context_engine_id, context_name, pdu_type, response)


def in_time_window(
    boots: int, time: int, latest_boots: int, latest_time: int, window_s: int = TIME_WINDOW_S
) -> bool:
    """RFC 3414 3.2.7 b for a non-authoritative receiver: an authentic message whose
    boots/time lie before what we last heard from the engine (minus the window) is stale."""
    if boots >= 0x7FFFFFFF or boots < latest_boots:
        return False
    return not (boots == latest_boots and time < latest_time - window_s)
