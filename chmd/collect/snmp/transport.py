"""The fast path's UDP transport: one non-blocking datagram socket, request-id matching.

One `UdpEngine` serves every v1/v2c (and fast-path v3) device of a process (per address
family). It bounds the requests in flight on its socket (default 64: more overflows the
kernel's receive buffer on a busy host), retries on timeout with the same request-id (a late
answer to the first try still counts), and accepts an answer only from the address the
request went to. `request_many` sends several requests back to back (a device's packed GETs)
and waits for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import random
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chmd.collect.snmp import ber
from chmd.errors import CollectError, CollectTimeout, ParseError, ProtocolError

Address = tuple[str, int]


class Discard(Exception):
    """A decoder's verdict: this datagram is not an answer to trust (a forgery, a replay).

    The engine drops it, counts it and keeps waiting for the real answer (RFC 3414 3.2:
    such messages are discarded). `error` is what the request fails with if no acceptable
    answer comes before its last try times out.
    """

    def __init__(self, error: CollectError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(slots=True)
class _Pending:
    """One request in flight: its future, where it went, its tries and retry timer."""

    future: asyncio.Future[ber.Response]
    address: Address
    message: bytes
    sock: socket.socket
    timeout_s: float
    retries: int
    on_send: Callable[[], None] | None
    decode: Callable[[bytes], ber.Response]
    tries_left: int = 0
    holds_slot: bool = True  # an in-flight slot, given back as soon as the request settles
    strangers: list[Address] = field(default_factory=list)  # answers from other addresses
    discarded: CollectError | None = None  # why the first discarded answer was not trusted
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class TransportStats:
    """Counters since start (the collector turns them into metrics)."""

    sent: int = 0
    received: int = 0
    retries: int = 0
    timeouts: int = 0
    malformed: int = 0
    unmatched: int = 0
    wrong_source: int = 0
    discarded: int = 0


_RECV_BYTES = 65535  # the largest UDP payload
_DRAIN = 256  # datagrams read per readiness callback at most (then other callbacks run)
_FIRST_ID = 1 << 24  # request-ids 2**24 .. 2**31-1 all encode in 4 bytes (ber templates)
_ID_SPAN = (1 << 31) - _FIRST_ID


class UdpEngine:
    """One socket; `request()` sends a message and awaits the matching Response.

    The socket is a plain non-blocking one watched with `loop.add_reader`; each readiness
    callback reads every datagram waiting (while requests wait for answers), so answers that
    arrived together cost one wake-up.
    """

    def __init__(self, *, max_in_flight: int = 64, rcvbuf_bytes: int = 4 << 20) -> None:
        self._max_in_flight = max_in_flight
        self._rcvbuf = rcvbuf_bytes
        self._pending: dict[int, _Pending] = {}
        self._waiting = 0  # requests sent and not settled yet
        self._sockets: dict[tuple[int, bool], socket.socket] = {}
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count(random.randrange(_ID_SPAN))  # noqa: S311 - not crypto
        self.stats = TransportStats()

    def next_request_id(self) -> int:
        """A fresh request-id, in 2**24 .. 2**31-1 (a positive Integer32 of 4 bytes)."""
        return _FIRST_ID + next(self._ids) % _ID_SPAN

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        """Sockets and the semaphore belong to one event loop; start over on another."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.close()
            self._loop = loop
            self._slots = asyncio.Semaphore(self._max_in_flight)
            self._waiting = 0  # what waited on the other loop is gone with it
        return loop

    def _socket(
        self, loop: asyncio.AbstractEventLoop, family: int, loopback: bool
    ) -> socket.socket:
        """One socket per family; loopback targets get their own, bound to 127.0.0.1/::1.
        Opened without any await, so concurrent first requests share it."""
        key = (family, loopback)
        sock = self._sockets.get(key)
        if sock is not None:
            return sock
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            with contextlib.suppress(OSError):  # capped by the kernel; the default still works
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
            v6 = family == socket.AF_INET6
            if loopback:
                sock.bind(("::1", 0) if v6 else ("127.0.0.1", 0))
            else:
                sock.bind(("::", 0) if v6 else ("0.0.0.0", 0))  # noqa: S104 - a client's own port
            loop.add_reader(sock.fileno(), self._readable, sock)
        except BaseException:
            sock.close()
            raise
        self._sockets[key] = sock
        return sock

    def _readable(self, sock: socket.socket) -> None:
        """Read the datagrams waiting, while requests still wait for theirs: a read that
        finds nothing raises, which costs more than the read. Whatever is left (a late
        answer) is read when the loop sees the socket readable again."""
        received = self._received
        for _ in range(_DRAIN):
            try:
                data, addr = sock.recvfrom(_RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP port unreachable etc.: let the request time out
                return
            received(data, (addr[0], addr[1]))
            if self._waiting <= 0:
                return

    def _send(self, pending: _Pending) -> None:
        if pending.on_send is not None:
            pending.on_send()
        self.stats.sent += 1
        try:
            pending.sock.sendto(pending.message, pending.address)
        except OSError:  # a full send buffer or an unreachable network: lost, like on the wire
            return

    def _received(self, data: bytes, addr: Address) -> None:
        self.stats.received += 1
        request_id = ber.peek_request_id(data)
        pending = self._pending.get(request_id) if request_id is not None else None
        if pending is None:
            self.stats.unmatched += 1
            return
        if addr != pending.address:
            self.stats.wrong_source += 1
            pending.strangers.append(addr)
            return
        if pending.future.done():
            return
        try:
            pending.future.set_result(pending.decode(data))
        except ber.BerError as exc:
            self.stats.malformed += 1
            pending.future.set_exception(ParseError(f"malformed response: {exc}"))
        except Discard as verdict:  # not trustworthy: the real answer may still come
            self.stats.discarded += 1
            if pending.discarded is None:
                pending.discarded = verdict.error
            return
        except CollectError as exc:  # a decoder's verdict (SNMPv3: a usmStats report)
            pending.future.set_exception(exc)
        self._settled(pending)

    def _expire(self, pending: _Pending) -> None:
        if pending.future.done():
            return
        if pending.tries_left > 0:
            pending.tries_left -= 1
            self.stats.retries += 1
            self._send(pending)
            assert self._loop is not None  # noqa: S101 - bound before any request
            pending.timer = self._loop.call_later(pending.timeout_s, self._expire, pending)
            return
        self.stats.timeouts += 1
        pending.future.set_exception(self._timeout_error(pending, pending.retries))
        self._settled(pending)

    def _settled(self, pending: _Pending) -> None:
        """The request has its outcome: stop its timer and give its slot back."""
        if pending.timer is not None:
            pending.timer.cancel()
            pending.timer = None
        if pending.holds_slot:
            pending.holds_slot = False
            if pending.future.get_loop() is self._loop:  # else: of a loop left behind
                self._waiting -= 1
                assert self._slots is not None  # noqa: S101 - bound before any request
                self._slots.release()

    async def _launch(
        self,
        loop: asyncio.AbstractEventLoop,
        address: Address,
        family: int,
        message: bytes,
        request_id: int,
        timeout_s: float,
        retries: int,
        loopback: bool,
        on_send: Callable[[], None] | None,
        decode: Callable[[bytes], ber.Response],
    ) -> _Pending:
        """Take an in-flight slot, register the request and send its first try."""
        assert self._slots is not None  # noqa: S101 - set by _bind_loop
        await self._slots.acquire()
        try:
            sock = self._socket(loop, family, loopback)
        except BaseException:
            self._slots.release()
            raise
        pending = _Pending(
            loop.create_future(),
            address,
            message,
            sock,
            timeout_s,
            retries,
            on_send,
            decode,
            tries_left=retries,
        )
        self._pending[request_id] = pending
        self._waiting += 1
        self._send(pending)
        pending.timer = loop.call_later(timeout_s, self._expire, pending)
        return pending

    def _forget(self, request_id: int, pending: _Pending) -> None:
        if self._pending.get(request_id) is pending:
            del self._pending[request_id]
        self._settled(pending)

    async def request(
        self,
        address: Address,
        family: int,
        message: bytes,
        request_id: int,
        *,
        timeout_s: float,
        retries: int,
        loopback: bool = False,
        on_send: Callable[[], None] | None = None,
        decode: Callable[[bytes], ber.Response] = ber.decode_response,
    ) -> ber.Response:
        """Send `message` (whose request-id is `request_id`) and return the decoded answer.

        Raises CollectTimeout after `retries + 1` unanswered tries (naming any other
        address that answered instead), ParseError on a malformed answer. The retry timer is
        a plain loop timer (no task per request: this is the hot path). `on_send` is called
        right before each try goes out (after any wait for a slot), for the rate timestamps.
        `decode` turns the matching datagram into a Response (the SNMPv3 client passes one
        that authenticates and decrypts); a CollectError it raises is the request's error,
        a `Discard` drops that datagram and the request waits on.
        """
        loop = self._bind_loop()
        pending = await self._launch(
            loop, address, family, message, request_id, timeout_s, retries, loopback, on_send,
            decode,
        )  # fmt: skip
        try:
            return await pending.future
        finally:
            self._forget(request_id, pending)

    async def request_many(
        self,
        address: Address,
        family: int,
        messages: Sequence[tuple[bytes, int]],
        *,
        timeout_s: float,
        retries: int,
        loopback: bool = False,
        decode: Callable[[bytes], ber.Response] = ber.decode_response,
    ) -> list[ber.Response]:
        """`request` for each `(message, request_id)`, sent back to back without waiting for
        the answers in between (each still takes an in-flight slot, given back when it
        settles, so the engine's cap holds). Each has its own tries and timer. Returns the
        answers in order; raises the error of the first request (in order) that failed."""
        loop = self._bind_loop()
        launched: list[tuple[int, _Pending]] = []
        try:
            for message, request_id in messages:
                pending = await self._launch(
                    loop, address, family, message, request_id, timeout_s, retries, loopback,
                    None, decode,
                )  # fmt: skip
                launched.append((request_id, pending))
            return [await pending.future for _, pending in launched]
        finally:
            for request_id, pending in launched:
                self._forget(request_id, pending)
                if not pending.future.done():
                    pending.future.cancel()
                elif not pending.future.cancelled():
                    pending.future.exception()  # retrieved: a later one's error is not news

    @staticmethod
    def _timeout_error(pending: _Pending, retries: int) -> Exception:
        host, port = pending.address
        if pending.discarded is not None:  # answers came, none trustworthy: say why
            return pending.discarded
        if pending.strangers:
            other = pending.strangers[0]
            return ProtocolError(f"answer came from {other[0]}:{other[1]}, not from {host}:{port}")
        return CollectTimeout(f"no response from {host}:{port} after {retries + 1} tries")

    def close(self) -> None:
        """Close every socket (requests in flight then time out)."""
        loop = self._loop
        for sock in self._sockets.values():
            if loop is not None and not loop.is_closed():
                loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()

    async def aclose(self) -> None:
        """Close every socket; each is closed when this returns."""
        self.close()


def is_loopback(host: str) -> bool:
    """127.0.0.0/8 or ::1 (a scoped or odd address is not)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
