"""`UsmClient`: SNMPv3 (USM) on the fast path, over the shared `UdpEngine`.

The messages are built and checked by `usm.py`; this module holds the conversation with one
agent, as pysnmp does it (and `PysnmpClient` stays the reference):

* **Discovery.** The first request is an unauthenticated GET with an empty engine ID; the
  agent's usmStatsUnknownEngineIDs report carries its engine ID, boots and time, kept per
  client (one per device). A later unknownEngineIDs report (the agent got a new engine ID)
  rediscovers and retries once.
* **Time window.** The client keeps an estimate of the agent's snmpEngineTime (what it last
  heard plus the local time since). A usmStatsNotInTimeWindows report (after an agent
  restart: boots went up) that authenticates resyncs the estimate and the request is retried
  once; it never ends as a timeout.
* **Checks on every answer.** The msgID must be ours (the engine matches it, the PDU's
  request-id too), the HMAC must verify before anything in the message is used, the engine
  ID must be the discovered one. An answer whose HMAC fails, an authentic one outside the
  time window (a replay) or an unauthenticated one to an authenticated request is discarded
  (RFC 3414 3.2) and the request waits on for the real answer: a forged datagram cannot end
  a poll. Only if no trustworthy answer comes does the request fail, with that reason.
* **Errors.** usmStatsWrongDigests/UnknownUserNames/UnsupportedSecLevels/DecryptionErrors →
  `AuthError("authentication failed (...)")`; an answer that does not decrypt to BER →
  `AuthError` naming the privacy key; net-snmp drops requests it cannot decrypt, so after a
  timeout one unauthenticated probe tells "wrong privacy key" (the agent answers that) from
  "no agent" (`CollectTimeout`). No key or password is ever part of a message.
"""

from __future__ import annotations

import random
import time
from collections.abc import Container, Sequence
from dataclasses import dataclass

from chmd.collect.snmp import ber, usm
from chmd.collect.snmp.ber import OID, BerError, VarBind
from chmd.collect.snmp.client import SnmpTarget, UdpRequester
from chmd.collect.snmp.transport import Discard, UdpEngine
from chmd.errors import AuthError, CollectError, CollectTimeout, ProtocolError

_AUTH_REPORTS: dict[OID, str] = {
    usm.WRONG_DIGESTS: "wrong digest: auth key or protocol",
    usm.UNKNOWN_USER_NAMES: "unknown user name",
    usm.UNSUPPORTED_SEC_LEVELS: "unsupported security level",
    usm.DECRYPTION_ERRORS: "decryption error: privacy key or protocol",
}
_DISCOVERY_OID: OID = (1, 3, 6, 1, 2, 1, 1, 3, 0)
_NOBODY = usm.UsmUser(b"")  # the user of discovery messages


class UsmReport(ProtocolError):
    """The agent answered with a Report-PDU (a usmStats counter) instead of a Response."""

    def __init__(self, oid: OID, incoming: usm.Incoming, authenticated: bool) -> None:
        name = usm.REPORT_NAMES.get(oid, ber.format_oid(oid))
        super().__init__(f"agent reported {name}")
        self.oid = oid
        self.incoming = incoming
        self.authenticated = authenticated


@dataclass(slots=True)
class PeerEngine:
    """What we know of the authoritative engine: its ID and clock (boots, time at `at_s`)."""

    engine_id: bytes
    boots: int
    time: int
    at_s: float  # local monotonic seconds when `time` was heard
    latest_time: int = 0  # RFC 3414 latestReceivedEngineTime

    def now(self, mono_s: float) -> tuple[int, int]:
        """(boots, time) to put in a request sent at `mono_s`."""
        return self.boots, min(0x7FFFFFFF, self.time + int(mono_s - self.at_s))

    def heard(self, boots: int, engine_time: int, mono_s: float) -> None:
        if boots > self.boots or (boots == self.boots and engine_time > self.latest_time):
            self.boots, self.time, self.at_s, self.latest_time = (
                boots,
                engine_time,
                mono_s,
                engine_time,
            )


