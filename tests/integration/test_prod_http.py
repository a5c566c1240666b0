"""chmd.http on loopback: /metrics through `promtool check metrics`, health, readiness, routes."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from chmd import __version__
from chmd.errors import ChmdError
from chmd.http import HttpServer
from chmd.metrics import Metrics

pytestmark = pytest.mark.integration


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


async def get(url: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(_get, url)


class State:
    healthy = True
    ready = False


@pytest.fixture
async def served() -> AsyncIterator[tuple[HttpServer, Metrics, State]]:
    """An HttpServer on 127.0.0.1 with a free port, over a fresh Metrics registry."""
    metrics, state = Metrics(), State()
    server = HttpServer(
        metrics.registry, "127.0.0.1:0", healthy=lambda: state.healthy, ready=lambda: state.ready
    )

    async def ack(request: web.Request) -> web.Response:
        return web.Response(text=f"acked {request.match_info['token']}")

    server.add_route("GET", "/ack/{token}", ack)
    await server.start()
    yield server, metrics, state
    await server.aclose()


async def test_metrics_pass_promtool(served: tuple[HttpServer, Metrics, State]) -> None:
    """The /metrics exposition is clean for `promtool check metrics` (names, help, suffixes)."""
    server, metrics, _ = served
    metrics.daemon.config_loaded(True, 1_700_000_000.0)
    metrics.daemon.task_restarts.labels("writer").inc()
    status, content_type, body = await get(server.url + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert "chmd_config_last_reload_successful 1.0" in body
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package `prometheus`)")
    check = await asyncio.to_thread(
        subprocess.run,
        [promtool, "check", "metrics"],
        input=body,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (check.returncode, check.stdout + check.stderr) == (0, "")


async def test_ready_only_once_polling_runs(served: tuple[HttpServer, Metrics, State]) -> None:
    """/-/ready is 503 until the daemon says polling runs, then 200."""
    server, _, state = served
    assert (await get(server.url + "/-/ready"))[0] == 503
    state.ready = True
    assert (await get(server.url + "/-/ready"))[0] == 200


async def test_healthy_follows_health_callback(served: tuple[HttpServer, Metrics, State]) -> None:
    """/-/healthy is 200 while healthy and 503 when the health callback says otherwise."""
    server, _, state = served
    assert (await get(server.url + "/-/healthy"))[0] == 200
    state.healthy = False
    assert (await get(server.url + "/-/healthy"))[0] == 503


async def test_mounted_route_is_served(served: tuple[HttpServer, Metrics, State]) -> None:
    """A route another stage mounted before start answers on the same port."""
    server, _, _ = served
    assert await get(server.url + "/ack/abc") == (200, "text/plain; charset=utf-8", "acked abc")


async def test_port_in_use_is_a_chmd_error(served: tuple[HttpServer, Metrics, State]) -> None:
    """Binding an address already in use raises ChmdError naming the address, not OSError."""
    server, metrics, _ = served
    other = HttpServer(metrics.registry, f"127.0.0.1:{server.port}")
    with pytest.raises(ChmdError, match=f"127.0.0.1:{server.port}"):
        await other.start()


async def test_real_prometheus_scrapes_metrics(
    served: tuple[HttpServer, Metrics, State], prometheus_factory: Callable[..., Any]
) -> None:
    """A real Prometheus scrapes /metrics: the target is up and chmd's metrics are stored."""
    server, metrics, _ = served
    metrics.daemon.devices.set(12)
    prometheus = prometheus_factory([f"127.0.0.1:{server.port}"])
    await asyncio.to_thread(prometheus.wait_up)
    targets = await asyncio.to_thread(prometheus.active_targets)
    assert [t["health"] for t in targets] == ["up"]
    stored = await asyncio.to_thread(prometheus.query, "chmd_devices_configured")
    assert [s["value"][1] for s in stored] == ["12"]
    build = await asyncio.to_thread(prometheus.query, "chmd_build_info")
    assert build[0]["metric"]["version"] == __version__
