"""The alert pipeline delivering through Apprise to real receivers on loopback.

Receivers: the harness `smtp_sink` (aiosmtpd, via `mailto://`) and `http_sink` (an HTTP
server, via `json://`). The pipeline's clock is passed in (the tick's `now`), so timing
of group_wait / repeat / escalation is exact; delivery itself is real and awaited with
deadlines. Each test uses its own URL path / mail recipient on the shared sinks.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from harness.sinks import HttpSink, ReceivedRequest, SmtpSink
from helpers import wait_until
from prometheus_client import CollectorRegistry

from chmd.alerts.ack_http import add_ack_routes
from chmd.alerts.pipeline import AlertPipeline
from chmd.model import Alert, AlertState, Severity
from chmd.notify.settings import NotifySettings

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
ACK_KEY = "test-ack-key-0123456789abcdef"
DEADLINE_S = 30.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def alert(
    rule: str = "interface_down",
    device: str = "core-sw1",
    if_name: str | None = "Gi1/0/1",
    severity: Severity = Severity.MAJOR,
    value: float | None = 2.0,
) -> Alert:
    labels = {"device": device, "site": "zrh", "role": "core"}
    if if_name:
        labels["ifName"] = if_name
    summary = f"{device} {if_name} is down" if if_name else f"{device} is unreachable"
    return Alert(
        rule=rule,
        fingerprint=uuid.uuid5(uuid.NAMESPACE_URL, f"{rule}/{device}/{if_name}").hex,
        labels=tuple(sorted(labels.items())),
        severity=severity,
        state=AlertState.FIRING,
        value=value,
        summary=summary,
        description="",
        active_since=T0,
        fired_at=T0,
    )


def resolved(a: Alert, seconds: float) -> Alert:
    return replace(a, state=AlertState.RESOLVED, resolved_at=at(seconds))


class Receivers:
    """Per-test addresses on the shared sinks, and what each of them received."""

    def __init__(self, smtp: SmtpSink, http: HttpSink) -> None:
        self.smtp, self.http = smtp, http
        self.tag = uuid.uuid4().hex[:8]

    def mail_url(self, name: str) -> str:
        return f"mailto://127.0.0.1:{self.smtp.port}?from=chmd@example.com&to={self.rcpt(name)}"

    def rcpt(self, name: str) -> str:
        return f"{name}-{self.tag}@example.com"

    def json_url(self, name: str) -> str:
        return f"json://127.0.0.1:{self.http.port}/{self.tag}/{name}"

    def mails(self, name: str) -> list[Message]:
        with self.smtp.lock:
            pairs = list(zip(self.smtp.envelopes, self.smtp.messages, strict=True))
        return [m for (_, rcpts), m in pairs if self.rcpt(name) in rcpts]

    def posts(self, name: str) -> list[ReceivedRequest]:
        with self.http.lock:
            return [
                r for r in self.http.requests if r.path == f"/{self.tag}/{name}" and r.status < 300
            ]

    def all_posts(self, name: str) -> list[ReceivedRequest]:
        with self.http.lock:
            return [r for r in self.http.requests if r.path == f"/{self.tag}/{name}"]


@pytest.fixture
def rx(smtp_sink: SmtpSink, http_sink: HttpSink) -> Receivers:
    return Receivers(smtp_sink, http_sink)


@pytest.fixture
async def ack_server() -> AsyncIterator[dict[str, Any]]:
    """chmd's ack routes on a private aiohttp server; the pipeline is attached per test."""
    holder: dict[str, Any] = {}
    app = web.Application()

    class Proxy:
        def alert(self, fingerprint: str) -> Alert | None:
            return holder["pipeline"].alert(fingerprint)  # type: ignore[no-any-return]

        def ack(self, fingerprint: str, by: str, comment: str, now: datetime) -> Any:
            return holder["pipeline"].ack(fingerprint, by, comment, now)

    add_ack_routes(app, Proxy(), ACK_KEY.encode())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    holder["url"] = f"http://{host}:{port}"
    yield holder
    await runner.cleanup()


