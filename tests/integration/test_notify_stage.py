"""AlertStage (the daemon's view of the pipeline): reloads keep state, ack routes follow."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from harness.sinks import HttpSink
from prometheus_client import CollectorRegistry

from chmd.alerts.stage import AlertStage
from chmd.config import LoadedConfig, load_config
from chmd.http import HttpServer
from chmd.model import Alert, AlertState, Severity
from chmd.notify.metrics import NotifyMetrics

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def write(tmp_path: Path, hook: str, repeat: str, ack_url: str) -> LoadedConfig:
    (tmp_path / "devices.yaml").write_text(
        "devices:\n  core-sw1: {host: 127.0.0.1, tags: {site: zrh, role: core}}\n"
    )
    (tmp_path / "chmd.yaml").write_text(
        f"""\
inventory: {{files: [devices.yaml]}}
rules: {{files: []}}
state_dir: state
notify:
  receivers:
    hook: {{urls: ["{hook}"]}}
    core: {{urls: ["{hook}-core"]}}
  route:
    receiver: hook
    group_wait: 10s
    repeat_interval: {repeat}
    routes:
      - {{matchers: [role=core], receiver: core}}
  ack: {{secret_key: "0123456789abcdef0123456789abcdef", base_url: "{ack_url}"}}
"""
    )
    return load_config(tmp_path / "chmd.yaml")


def port_down() -> Alert:
    return Alert(
        "interface_down",
        "feedc0de00000001",
        (("device", "core-sw1"), ("ifName", "Gi1/0/7")),
        Severity.MAJOR,
        AlertState.FIRING,
        2.0,
        "core-sw1 Gi1/0/7 is down",
        "",
        T0,
        T0,
    )


async def wait_for(http_sink: HttpSink, path: str, count: int) -> list[str]:
    async with asyncio.timeout(30):
        while True:
            with http_sink.lock:
                got = [r.json["message"] for r in http_sink.requests if r.path == path]
            if len(got) >= count:
                return got
            await asyncio.sleep(0.05)


async def test_reload_keeps_state_and_ack_route_follows(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    """Inventory tags route the alert (role=core); a reload that changes the route builds a new
    pipeline that does not re-send; the ack link, served by chmd's HttpServer through the
    stage, reaches the current pipeline; /metrics shows the delivery."""
    registry = CollectorRegistry()
    stage = AlertStage(NotifyMetrics(registry))
    server = HttpServer(registry, "127.0.0.1:0")  # chmd's own listener (production stage)
    for route in stage.http_routes():
        server.add_route(*route)
    await server.start()
    host, port = "127.0.0.1", server.port
    base = f"/{uuid.uuid4().hex}"
    hook = f"json://127.0.0.1:{http_sink.port}{base}"
    try:
        await stage.apply(write(tmp_path, hook, "1h", f"http://{host}:{port}"))
        first = stage.pipeline
        a = port_down()
        for s in (0, 10):
            await stage.process([], [a], T0 + timedelta(seconds=s))
        [message] = await wait_for(http_sink, f"{base}-core", 1)
        await stage.apply(write(tmp_path, hook, "2h", f"http://{host}:{port}"))
        assert stage.pipeline is not first
        for s in range(20, 600, 30):
            await stage.process([], [a], T0 + timedelta(seconds=s))
        assert stage.pipeline is not None
        assert stage.pipeline.dispatcher is not None
        await stage.pipeline.dispatcher.idle()
        with http_sink.lock:
            assert [r.path for r in http_sink.requests if r.path.startswith(base)] == [
                f"{base}-core"
            ]
        link = re.search(r"ack: (\S+)", message)
        assert link is not None
        async with aiohttp.ClientSession() as http, http.post(link.group(1)) as resp:
            assert resp.status == 200
        assert a.fingerprint in stage.pipeline.acks.acks
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/metrics") as resp:
            exposition = await resp.text()
        assert (
            'chmd_notify_notifications_total{outcome="delivered",receiver="core"} 1.0' in exposition
        )
    finally:
        await stage.aclose()
        await server.aclose()
