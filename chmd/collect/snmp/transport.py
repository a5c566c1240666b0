"""The v1/v2c fast path's UDP transport: one asyncio datagram socket, request-id matching.

One `UdpEngine` serves every v1/v2c device of a process (per address family). It bounds
the requests in flight on its socket (default 64: more overflows the kernel's receive
buffer on a busy host), retries on timeout with the same request-id (a late answer to the
first try still counts), and accepts an answer only from the address the request went to.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chmd.collect.snmp import ber
from chmd.errors import CollectError, CollectTimeout, ParseError, ProtocolError

Address = tuple[str, int]


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[ber.Response]
    address: Address
    strangers: list[Address] = field(default_factory=list)  # answers from other addresses
    timer: asyncio.TimerHandle | None = None
    decode: Callable[[bytes], ber.Response] = ber.decode_response


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


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, engine: UdpEngine) -> None:
        self._engine = engine
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:  # the socket is closed now
        if not self.closed.done():
            self.closed.set_result(None)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, ...]) -> None:
        self._engine._received(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable etc.: let it time out
        return


class UdpEngine:
    """One socket; `request()` sends a message and awaits the matching Response."""

    def __init__(self, *, max_in_flight: int = 64, rcvbuf_bytes: int = 4 << 20) -> None:
        self._max_in_flight = max_in_flight
        self._rcvbuf = rcvbuf_bytes
        self._pending: dict[int, _Pending] = {}
        self._transports: dict[tuple[int, bool], asyncio.DatagramTransport] = {}
        self._protocols: list[_Protocol] = []  # every socket opened, until its close completed
        self._opening: asyncio.Lock | None = None
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count(random.randrange(1, 1 << 30))  # noqa: S311 - not crypto
        self.stats = TransportStats()

    def next_request_id(self) -> int:
        return next(self._ids) & 0x7FFFFFFF

    def _bind_loop(self) -> None:
        """Sockets and the semaphore belong to one event loop; start over on another."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.close()
            self._protocols.clear()  # their closing belongs to the other loop
            self._loop = loop
            self._slots = asyncio.Semaphore(self._max_in_flight)
            self._opening = asyncio.Lock()

    async def _transport(self, family: int, loopback: bool) -> asyncio.DatagramTransport:
        """One socket per family; loopback targets get their own, bound to 127.0.0.1/::1."""
        key = (family, loopback)
        transport = self._transports.get(key)
        if transport is not None and not transport.is_closing():
            return transport
        assert self._opening is not None  # noqa: S101 - set by _bind_loop
        async with self._opening:  # single flight: concurrent first requests share one socket
            transport = self._transports.get(key)
            if transport is None or transport.is_closing():
                transport = await self._open(family, loopback)
                self._transports[key] = transport
        return transport

    async def _open(self, family: int, loopback: bool) -> asyncio.DatagramTransport:
        loop = asyncio.get_running_loop()
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
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _Protocol(self), sock=sock
            )
        except BaseException:
            sock.close()
            raise
        self._protocols = [p for p in self._protocols if not p.closed.done()] + [protocol]
        return transport

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
        except CollectError as exc:  # a decoder's verdict (SNMPv3: a usmStats report)
            pending.future.set_exception(exc)

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
        that authenticates and decrypts); a CollectError it raises is the request's error.
        """
        self._bind_loop()
        assert self._slots is not None  # noqa: S101 - set by _bind_loop
        async with self._slots:
            transport = await self._transport(family, loopback)
            loop = asyncio.get_running_loop()
            future: asyncio.Future[ber.Response] = loop.create_future()
            pending = _Pending(future, address, decode=decode)
            self._pending[request_id] = pending
            tries_left = [retries]

            def expire() -> None:
                if future.done():
                    return
                if tries_left[0] > 0:
                    tries_left[0] -= 1
                    self.stats.retries += 1
                    self.stats.sent += 1
                    if on_send is not None:
                        on_send()
                    transport.sendto(message, address)
                    pending.timer = loop.call_later(timeout_s, expire)
                    return
                self.stats.timeouts += 1
                future.set_exception(self._timeout_error(pending, retries))

            if on_send is not None:
                on_send()
            transport.sendto(message, address)
            self.stats.sent += 1
            pending.timer = loop.call_later(timeout_s, expire)
            try:
                return await future
            finally:
                del self._pending[request_id]
                if pending.timer is not None:
                    pending.timer.cancel()

    @staticmethod
    def _timeout_error(pending: _Pending, retries: int) -> Exception:
        host, port = pending.address
        if pending.strangers:
            other = pending.strangers[0]
            return ProtocolError(f"answer came from {other[0]}:{other[1]}, not from {host}:{port}")
        return CollectTimeout(f"no response from {host}:{port} after {retries + 1} tries")

    def close(self) -> None:
        """Start closing every socket (the loop closes each one at its next iteration)."""
        for transport in self._transports.values():
            transport.close()
        self._transports.clear()

    async def aclose(self) -> None:
        """Close every socket and return once each is really closed (connection_lost ran)."""
        self.close()
        protocols, self._protocols = self._protocols, []
        if self._loop is asyncio.get_running_loop():
            await asyncio.gather(*(p.closed for p in protocols))


def is_loopback(host: str) -> bool:
    """127.0.0.0/8 or ::1 (a scoped or odd address is not)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