Factory = Callable[..., Awaitable[AlertPipeline]]


@pytest.fixture
async def pipelines(tmp_path: Path) -> AsyncIterator[Factory]:
    """Builds started pipelines (real Apprise receivers) and closes them after the test."""
    started: list[AlertPipeline] = []

    async def make(
        receivers: dict[str, list[str]],
        route: dict[str, Any],
        state_dir: Path | None = None,
        ack_url: str | None = None,
        ack_ttl: str = "1d",
        registry: CollectorRegistry | None = None,
        **top: Any,
    ) -> AlertPipeline:
        route = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "1h", **route}
        delivery = {"backoff_initial": "50ms", "backoff_max": "200ms", "timeout": "20s"}
        data: dict[str, Any] = {
            "receivers": {name: {"urls": urls} for name, urls in receivers.items()},
            "route": route,
            "delivery": delivery | top.pop("delivery", {}),
            **top,
        }
        if ack_url:
            data["ack"] = {"secret_key": ACK_KEY, "base_url": ack_url, "link_ttl": ack_ttl}
        settings = NotifySettings.model_validate(data)
        pipeline = AlertPipeline.create(
            settings, state_dir or tmp_path, registry or CollectorRegistry()
        )
        await pipeline.start()
        started.append(pipeline)
        return pipeline

    yield make
    for pipeline in started:
        await pipeline.aclose()


async def settle(p: AlertPipeline) -> None:
    assert p.dispatcher is not None
    await p.dispatcher.idle(DEADLINE_S)


async def run(
    p: AlertPipeline, active: list[Alert], seconds: range, changed: list[Alert] | None = None
) -> None:
    for s in seconds:
        await p.process(changed or [], active, at(s))


def body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def test_email_content(rx: Receivers, pipelines: Factory, ack_server: dict[str, Any]) -> None:
    """The e-mail names severity, device, site, summary, value, since, and carries the ack link."""
    p = await pipelines(
        {"ops": [rx.mail_url("ops")]}, {"receiver": "ops"}, ack_url=ack_server["url"]
    )
    a = alert()
    await run(p, [a], range(0, 31, 30))
    await wait_until(lambda: len(rx.mails("ops")) == 1, "one mail")
    mail = rx.mails("ops")[0]
    assert mail["Subject"] == "[FIRING] MAJOR core-sw1: core-sw1 Gi1/0/1 is down"
    text = body(mail)
    assert (
        "FIRING MAJOR interface_down on core-sw1 Gi1/0/1 at site zrh: core-sw1 Gi1/0/1 is down"
        in text
    )
    assert f"value 2, since {T0:%Y-%m-%d %H:%M} UTC (30s), id {a.fingerprint[:12]}" in text
    assert f"ack: {ack_server['url']}/-/ack/{a.fingerprint}?exp=" in text


async def test_json_webhook_content(rx: Receivers, pipelines: Factory) -> None:
    """The JSON webhook gets Apprise's payload: title, message, type failure (major)."""
    p = await pipelines({"hook": [rx.json_url("hook")]}, {"receiver": "hook"})
    await run(p, [alert()], range(0, 31, 30))
    await wait_until(lambda: len(rx.posts("hook")) == 1, "one post")
    payload = rx.posts("hook")[0].json
    assert payload["title"] == "[FIRING] MAJOR core-sw1: core-sw1 Gi1/0/1 is down"
    assert payload["message"].startswith(
        "FIRING MAJOR interface_down on core-sw1 Gi1/0/1 at site zrh"
    )
    assert payload["type"] == "failure"


async def test_grouping_into_one_message(rx: Receivers, pipelines: Factory) -> None:
    """Three ports down on one device within group_wait arrive as one mail listing all three."""
    p = await pipelines({"ops": [rx.mail_url("ops")]}, {"receiver": "ops"})
    ports = [alert(if_name=f"Gi1/0/{i}") for i in (1, 2, 3)]
    await run(p, ports[:1], range(0, 10, 5))
    await run(p, ports, range(10, 61, 5))
    await settle(p)
    [mail] = rx.mails("ops")
    assert mail["Subject"] == "[FIRING] MAJOR core-sw1: 3 alerts: interface_down x3"
    assert all(
        f"Gi1/0/{i} at site zrh: core-sw1 Gi1/0/{i} is down" in body(mail) for i in (1, 2, 3)
    )


