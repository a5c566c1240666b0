"""InfluxDB 1.6.7 (Debian bookworm `influxdb`) on 127.0.0.1, data in a temp dir."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .proc import HarnessError, HttpServer, free_port, require_binary

CONFIG = """\
reporting-disabled = true
bind-address = "{host}:{rpc_port}"
[meta]
  dir = "{base}/meta"
[data]
  dir = "{base}/data"
  wal-dir = "{base}/wal"
  query-log-enabled = false
[http]
  bind-address = "{host}:{port}"
  log-enabled = false
[continuous_queries]
  enabled = true
  run-interval = "1s"
[monitor]
  store-enabled = false
"""


class InfluxDB(HttpServer):
    """One private influxd. `stop()` then `start()` keeps port and data (outage tests)."""

    version = "1.6.7"
    name = "influxd"
    ready_what = "HTTP /ping 204"

    def __init__(self, base: Path | None = None) -> None:
        super().__init__("influxdb", base)
        self.rpc_port = 0

    def _choose_ports(self) -> None:
        self.port, self.rpc_port = free_port(), free_port()

    def _argv(self) -> list[str]:
        conf = self.base / "influxdb.conf"
        conf.write_text(
            CONFIG.format(host=self.host, port=self.port, rpc_port=self.rpc_port, base=self.base)
        )
        return [require_binary("influxd"), "-config", str(conf)]

    def _ready(self) -> bool:
        return self.ping()

    def ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as resp:
                return int(resp.status) == 204
        except (OSError, urllib.error.URLError):
            return False

    # Small conveniences for tests (plain HTTP, the 1.x API)
    def query(self, q: str, db: str | None = None, epoch: str | None = "ns") -> dict[str, Any]:
        """POST /query; returns the decoded JSON. Raises HarnessError on HTTP errors."""
        params = {"q": q}
        if db:
            params["db"] = db
        if epoch:
            params["epoch"] = epoch
        data = urllib.parse.urlencode(params).encode()
        try:
            with urllib.request.urlopen(f"{self.url}/query", data=data, timeout=10) as resp:
                result: dict[str, Any] = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise HarnessError(f"query {q!r}: HTTP {exc.code} {exc.read()!r}") from exc
        return result

    def write(self, lines: str, db: str, rp: str | None = None, precision: str = "ns") -> None:
        params = {"db": db, "precision": precision}
        if rp:
            params["rp"] = rp
        url = f"{self.url}/write?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, data=lines.encode(), timeout=10) as resp:
                if resp.status != 204:
                    raise HarnessError(f"write: HTTP {resp.status}")
        except urllib.error.HTTPError as exc:
            raise HarnessError(f"write: HTTP {exc.code} {exc.read()!r}") from exc

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"', epoch=None)

    def points(self, q: str, db: str) -> list[dict[str, Any]]:
        """Rows of the first series of a SELECT as dicts (column -> value)."""
        result = self.query(q, db=db)["results"][0]
        rows: list[dict[str, Any]] = []
        for series in result.get("series", []):
            cols = series["columns"]
            rows.extend(dict(zip(cols, values, strict=True)) for values in series["values"])
        return rows
