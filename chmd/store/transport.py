"""The two ways of sending line protocol: `api: v1` (plain HTTP /write, InfluxQL /query) and
`api: v2` (influxdb-client's async write API). Both take the same bytes and raise `WriteError`.

Error classes (`WriteError.kind`, also the metric label): `network`, `timeout`, `server` (5xx),
`throttled` (429), all retried; `rejected` (400/413: bad points, split and dead-lettered);
`auth` (401/403) and `not_found` (404: database/bucket), which need an operator.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp

from chmd.errors import StoreError
from chmd.store.settings import StorageSettings

try:  # ISA-L's gzip: ~3.5x less CPU than zlib at level 1 for about the same size
    from isal.igzip import compress as _isal_compress
except ImportError:  # pragma: no cover (no isal wheel for this platform: stdlib zlib)
    _isal_compress = None  # type: ignore[assignment]


def gzip_body(body: bytes) -> bytes:
    """A write request body gzipped at level 1 (ISA-L when installed, else zlib)."""
    if _isal_compress is not None:
        return _isal_compress(body, compresslevel=1)
    return gzip.compress(body, compresslevel=1)


class WriteError(StoreError):
    def __init__(
        self,
        message: str,
        *,
        kind: str,
        status: int | None = None,
        retry_after: float | None = None,
        refused: bool = False,
    ) -> None:
        super().__init__(message, retryable=kind in RETRYABLE, status=status)
        self.kind = kind
        self.retry_after = retry_after
        self.refused = refused  # nothing listens: the server is down, a retry costs nothing


RETRYABLE = frozenset({"network", "timeout", "server", "throttled"})


def classify(status: int) -> str:
    if status == 429:
        return "throttled"
    if status in (400, 413, 422):
        return "rejected"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    return "server"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (the HTTP-date form is not used by InfluxDB)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def backoff_s(
    attempt: int, exc: WriteError, *, initial: float, maximum: float, jitter: float
) -> float:
    """Delay before retry number `attempt` (1, 2, …): Retry-After when the server sent one
    (capped at 10 x maximum), `maximum` for auth/not_found (check now and then), `initial` x
    `jitter` while the connection is refused (nothing reached the server, and writes resume
    within about `initial` once it is back), else initial x 2^(attempt-1) capped at
    `maximum`, times `jitter` (0.8-1.2)."""
    if exc.retry_after is not None:
        return min(exc.retry_after, maximum * 10)
    if not exc.retryable:
        return maximum
    if exc.refused:
        return min(initial, maximum) * jitter
    return min(initial * 2.0 ** (attempt - 1), maximum) * jitter


def _reason(body: bytes | str) -> str:
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:2000]
    if isinstance(data, dict):
        return str(data.get("error") or data.get("message") or text)[:2000]
    return text.strip()[:2000]


class Transport(Protocol):
    """`start` once, then `write` (concurrently, at most max_in_flight), `aclose` once."""

    async def start(self) -> None: ...

    async def write(self, target: str, body: bytes) -> None: ...

    async def aclose(self) -> None: ...


class V1Transport:
    """InfluxDB 1.x HTTP API: POST /write?db=&rp=&precision=ns, POST /query for administration."""

    def __init__(self, settings: StorageSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        headers = {}
        if self.settings.token:
            headers["Authorization"] = f"Token {self.settings.token.reveal()}"
        auth = None
        if self.settings.username and self.settings.password:
            auth = aiohttp.BasicAuth(self.settings.username, self.settings.password.reveal())
        self._session = aiohttp.ClientSession(
            base_url=self.settings.url.rstrip("/") + "/",
            headers=headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
        )

    async def aclose(self) -> None:
        if self._session:
            await self._session.close()
            self._session = None

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("V1Transport.start() was not called")
        return self._session

    async def write(self, target: str, body: bytes) -> None:
        session = self._require_session()
        params = {"db": self.settings.database, "rp": target, "precision": "ns"}
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        data = body
        if self.settings.gzip:
            data = gzip_body(body)
            headers["Content-Encoding"] = "gzip"
        try:
            async with session.post("write", params=params, data=data, headers=headers) as r:
                if r.status == 204 or r.status == 200:
                    return
                text = await r.read()
                raise WriteError(
                    f"HTTP {r.status}: {_reason(text)}",
                    kind=classify(r.status),
                    status=r.status,
                    retry_after=parse_retry_after(r.headers.get("Retry-After")),
                )
        except TimeoutError as exc:
            raise WriteError("timed out", kind="timeout") from exc
        except aiohttp.ClientError as exc:
            refused = isinstance(exc, aiohttp.ClientConnectorError) and isinstance(
                exc.os_error, ConnectionRefusedError
            )
            raise WriteError(
                f"{type(exc).__name__}: {exc}", kind="network", refused=refused
            ) from exc

    async def query(self, q: str, *, db: str | None = None) -> list[dict[str, Any]]:
        """One InfluxQL statement via POST /query; returns `results[0]["series"]` (maybe [])."""
        session = self._require_session()
        params = {"q": q}
        if db:
            params["db"] = db
        try:
            async with session.post("query", data=params) as r:
                text = await r.read()
                if r.status != 200:
                    raise WriteError(
                        f"{q!r}: HTTP {r.status}: {_reason(text)}",
                        kind=classify(r.status),
                        status=r.status,
                    )
        except TimeoutError as exc:
            raise WriteError(f"{q!r}: timed out", kind="timeout") from exc
        except aiohttp.ClientError as exc:
            raise WriteError(f"{q!r}: {type(exc).__name__}: {exc}", kind="network") from exc
        result: Mapping[str, Any] = json.loads(text)["results"][0]
        if "error" in result:
            raise WriteError(f"{q!r}: {result['error']}", kind="rejected", status=200)
        series: list[dict[str, Any]] = result.get("series", [])
        return series


class V2Transport:
    """InfluxDB 2.x/Cloud/3.x and 1.8+ (bucket `db/rp`) through influxdb-client's async API."""

    def __init__(self, settings: StorageSettings) -> None:
        self.settings = settings
        self.client: Any = None
        self._write_api: Any = None

    async def start(self) -> None:
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

        token = self.settings.token.reveal() if self.settings.token else None
        if token is None and self.settings.username and self.settings.password:
            token = f"{self.settings.username}:{self.settings.password.reveal()}"  # 1.8 style
        self.client = InfluxDBClientAsync(
            url=self.settings.url,
            token=token or "",
            org=self.settings.org or "-",
            enable_gzip=self.settings.gzip,
            timeout=int(self.settings.timeout * 1000),
        )
        self._write_api = self.client.write_api()

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    def bucket(self, target: str) -> str:
        return self.settings.bucket_format.format(database=self.settings.database, tier=target)

    async def write(self, target: str, body: bytes) -> None:
        from influxdb_client.client.exceptions import InfluxDBError
        from influxdb_client.domain.write_precision import WritePrecision

        try:
            await self._write_api.write(
                bucket=self.bucket(target),
                org=self.settings.org or "-",
                record=body,
                write_precision=WritePrecision.NS,
            )
        except InfluxDBError as exc:
            status = getattr(getattr(exc, "response", None), "status", None)
            if status is None:
                raise WriteError(f"{exc}", kind="network") from exc
            raise WriteError(
                f"HTTP {status}: {exc.message}",
                kind=classify(int(status)),
                status=int(status),
                retry_after=parse_retry_after(exc.retry_after),
            ) from exc
        except TimeoutError as exc:
            raise WriteError("timed out", kind="timeout") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise WriteError(f"{type(exc).__name__}: {exc}", kind="network") from exc


def make_transport(settings: StorageSettings) -> V1Transport | V2Transport:
    return V1Transport(settings) if settings.api == "v1" else V2Transport(settings)
