"""chmd's HTTP endpoint: `/metrics`, `/-/healthy`, `/-/ready`, plus routes other stages mount.

One aiohttp server on the event loop, bound to `metrics.listen` (127.0.0.1:9515 by default;
port 0 picks a free port, see `HttpServer.port`). `/-/healthy` answers 200 while the
daemon's loop runs and its health callback agrees; `/-/ready` answers 200 once polling
runs — both like Prometheus's own endpoints. Extra routes (e.g. the notification stage's
signed acknowledge links) are added with `add_route` before `start()`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from chmd.errors import ChmdError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFAULT_LISTEN = "127.0.0.1:9515"


def split_listen(value: str) -> tuple[str, int]:
    """`127.0.0.1:9515` / `[::1]:9515` → (host, port). Raises ValueError with a hint."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"bad listen address {value!r} (write host:port, e.g. {DEFAULT_LISTEN})")
    return host.strip("[]"), int(port)


class HttpServer:
    """Serves the registry and the health endpoints. `start()` once, `aclose()` once."""

    def __init__(
        self,
        registry: CollectorRegistry,
        listen: str = DEFAULT_LISTEN,
        *,
        healthy: Callable[[], bool] = lambda: True,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self._registry = registry
        self._host, self._port = split_listen(listen)
        self._healthy = healthy
        self._ready = ready
        self._app = web.Application()
        self._app.router.add_get("/metrics", self._metrics)
        self._app.router.add_get("/-/healthy", self._health)
        self._app.router.add_get("/-/ready", self._readiness)
        self._runner: web.AppRunner | None = None
        self.port = 0  # the bound port once started

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        """Mount another stage's handler; only before `start()` (aiohttp freezes the router)."""
        if self._runner is not None:
            raise RuntimeError("add_route after start()")
        self._app.router.add_route(method, path, handler)

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve. Raises ChmdError when the address cannot be bound."""
        try:
            sock = await self._bind()
        except OSError as exc:
            raise ChmdError(
                f"http: cannot listen on {self._host}:{self._port}: {exc.strerror or exc}"
            ) from exc
        self.port = sock.getsockname()[1]
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self._runner = runner

    async def _bind(self) -> socket.socket:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            self._host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    async def _health(self, _request: web.Request) -> web.Response:
        if self._healthy():
            return web.Response(text="chmd is Healthy.\n")
        return web.Response(status=503, text="chmd is not healthy.\n")

    async def _readiness(self, _request: web.Request) -> web.Response:
        if self._ready():
            return web.Response(text="chmd is Ready.\n")
        return web.Response(status=503, text="chmd is not ready: polling has not started.\n")
