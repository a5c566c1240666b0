"""The ack link's HTTP side: aiohttp routes to mount on chmd's HTTP listener.

    GET  /-/ack/{fingerprint}?exp=…&sig=…   → a confirmation page (a form posting back)
    POST /-/ack/{fingerprint}  (exp, sig, comment as form fields or query)  → acknowledges

GET never acknowledges, so mail scanners and chat link previews that fetch every URL
cannot ack by accident. Both verify the link: an altered link (any byte of the
fingerprint, `exp` or `sig`) → 403; an expired one → 410; an alert no longer firing
→ 404. The production stage mounts it with
`for route in ack_handlers(pipeline, key): http_server.add_route(*route)`.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from aiohttp import web

from chmd.alerts.acks import Ack, AckError, LinkCheck, check_link
from chmd.model import Alert

ACK_PATH = "/-/ack/{fingerprint}"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AckTarget(Protocol):
    """What the handler needs (chmd.alerts.pipeline.AlertPipeline has it)."""

    def alert(self, fingerprint: str) -> Alert | None: ...

    def ack(self, fingerprint: str, by: str, comment: str, now: datetime) -> Ack: ...


def ack_handlers(
    target: AckTarget,
    key: bytes | Callable[[], bytes | None],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[tuple[str, str, Handler]]:
    """(method, path, handler) triples, for `chmd.http.HttpServer.add_route(*triple)`."""
    handler = _AckHandler(target, key, clock)
    return [("GET", ACK_PATH, handler.confirm_page), ("POST", ACK_PATH, handler.acknowledge)]


def add_ack_routes(
    app: web.Application,
    target: AckTarget,
    key: bytes | Callable[[], bytes | None],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Mount GET/POST /-/ack/{fingerprint} on an aiohttp `app`."""
    for method, path, handler in ack_handlers(target, key, clock):
        app.router.add_route(method, path, handler)


class _AckHandler:
    def __init__(
        self,
        target: AckTarget,
        key: bytes | Callable[[], bytes | None],
        clock: Callable[[], datetime],
    ) -> None:
        self._target = target
        self._key = key if callable(key) else (lambda: key)
        self._clock = clock

    def _verify(self, fingerprint: str, exp: str, sig: str) -> Alert:
        key = self._key()
        if key is None:
            raise web.HTTPNotFound(text="Acknowledgement links are not enabled.\n")
        check = check_link(key, fingerprint, exp, sig, self._clock())
        if check is LinkCheck.BAD_SIGNATURE:
            raise web.HTTPForbidden(text="This acknowledgement link is not valid.\n")
        if check is LinkCheck.EXPIRED:
            raise web.HTTPGone(text="This acknowledgement link has expired.\n")
        alert = self._target.alert(fingerprint)
        if alert is None or str(alert.state) != "firing":
            raise web.HTTPNotFound(text="This alert is no longer firing.\n")
        return alert

    async def confirm_page(self, request: web.Request) -> web.Response:
        fingerprint = request.match_info["fingerprint"]
        exp, sig = request.query.get("exp", ""), request.query.get("sig", "")
        alert = self._verify(fingerprint, exp, sig)
        e = html.escape
        page = (
            "<!doctype html><meta charset=utf-8><title>Acknowledge alert</title>"
            f"<h1>Acknowledge {e(str(alert.severity))} alert</h1>"
            f"<p>{e(alert.summary or alert.rule)} — {e(alert.label('device'))}</p>"
            '<form method="post">'
            f'<input type="hidden" name="exp" value="{e(exp)}">'
            f'<input type="hidden" name="sig" value="{e(sig)}">'
            '<label>Comment <input name="comment" size="40"></label> '
            '<button type="submit">Acknowledge</button></form>'
        )
        return web.Response(text=page, content_type="text/html")

    async def acknowledge(self, request: web.Request) -> web.Response:
        fingerprint = request.match_info["fingerprint"]
        form = await request.post()
        exp = str(form.get("exp") or request.query.get("exp", ""))
        sig = str(form.get("sig") or request.query.get("sig", ""))
        comment = str(form.get("comment") or "")[:500]
        self._verify(fingerprint, exp, sig)
        try:
            ack = self._target.ack(fingerprint, "link", comment, self._clock())
        except AckError as exc:
            raise web.HTTPNotFound(text=f"{exc}\n") from exc
        return web.Response(
            text=f"Acknowledged {ack.fingerprint[:12]} at {ack.at:%Y-%m-%d %H:%M UTC}.\n"
        )