async def test_recovery_message(rx: Receivers, pipelines: Factory) -> None:
    """When the alert resolves, a RESOLVED mail follows the FIRING one."""
    p = await pipelines({"ops": [rx.mail_url("ops")]}, {"receiver": "ops"})
    a = alert()
    await run(p, [a], range(0, 61, 30))
    await run(p, [], range(100, 401, 30), changed=[resolved(a, 100)])
    await wait_until(lambda: len(rx.mails("ops")) == 2, "firing and resolved mails")
    assert [m["Subject"].split()[0] for m in rx.mails("ops")] == ["[FIRING]", "[RESOLVED]"]
    assert "RESOLVED MAJOR interface_down on core-sw1 Gi1/0/1" in body(rx.mails("ops")[1])


async def test_repeat_after_interval(rx: Receivers, pipelines: Factory) -> None:
    """A still-firing alert is re-sent after repeat_interval (10m here), and not before."""
    p = await pipelines(
        {"hook": [rx.json_url("hook")]},
        {"receiver": "hook", "repeat_interval": "10m", "group_interval": "1m"},
    )
    a = alert()
    await run(p, [a], range(0, 600, 30))
    await settle(p)
    assert len(rx.posts("hook")) == 1
    await run(p, [a], range(600, 700, 30))
    await wait_until(lambda: len(rx.posts("hook")) == 2, "the repeat")
    assert "(reminder)" in rx.posts("hook")[1].json["title"]


async def test_maintenance_window(rx: Receivers, pipelines: Factory) -> None:
    """Nothing is sent in a maintenance window; an alert still firing at its end is sent."""
    window = [
        {
            "name": "upgrade",
            "matchers": ["device=core-sw1"],
            "starts_at": at(0),
            "ends_at": at(600),
            "comment": "IOS upgrade",
        }
    ]
    p = await pipelines({"hook": [rx.json_url("hook")]}, {"receiver": "hook"}, maintenance=window)
    blip, lasting = alert(if_name="Gi1/0/1"), alert(if_name="Gi1/0/2")
    await run(p, [blip, lasting], range(0, 300, 30))
    await run(p, [lasting], range(300, 600, 30), changed=[resolved(blip, 300)])
    await settle(p)
    assert rx.all_posts("hook") == []
    await run(p, [lasting], range(600, 1000, 30))
    await wait_until(lambda: len(rx.posts("hook")) == 1, "mail after the window")
    await settle(p)
    [post] = rx.posts("hook")
    assert post.json["title"] == "[FIRING] MAJOR core-sw1: core-sw1 Gi1/0/2 is down"


async def test_inhibition_of_port_alerts(rx: Receivers, pipelines: Factory) -> None:
    """While core-sw1 is unreachable only that alert is sent; its port alerts are not."""
    p = await pipelines({"ops": [rx.mail_url("ops")]}, {"receiver": "ops"})
    down = alert(rule="device_unreachable", if_name=None, severity=Severity.CRITICAL)
    ports = [alert(if_name=f"Gi1/0/{i}") for i in (1, 2)]
    await run(p, [down, *ports], range(0, 400, 30))
    await settle(p)
    assert [m["Subject"] for m in rx.mails("ops")] == [
        "[FIRING] CRITICAL core-sw1: core-sw1 is unreachable"
    ]


