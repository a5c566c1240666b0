"""Debian's Prometheus (2.42) on 127.0.0.1 scraping given targets every second."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .proc import (
    LOOPBACK,
    READY_TIMEOUT_S,
    HarnessError,
    ServerProcess,
    free_port,
    make_tempdir,
    require_binary,
    run_checked,
    wait_until,
)

JOB = "chmd"


class Prometheus:
    """Scrapes `targets` ("host:port") as job `chmd` every 1 s; `.url` is its HTTP API."""

    job = JOB

    def __init__(
        self, targets: Sequence[str], metrics_path: str = "/metrics", base: Path | None = None
    ) -> None:
        self.targets = list(targets)
        self.metrics_path = metrics_path
        self.base = base or make_tempdir("prometheus")
        self._owns_base = base is None
        self.host = LOOPBACK
        self.port = 0
        self._proc: ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _write_config(self) -> Path:
        conf = self.base / "prometheus.yml"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": JOB,
                    "metrics_path": self.metrics_path,
                    "scrape_timeout": "1s",
                    "static_configs": [{"targets": self.targets}],
                }
            ],
        }
        conf.write_text(json.dumps(config, indent=2))  # JSON is YAML
        promtool = require_binary("promtool")
        run_checked([promtool, "check", "config", str(conf)])
        return conf

    def start(self) -> Prometheus:
        if self._proc and self._proc.running():
            return self
        conf = self._write_config()
        for attempt in range(3):
            if not self.port or attempt:
                self.port = free_port()
            argv = [
                require_binary("prometheus"),
                f"--config.file={conf}",
                f"--storage.tsdb.path={self.base / 'data'}",
                f"--web.listen-address={self.host}:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ]
            self._proc = ServerProcess("prometheus", argv, self.base / "prometheus.log")
            self._proc.start()
            try:
                self._proc.wait_ready(lambda: self._get("/-/ready") is not None, "/-/ready")
            except HarnessError:
                if attempt == 2:
                    raise
                continue
            return self
        return self

    def stop(self) -> None:
        if self._proc:
            self._proc.stop()

    def running(self) -> bool:
        return bool(self._proc and self._proc.running())

    def close(self) -> None:
        self.stop()
        if self._owns_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def _get(self, path: str, **params: str) -> str:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as resp:
                return str(resp.read().decode())
        except urllib.error.HTTPError as exc:
            raise HarnessError(f"GET {path}: HTTP {exc.code} {exc.read()!r}") from exc

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query: `data.result` ([{"metric": {...}, "value": [ts, "v"]}, ...])."""
        result: list[dict[str, Any]] = json.loads(self._get("/api/v1/query", query=expr))["data"][
            "result"
        ]
        return result

    def active_targets(self) -> list[dict[str, Any]]:
        """`/api/v1/targets` activeTargets (each with `health`, `lastError`, `scrapeUrl`)."""
        data: list[dict[str, Any]] = json.loads(self._get("/api/v1/targets"))["data"][
            "activeTargets"
        ]
        return data

    def wait_up(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until every target reports `up == 1` (first scrape takes ~1-4 s)."""

        def all_up() -> bool:
            values = [r["value"][1] for r in self.query(f'up{{job="{JOB}"}}')]
            return len(values) == len(self.targets) and set(values) == {"1"}

        try:
            wait_until(all_up, f"targets {self.targets} up", timeout_s)
        except HarnessError as exc:
            raise HarnessError(f"{exc}; targets: {self.active_targets()}") from exc
