"""VictoriaMetrics 1.112 (Debian trixie's .deb unpacked into `.servers/vm`) on 127.0.0.1.

A real server speaking the InfluxDB v2 write API (`/api/v2/write`; bucket and org are ignored).
A line `m,tag=v field=1` becomes the series `m_field{tag="v"}`; timestamps keep milliseconds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .proc import (
    READY_TIMEOUT_S,
    SERVERS,
    HarnessError,
    HttpServer,
)

VM_BINARY = SERVERS / "vm" / "usr" / "bin" / "victoria-metrics"


class VictoriaMetrics(HttpServer):
    """One private victoria-metrics; `.url` takes influxdb-client writes, `export()` reads back."""

    name = "victoria-metrics"
    ready_what = "/health OK"

    def __init__(self, base: Path | None = None) -> None:
        super().__init__("vm", base)

    def _prepare(self) -> None:
        if not VM_BINARY.exists():
            raise HarnessError(f"{VM_BINARY} missing: run `make test` once (it unpacks it)")

    def _argv(self) -> list[str]:
        return [
            str(VM_BINARY),
            f"-httpListenAddr={self.host}:{self.port}",
            f"-storageDataPath={self.base / 'data'}",
            "-retentionPeriod=100y",  # tests write old timestamps too
            "-search.latencyOffset=0s",  # otherwise queries hide the last 30 s
            "-search.disableCache",
            "-inmemoryDataFlushInterval=1s",
            "-loggerLevel=WARN",
        ]

    def _ready(self) -> bool:
        return self._get("/health") == "OK"

    def export(self, match: str) -> list[dict[str, Any]]:
        """`/api/v1/export` rows for a series selector, e.g. `{__name__="interface_ifHCInOctets"}`.

        Each row: {"metric": {labels}, "values": [...], "timestamps": [ms, ...]}.
        """
        self._get("/internal/force_flush")
        text = self._get("/api/v1/export", **{"match[]": match})
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def wait_for_series(
        self, match: str, count: int = 1, timeout_s: float = READY_TIMEOUT_S
    ) -> list[dict[str, Any]]:
        """Poll `export(match)` until at least `count` series exist (new series take ~0.5-5 s)."""
        deadline = time.monotonic() + timeout_s
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = self.export(match)
            if len(rows) >= count:
                return rows
            time.sleep(0.2)
        raise HarnessError(f"{match}: {len(rows)} of {count} series within {timeout_s:.0f}s")

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant PromQL/MetricsQL query; the `data.result` list."""
        result: list[dict[str, Any]] = json.loads(self._get("/api/v1/query", query=expr))["data"][
            "result"
        ]
        return result