async def test_escalation_to_second_receiver(rx: Receivers, pipelines: Factory) -> None:
    """Unacknowledged after the 15m step, the alert also goes to the on-call receiver."""
    route = {"receiver": "ops", "escalation": [{"after": "15m", "receivers": ["oncall"]}]}
    p = await pipelines({"ops": [rx.mail_url("ops")], "oncall": [rx.json_url("oncall")]}, route)
    a = alert()
    await run(p, [a], range(0, 900, 30))
    await settle(p)
    assert rx.all_posts("oncall") == []
    await run(p, [a], range(900, 931, 30))
    await wait_until(lambda: len(rx.posts("oncall")) == 1, "escalation post")
    assert "escalated: firing 15m without acknowledgement" in rx.posts("oncall")[0].json["title"]
    assert len(rx.mails("ops")) == 1


def ack_link(text: str) -> str:
    match = re.search(r"ack: (\S+)", text)
    assert match, text
    return match.group(1)


async def test_no_escalation_after_ack_through_signed_link(
    rx: Receivers, pipelines: Factory, ack_server: dict[str, Any]
) -> None:
    """Acknowledged via the mail's link (GET shows a form, POST acks), the alert never escalates."""
    route = {"receiver": "ops", "escalation": [{"after": "15m", "receivers": ["oncall"]}]}
    p = await pipelines(
        {"ops": [rx.mail_url("ops")], "oncall": [rx.json_url("oncall")]},
        route,
        ack_url=ack_server["url"],
    )
    ack_server["pipeline"] = p
    a = alert()
    await run(p, [a], range(0, 61, 30))
    await wait_until(lambda: len(rx.mails("ops")) == 1, "first mail")
    link = ack_link(body(rx.mails("ops")[0]))
    async with aiohttp.ClientSession() as http:
        async with http.get(link) as page:
            assert page.status == 200
            assert '<form method="post">' in await page.text()
        async with http.post(link, data={"comment": "on it"}) as done:
            assert done.status == 200
            assert (await done.text()).startswith(f"Acknowledged {a.fingerprint[:12]}")
    assert p.acks.acks[a.fingerprint].comment == "on it"
    await run(p, [a], range(90, 4000, 60))
    await settle(p)
    assert rx.all_posts("oncall") == []
    assert len(rx.mails("ops")) == 1  # no repeat either
    assert [e["event"] for e in p.audit.read() if e["event"] == "ack"] == ["ack"]


@pytest.mark.parametrize(
    ("tamper", "status"),
    [
        (
            lambda url: re.sub(r"sig=([0-9a-f])", lambda m: "sig=" + "01"[m.group(1) == "0"], url),
            403,
        ),
        (lambda url: re.sub(r"exp=(\d+)", lambda m: f"exp={int(m.group(1)) + 3600}", url), 403),
        (lambda url: re.sub(r"/-/ack/[0-9a-f]", "/-/ack/0", url), 403),
    ],
    ids=["signature", "expiry", "fingerprint"],
)
async def test_altered_link_refused(
    rx: Receivers,
    pipelines: Factory,
    ack_server: dict[str, Any],
    tamper: Callable[[str], str],
    status: int,
) -> None:
    """A link with any part altered is refused with 403 and acknowledges nothing."""
    p = await pipelines(
        {"ops": [rx.mail_url("ops")]}, {"receiver": "ops"}, ack_url=ack_server["url"]
    )
    ack_server["pipeline"] = p
    a = alert()
    await run(p, [a], range(0, 31, 30))
    await wait_until(lambda: len(rx.mails("ops")) == 1, "mail")
    bad = tamper(ack_link(body(rx.mails("ops")[0])))
    async with aiohttp.ClientSession() as http, http.post(bad) as resp:
        assert resp.status == status
    assert p.acks.acks == {}


async def test_expired_link_refused(
    rx: Receivers, pipelines: Factory, ack_server: dict[str, Any]
) -> None:
    """A link past its expiry (link_ttl) is refused with 410 Gone and acknowledges nothing."""
    p = await pipelines(
        {"ops": [rx.mail_url("ops")]}, {"receiver": "ops"}, ack_url=ack_server["url"], ack_ttl="0s"
    )
    ack_server["pipeline"] = p
    a = alert()
    await run(p, [a], range(0, 31, 30))
    await wait_until(lambda: len(rx.mails("ops")) == 1, "mail")
    link = ack_link(body(rx.mails("ops")[0]))
    async with aiohttp.ClientSession() as http, http.post(link) as resp:
        assert resp.status == 410
    assert p.acks.acks == {}


