"""Debian's Prometheus (2.42) on 127.0.0.1 scraping given targets every second."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .proc import (
    READY_TIMEOUT_S,
    HarnessError,
    HttpServer,
    require_binary,
    run_checked,
    wait_until,
)

JOB = "chmd"


class Prometheus(HttpServer):
    """Scrapes `targets` ("host:port") as job `chmd` every 1 s; `.url` is its HTTP API."""

    job = JOB
    name = "prometheus"
    ready_what = "/-/ready"

    def __init__(
        self, targets: Sequence[str], metrics_path: str = "/metrics", base: Path | None = None
    ) -> None:
        super().__init__("prometheus", base)
        self.targets = list(targets)
        self.metrics_path = metrics_path
        self._conf = self.base / "prometheus.yml"

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

    def _prepare(self) -> None:
        self._conf = self._write_config()

    def _argv(self) -> list[str]:
        conf = self._conf
        return [
            require_binary("prometheus"),
            f"--config.file={conf}",
            f"--storage.tsdb.path={self.base / 'data'}",
            f"--web.listen-address={self.host}:{self.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ]

    def _ready(self) -> bool:
        return self._get("/-/ready") is not None

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