def usm_user(target: SnmpTarget) -> usm.UsmUser:
    """The target's v3 user; raises CollectError(step="setup") for an invalid combination."""
    auth = usm.AUTH_PROTOCOLS.get(target.auth_protocol or "")
    priv = usm.PRIV_PROTOCOLS.get(target.priv_protocol or "")
    if target.auth_protocol and auth is None:
        raise CollectError(f"unknown auth protocol {target.auth_protocol}", step="setup")
    if target.priv_protocol and priv is None:
        raise CollectError(f"unknown privacy protocol {target.priv_protocol}", step="setup")
    if priv is not None and auth is None:
        raise CollectError("SNMPv3 privacy needs an auth protocol too", step="setup")
    auth_pw = target.auth_key.reveal().encode() if target.auth_key else b""
    priv_pw = target.priv_key.reveal().encode() if target.priv_key else b""
    if (auth is not None and not auth_pw) or (priv is not None and not priv_pw):
        raise CollectError("SNMPv3 auth/priv protocol given without its key", step="setup")
    return usm.UsmUser((target.user or "").encode(), auth, auth_pw, priv, priv_pw)


class UsmClient(UdpRequester):
    """SNMPv3 with chmd's codec over a shared `UdpEngine` (noAuthNoPriv, authNoPriv, authPriv)."""

    def __init__(self, target: SnmpTarget, engine: UdpEngine) -> None:
        super().__init__(target, engine)
        if not target.user:
            raise CollectError("SNMPv3 needs a user", step="setup")
        self._user = usm_user(target)
        self._context = target.context.encode()
        self._peer: PeerEngine | None = None
        self._keys = usm.UsmKeys(b"", b"")
        self._salt = random.getrandbits(64)  # a counter, as RFC 3826 asks, from a random start
        self._expect: Container[int] = ()  # msgIDs (= PDU request-ids) of requests in flight
        self._decode_bound = self._decode
        self._discover_decode = self._decode_discovery

    @staticmethod
    def supports(target: SnmpTarget) -> bool:
        """Can this client talk to the target (else the collector uses PysnmpClient)?"""
        try:
            usm_user(target)
        except CollectError:
            return False
        return target.version == "3" and bool(target.user)

    # ------------------------------------------------------------ requests

    async def _request(
        self, pdu: int, oids: Sequence[OID], max_repetitions: int = 0
    ) -> tuple[int, int, list[VarBind]]:
        if self._peer is None:
            await self._discover()
        resynced = rediscovered = False
        while True:
            try:
                response = await self._send(pdu, oids, max_repetitions)
            except UsmReport as report:
                if report.oid == usm.NOT_IN_TIME_WINDOWS and not resynced:
                    self._resync(report)
                    resynced = True
                    continue
                if report.oid == usm.UNKNOWN_ENGINE_IDS and not rediscovered:
                    self._adopt(report.incoming)
                    rediscovered = True
                    continue
                raise self._report_error(report) from None
            except CollectTimeout:
                await self._timed_out()
                raise
            return response.error_status, response.error_index, response.varbinds

    def _message(self, pdu: int, oids: Sequence[OID], max_repetitions: int) -> tuple[bytes, int]:
        """(message, msgID) of one request to the discovered engine."""
        peer = self._peer
        assert peer is not None  # noqa: S101 - discovered first
        msg_id = self._engine.next_request_id()
        boots, engine_time = peer.now(time.monotonic())
        self._salt = (self._salt + 1) & 0xFFFFFFFFFFFFFFFF
        scoped = usm.scoped_pdu(
            peer.engine_id, self._context, usm.encode_pdu(pdu, msg_id, tuple(oids), max_repetitions)
        )
        message = usm.encode_message(
            msg_id, self._user, self._keys, peer.engine_id, boots, engine_time, scoped,
            salt=self._salt,
        )  # fmt: skip
        return message, msg_id

    async def get(self, oids: Sequence[OID]) -> list[VarBind]:
        """As FastClient: the packs of one GET go out back to back. A report on any of them
        (clock or engine changed) sends them again one at a time, where `_request` handles it."""
        if len(oids) <= self.target.oids_per_get or self._peer is None:
            return await super().get(oids)
        packs = self._packs(oids)
        messages = [self._message(ber.GET, pack, 0) for pack in packs]
        self._expect = {msg_id for _, msg_id in messages}
        try:
            answers = await self._send_many(messages, self._decode_bound)
        except UsmReport:
            return await super().get(oids)
        except CollectTimeout:
            await self._timed_out()
            raise
        return await self._pack_answers(packs, answers)

    async def _timed_out(self) -> None:
        """A request timed out: raise AuthError if the agent answers an unauthenticated probe
        (net-snmp drops what it cannot decrypt), else return (the timeout stands)."""
        if await self._agent_answers():
            raise AuthError(
                "authentication failed (the agent answers but not to our encrypted"
                " requests: wrong privacy key or protocol?)"
            ) from None

    async def _send(self, pdu: int, oids: Sequence[OID], max_repetitions: int) -> ber.Response:
        address = self._address or await self._resolve()
        message, msg_id = self._message(pdu, oids, max_repetitions)
        self._expect = (msg_id,)
        return await self._engine.request(
            address,
            self._family,
            message,
            msg_id,
            timeout_s=self.target.timeout_s,
            retries=self.target.retries,
            loopback=self._loopback,
            on_send=self._stamp,
            decode=self._decode_bound,
        )

    async def _discover(self, retries: int | None = None) -> usm.Incoming:
        """Engine discovery (RFC 3414 4): an unauthenticated request with no engine ID."""
        address = self._address or await self._resolve()
        msg_id = self._engine.next_request_id()
        scoped = usm.scoped_pdu(b"", b"", usm.encode_pdu(ber.GET, msg_id, (_DISCOVERY_OID,)))
        message = usm.encode_message(  # no user name, as RFC 3414 4 recommends
            msg_id, _NOBODY, self._keys, b"", 0, 0, scoped, flags=usm.FLAG_REPORTABLE
        )
        self._expect = (msg_id,)
        try:
            await self._engine.request(
                address,
                self._family,
                message,
                msg_id,
                timeout_s=self.target.timeout_s,
                retries=self.target.retries if retries is None else retries,
                loopback=self._loopback,
                decode=self._discover_decode,
            )
        except UsmReport as report:
            if report.oid != usm.UNKNOWN_ENGINE_IDS or not report.incoming.engine_id:
                raise self._report_error(report) from None
            if retries is None:
                self._adopt(report.incoming)
            return report.incoming
        raise ProtocolError("the agent answered engine discovery without a report")

    async def _agent_answers(self) -> bool:
        """After a timeout: does the agent answer an unauthenticated discovery at all?"""
        try:
            await self._discover(retries=0)
        except CollectTimeout:
            return False
        except CollectError:
            return True
        return True

    def _adopt(self, incoming: usm.Incoming) -> None:
        """Take the engine ID, boots and time a discovery report carried; localise keys."""
        self._peer = PeerEngine(
            incoming.engine_id, incoming.boots, incoming.time, time.monotonic(), incoming.time
        )
        self._keys = usm.keys_for(self._user, incoming.engine_id)

    def _resync(self, report: UsmReport) -> None:
        """An authentic notInTimeWindows report carries the agent's clock: trust it."""
        peer = self._peer
        incoming = report.incoming
        if peer is None or not report.authenticated or incoming.engine_id != peer.engine_id:
            raise ProtocolError("unauthenticated time-window report: not trusted")
        peer.boots, peer.time, peer.latest_time = incoming.boots, incoming.time, incoming.time
        peer.at_s = time.monotonic()

    def _report_error(self, report: UsmReport) -> CollectError:
        why = _AUTH_REPORTS.get(report.oid)
        if why is not None:
            return AuthError(f"authentication failed ({why}; user {self.target.user!r})")
        if report.oid == usm.NOT_IN_TIME_WINDOWS:
            return ProtocolError("agent reported usmStatsNotInTimeWindows again after a resync")
        return report

    # ------------------------------------------------------------ answers (receive path)

    def _decode_discovery(self, data: bytes) -> ber.Response:
        try:
            incoming = usm.parse_message(data)
            if incoming.encrypted or incoming.flags & usm.FLAG_AUTH:
                raise ProtocolError("authenticated answer to an engine discovery")
            scoped = usm.parse_scoped(incoming.data)
        except (IndexError, ValueError) as exc:  # BerError included: malformed
            raise BerError(str(exc)) from exc
        self._check_pdu(scoped)
        raise self._as_report(scoped, incoming, authenticated=False)

    def _decode(self, data: bytes) -> ber.Response:
        """Authenticate, decrypt and decode an answer (runs in the engine's receive path:
        a CollectError raised here is the request's error)."""
        try:
            incoming = usm.parse_message(data)
        except (IndexError, ValueError) as exc:
            raise BerError(str(exc)) from exc
        peer = self._peer
        user = self._user
        if peer is None or incoming.msg_id not in self._expect:
            raise ProtocolError("answer to a message we did not send")
        authenticated = False
        if incoming.flags & usm.FLAG_AUTH:
            if incoming.engine_id != peer.engine_id:
                raise ProtocolError("authenticated answer from another SNMP engine")
            if user.auth is None or not usm.authentic(data, incoming, user.auth, self._keys.auth):
                raise Discard(AuthError("authentication failed (an answer's HMAC does not verify)"))
            authenticated = True
        plain = incoming.data
        if incoming.encrypted:
            if not authenticated or user.priv is None:
                raise ProtocolError("encrypted answer without authentication")
            try:
                plain = usm.decrypt(
                    user.priv, self._keys.priv, incoming.boots, incoming.time,
                    incoming.priv_params, incoming.data,
                )  # fmt: skip
                scoped = usm.parse_scoped(plain)
            except (IndexError, ValueError) as exc:
                raise AuthError(
                    "authentication failed (the answer does not decrypt: wrong privacy key"
                    " or protocol?)"
                ) from exc
        else:
            try:
                scoped = usm.parse_scoped(plain)
            except (IndexError, ValueError) as exc:
                raise BerError(str(exc)) from exc
        self._check_pdu(scoped)
        if scoped.pdu_type == ber.REPORT:
            raise self._as_report(scoped, incoming, authenticated)
        if user.auth is not None:
            if not authenticated:
                raise Discard(ProtocolError("unauthenticated answer to an authenticated request"))
            if not usm.in_time_window(incoming.boots, incoming.time, peer.boots, peer.latest_time):
                raise Discard(ProtocolError("authentic answer outside the time window (replayed?)"))
            peer.heard(incoming.boots, incoming.time, time.monotonic())
        if incoming.engine_id != peer.engine_id or scoped.context_engine_id != peer.engine_id:
            raise ProtocolError("answer from another SNMP engine")
        return scoped.response

    def _check_pdu(self, scoped: usm.Scoped) -> None:
        request_id = scoped.response.request_id
        if request_id not in self._expect and not (
            scoped.pdu_type == ber.REPORT and request_id == 0
        ):
            raise ProtocolError("answer's request-id is not ours")

    @staticmethod
    def _as_report(scoped: usm.Scoped, incoming: usm.Incoming, authenticated: bool) -> UsmReport:
        varbinds = scoped.response.varbinds
        oid = varbinds[0][0] if varbinds else ()
        return UsmReport(oid, incoming, authenticated)