async def test_failing_receiver_is_retried_while_other_delivers(
    rx: Receivers, pipelines: Factory
) -> None:
    """The webhook answers 500 twice: it is retried with backoff and delivered on the third try,
    while the mail receiver gets its message regardless; attempts are counted per outcome."""
    route = {
        "receiver": "ops",
        "routes": [
            {"matchers": ["site=zrh"], "receiver": "hook", "continue": True},
            {"matchers": ["site=zrh"], "receiver": "ops"},
        ],
    }
    p = await pipelines({"ops": [rx.mail_url("ops")], "hook": [rx.json_url("hook")]}, route)
    rx.http.fail_next(2)
    await run(p, [alert()], range(0, 31, 30))
    await wait_until(lambda: len(rx.mails("ops")) == 1, "mail")
    await wait_until(lambda: len(rx.posts("hook")) == 1, "webhook after retries")
    await settle(p)
    assert [r.status for r in rx.all_posts("hook")] == [500, 500, 200]
    assert p.dispatcher is not None
    counts = {
        (s.labels["receiver"], s.labels["outcome"]): s.value
        for m in p.dispatcher._metrics.attempts.collect()
        for s in m.samples
        if s.name.endswith("_total")
    }
    assert counts == {
        ("hook", "retryable_failure"): 2.0,
        ("hook", "success"): 1.0,
        ("ops", "success"): 1.0,
    }
    deliveries = [
        (e["receiver"], e["outcome"], e["attempts"])
        for e in p.audit.read()
        if e["event"] == "delivery"
    ]
    assert sorted(deliveries) == [("hook", "delivered", 3), ("ops", "delivered", 1)]


async def test_restart_without_duplicate_sends(
    rx: Receivers, pipelines: Factory, tmp_path: Path
) -> None:
    """A restarted pipeline (same state dir) re-sends nothing, but sends the recovery."""
    state = tmp_path / "state"
    a = alert()
    first = await pipelines({"ops": [rx.mail_url("ops")]}, {"receiver": "ops"}, state_dir=state)
    await run(first, [a], range(0, 61, 30))
    await settle(first)
    await first.aclose()
    assert len(rx.mails("ops")) == 1
    second = await pipelines({"ops": [rx.mail_url("ops")]}, {"receiver": "ops"}, state_dir=state)
    await run(second, [a], range(90, 1200, 30))
    await settle(second)
    assert len(rx.mails("ops")) == 1
    await run(second, [], range(1200, 1600, 30), changed=[resolved(a, 1200)])
    await wait_until(lambda: len(rx.mails("ops")) == 2, "recovery after restart")
    assert rx.mails("ops")[1]["Subject"].startswith("[RESOLVED]")


async def test_storm_cap_holds_back_and_summarises(rx: Receivers, pipelines: Factory) -> None:
    """storm_limit 2 per 2s: 5 groups give 2 messages, then a summary: 3 held back."""
    p = await pipelines(
        {"hook": [rx.json_url("hook")]},
        {"receiver": "hook", "group_by": ["device"]},
        delivery={"storm_limit": 2, "storm_window": "2s"},
    )
    alerts = [alert(device=f"sw{i}") for i in range(5)]
    await run(p, alerts, range(0, 31, 30))
    await wait_until(lambda: len(rx.posts("hook")) == 3, "two messages and the summary")
    titles = [r.json["title"] for r in rx.posts("hook")]
    assert titles[2] == "chmd: 3 notification(s) held back"
    assert "storm limit 2 per 2s" in rx.posts("hook")[2].json["message"]
    await settle(p)
    outcomes = [e["outcome"] for e in p.audit.read() if e["event"] == "delivery"]
    assert sorted(outcomes) == ["delivered"] * 3 + ["held_back"] * 3


