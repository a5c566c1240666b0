"""The pysnmp 7 (asyncio) implementation of chmd's SNMP interface: the reference.

The tests compare chmd's own clients (`FastClient`, and `UsmClient` for SNMPv3) with it, and
the collector falls back to it for a v3 target `UsmClient.supports()` refuses. pysnmp
handles USM (MD5/SHA/SHA-2 auth, DES/AES priv), engine discovery and the time window. Its
error indications are translated here, once: usmStats reports → `AuthError`
("authentication failed"), a timeout → `CollectTimeout`. pysnmp is imported lazily, so a
daemon polling only v1/v2c never loads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chmd.collect.snmp import ber
from chmd.collect.snmp.ber import OID, VarBind
from chmd.collect.snmp.client import SnmpTarget, _Requester
from chmd.errors import AuthError, CollectError, CollectTimeout, ProtocolError

_AUTH_FAILURES = {
    "UnknownUserName",
    "WrongDigest",
    "DecryptionError",
    "UnknownSecurityName",
    "UnsupportedSecurityLevel",
    "AuthenticationFailure",
    "AuthenticationError",
    "UnknownCommunityName",
}


def _pysnmp_tag(value: Any) -> tuple[int, ber.Value]:
    from pysnmp.proto import rfc1902, rfc1905

    name = type(value).__name__
    if isinstance(value, rfc1905.NoSuchObject):
        return ber.NO_SUCH_OBJECT, None
    if isinstance(value, rfc1905.NoSuchInstance):
        return ber.NO_SUCH_INSTANCE, None
    if isinstance(value, rfc1905.EndOfMibView):
        return ber.END_OF_MIB_VIEW, None
    tags = {
        "Counter32": ber.COUNTER32,
        "Gauge32": ber.GAUGE32,
        "Unsigned32": ber.GAUGE32,
        "TimeTicks": ber.TIMETICKS,
        "Counter64": ber.COUNTER64,
        "Integer32": ber.INTEGER,
        "Integer": ber.INTEGER,
    }
    if name in tags:
        return tags[name], int(value)
    if isinstance(value, rfc1902.IpAddress):
        return ber.IP_ADDRESS, ".".join(str(b) for b in value.asOctets())
    if isinstance(value, rfc1902.Opaque):
        return ber.OPAQUE, bytes(value.asOctets())
    if isinstance(value, rfc1902.OctetString):
        return ber.OCTET_STRING, bytes(value.asOctets())
    if name in ("ObjectIdentifier", "ObjectName"):
        return ber.OBJECT_ID, tuple(value)
    if name == "Null":
        return ber.NULL, None
    raise ProtocolError(f"unexpected value type {name}")


class PysnmpClient(_Requester):
    """Any version through pysnmp 7's asyncio hlapi. One `SnmpEngine` per event loop."""

    def __init__(self, target: SnmpTarget, engine: Any) -> None:
        super().__init__(target)
        self._engine = engine
        self._auth: Any = None
        self._transport: Any = None
        self._context: Any = None

    async def _agent_answers(self) -> bool:
        """net-snmp drops requests it cannot decrypt without a report: tell that from silence."""
        return await _probe(self._engine, self.target)

    async def _setup(self) -> None:
        from pysnmp.hlapi.v3arch import asyncio as hl

        t = self.target
        if t.version == "3":
            auth = {
                None: hl.usmNoAuthProtocol,
                "MD5": hl.usmHMACMD5AuthProtocol,
                "SHA": hl.usmHMACSHAAuthProtocol,
                "SHA224": hl.usmHMAC128SHA224AuthProtocol,
                "SHA256": hl.usmHMAC192SHA256AuthProtocol,
                "SHA384": hl.usmHMAC256SHA384AuthProtocol,
                "SHA512": hl.usmHMAC384SHA512AuthProtocol,
            }[t.auth_protocol]
            priv = {
                None: hl.usmNoPrivProtocol,
                "DES": hl.usmDESPrivProtocol,
                "AES": hl.usmAesCfb128Protocol,
                "AES128": hl.usmAesCfb128Protocol,
                "AES192": hl.usmAesCfb192Protocol,
                "AES256": hl.usmAesCfb256Protocol,
            }[t.priv_protocol]
            self._auth = hl.UsmUserData(
                t.user or "",
                authKey=t.auth_key.reveal() if t.auth_key else None,
                privKey=t.priv_key.reveal() if t.priv_key else None,
                authProtocol=auth,
                privProtocol=priv,
            )
        else:
            if t.community is None:
                raise CollectError("SNMP v1/v2c needs a community", step="setup")
            self._auth = hl.CommunityData(
                t.community.reveal(), mpModel=0 if t.version == "1" else 1
            )
        self._transport = await hl.UdpTransportTarget.create(
            (t.host, t.port), timeout=t.timeout_s, retries=t.retries
        )
        self._context = hl.ContextData(contextName=t.context)

    async def _request(
        self, pdu: int, oids: Sequence[OID], max_repetitions: int = 0
    ) -> tuple[int, int, list[VarBind]]:
        from pysnmp.hlapi.v3arch import asyncio as hl

        if self._auth is None:
            await self._setup()
        objs = [hl.ObjectType(hl.ObjectIdentity(ber.format_oid(o))) for o in oids]
        common = (self._engine, self._auth, self._transport, self._context)
        if pdu == ber.GET:
            result = await hl.get_cmd(*common, *objs, lookupMib=False)
        elif pdu == ber.GETNEXT:
            result = await hl.next_cmd(*common, *objs, lookupMib=False)
        else:
            result = await hl.bulk_cmd(*common, 0, max_repetitions, *objs, lookupMib=False)
        indication, status, index, var_binds = result
        if indication:
            kind = type(indication).__name__
            if kind in _AUTH_FAILURES:
                raise AuthError(f"authentication failed ({indication})")
            if kind == "RequestTimedOut":
                if self.target.version == "3" and await self._agent_answers():
                    raise AuthError(
                        "authentication failed (the agent answers but not to our encrypted"
                        " requests: wrong privacy key or protocol?)"
                    )
                raise CollectTimeout(f"no response from {self.target.host}:{self.target.port}")
            raise ProtocolError(f"{kind}: {indication}")
        out: list[VarBind] = []
        for name, value in var_binds:
            tag, decoded = _pysnmp_tag(value)
            out.append((tuple(name), tag, decoded))
        return int(status), int(index), out


async def _probe(engine: Any, target: SnmpTarget) -> bool:
    """Does the agent answer an unauthenticated v3 request (with a report) at all?"""
    from pysnmp.hlapi.v3arch import asyncio as hl

    transport = await hl.UdpTransportTarget.create(
        (target.host, target.port), timeout=target.timeout_s, retries=0
    )
    result = await hl.get_cmd(
        engine,
        hl.UsmUserData(target.user or ""),  # noqa: S509 - a reachability probe; reads nothing
        transport,
        hl.ContextData(),
        hl.ObjectType(hl.ObjectIdentity("1.3.6.1.2.1.1.3.0")),
        lookupMib=False,
    )
    return type(result[0]).__name__ != "RequestTimedOut"


def new_pysnmp_engine() -> Any:
    """A pysnmp SnmpEngine (use one per event loop; close it with `close_pysnmp_engine`)."""
    from pysnmp.hlapi.v3arch import asyncio as hl

    return hl.SnmpEngine()


def close_pysnmp_engine(engine: Any) -> None:
    engine.close_dispatcher()