async def test_receiver_secret_never_logged(rx: Receivers, pipelines: Factory) -> None:
    """A failing webhook whose URL carries a token: the token is in no log event, audit line
    or metric, while the request itself did carry it."""
    from prometheus_client import generate_latest
    from structlog.testing import capture_logs

    url = rx.json_url("secret") + "?+X-Token=tok-s3cr3t-123"
    registry = CollectorRegistry()
    p = await pipelines(
        {"hook": [url]}, {"receiver": "hook"}, delivery={"attempts": 2}, registry=registry
    )
    rx.http.fail_next(2)
    with capture_logs() as logs:
        await run(p, [alert()], range(0, 31, 30))
        await settle(p)
    assert [r.headers["X-Token"] for r in rx.all_posts("secret")] == ["tok-s3cr3t-123"] * 2
    assert [e["event"] for e in logs].count("notify_attempt_failed") == 2  # debug
    [failing] = [e for e in logs if e["event"] == "notify_receiver_failing"]  # logged once
    assert failing["error"] == "hook.urls[0]: Apprise reported FAILURE"
    assert "s3cr3t" not in repr(logs)
    assert "s3cr3t" not in p.audit.path.read_text()
    exposition = generate_latest(registry)
    assert (
        b'chmd_notify_attempts_total{outcome="retryable_failure",receiver="hook"} 2.0' in exposition
    )
    assert b"s3cr3t" not in exposition


async def test_retry_resends_only_to_the_failed_url(rx: Receivers, pipelines: Factory) -> None:
    """A receiver with a mail and a webhook URL: the webhook fails every attempt, the mail goes
    out once (retries do not repeat it) and the outcome is `partial`, recorded as sent."""
    p = await pipelines(
        {"both": [rx.mail_url("both"), rx.json_url("both")]},
        {"receiver": "both"},
        delivery={"attempts": 3},
    )
    rx.http.fail_next(3)
    a = alert()
    await run(p, [a], range(0, 31, 30))
    await settle(p)
    assert len(rx.mails("both")) == 1
    assert [r.status for r in rx.all_posts("both")] == [500, 500, 500]
    [delivery] = [e for e in p.audit.read() if e["event"] == "delivery"]
    assert (delivery["outcome"], delivery["attempts"]) == ("partial", 4)
    await run(p, [a], range(60, 400, 30))
    await settle(p)
    assert len(rx.mails("both")) == 1  # partial counts as told: no re-send at the next flush


async def test_receiver_from_apprise_config_file(
    rx: Receivers, tmp_path: Path, http_sink: HttpSink
) -> None:
    """A receiver given as an Apprise config file (YAML) delivers to the URL it lists."""
    config = tmp_path / "apprise.yaml"
    config.write_text(f"urls:\n  - {rx.json_url('fromfile')}\n")
    settings = NotifySettings.model_validate(
        {
            "receivers": {"file": {"config": str(config)}},
            "route": {"receiver": "file", "group_wait": "0s"},
        }
    )
    p = AlertPipeline.create(settings, tmp_path / "state", CollectorRegistry())
    await p.start()
    try:
        await p.process([], [alert()], at(0))
        await wait_until(lambda: len(rx.posts("fromfile")) == 1, "post via config file")
    finally:
        await p.aclose()


async def test_receiver_failure_and_recovery_logged_once(rx: Receivers, pipelines: Factory) -> None:
    """A receiver that fails is logged once as failing; when the next flush delivers the
    message it was missing, once as recovered."""
    from structlog.testing import capture_logs

    p = await pipelines(
        {"hook": [rx.json_url("flaky")]}, {"receiver": "hook"}, delivery={"attempts": 1}
    )
    rx.http.fail_next(1)
    with capture_logs() as logs:
        await run(p, [alert()], range(0, 31, 30))
        await settle(p)
        await run(p, [alert()], range(60, 331, 30))
        await wait_until(lambda: len(rx.posts("flaky")) == 1, "delivered at the next flush")
        await settle(p)
    events = [e["event"] for e in logs if e["event"].startswith("notify_receiver_")]
    assert events == ["notify_receiver_failing", "notify_receiver_recovered"]
