"""Retention tiers ensured idempotently at start: raw plus one per rollup window.

v1 (InfluxDB 1.x): `CREATE DATABASE` (a no-op when it exists), then per tier `SHOW RETENTION
POLICIES` → `CREATE RETENTION POLICY` when missing (raw as `DEFAULT`). A policy that exists
with another duration (or a raw policy that is not the default) was changed by hand: chmd logs
that drift once and leaves it (`retention.on_drift: log`), or `ALTER`s it back (`fix`).
v2 (2.x/Cloud): one bucket per tier with its retention rule via influxdb-client's buckets API,
the organisation looked up by name; same drift rule. 1.8's `db/rp` buckets and 3.x databases
are not managed here (see docs/storage.md).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import structlog

from chmd.store.settings import StorageSettings
from chmd.store.transport import V1Transport, V2Transport, WriteError

log = structlog.get_logger("chmd.store")

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms|us|µs|ns)")
_GO_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    keep_s: float
    window_s: float | None  # None: raw


def tiers(settings: StorageSettings) -> list[Tier]:
    r = settings.retention
    return [Tier(r.raw_name, r.raw_keep, None)] + [
        Tier(t.name, t.keep, t.window) for t in r.rollups
    ]


def parse_go_duration(text: str) -> float:
    """`720h0m0s` → 2592000.0 (how InfluxDB 1.x shows RP durations); `0s` means infinite."""
    return sum(float(n) * _GO_UNIT[u] for n, u in _GO_DURATION.findall(text))


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def ensure_v1(transport: V1Transport, settings: StorageSettings) -> list[str]:
    """Create what is missing; return the actions taken (empty on a second run)."""
    db = settings.database
    actions: list[str] = []
    names = {row[0] for s in await transport.query("SHOW DATABASES") for row in s.get("values", [])}
    if db not in names:
        await transport.query(f"CREATE DATABASE {_quote(db)}")
        actions.append(f"create database {db}")
    existing: dict[str, tuple[float, bool]] = {}
    for series in await transport.query(f"SHOW RETENTION POLICIES ON {_quote(db)}"):
        cols = series["columns"]
        for row in series.get("values", []):
            item = dict(zip(cols, row, strict=True))
            existing[item["name"]] = (parse_go_duration(item["duration"]), bool(item["default"]))
    for tier in tiers(settings):
        is_raw = tier.window_s is None
        want = f"DURATION {int(tier.keep_s)}s REPLICATION 1"
        if tier.name not in existing:
            default = " DEFAULT" if is_raw else ""
            q = f"CREATE RETENTION POLICY {_quote(tier.name)} ON {_quote(db)} {want}{default}"
            await transport.query(q)
            actions.append(f"create retention policy {tier.name} ({int(tier.keep_s)}s)")
            continue
        duration, default_now = existing[tier.name]
        drift = abs(duration - tier.keep_s) > 0.5 or (is_raw and not default_now)
        if not drift:
            continue
        if settings.retention.on_drift == "fix":
            default = " DEFAULT" if is_raw else ""
            q = f"ALTER RETENTION POLICY {_quote(tier.name)} ON {_quote(db)} {want}{default}"
            await transport.query(q)
            actions.append(f"alter retention policy {tier.name}")
        else:
            log.warning(
                "retention_drift",
                database=db,
                policy=tier.name,
                server_duration_s=duration,
                configured_s=tier.keep_s,
                server_default=default_now,
                hint="left as is (retention.on_drift: log); set on_drift: fix to ALTER it",
            )
    return actions


async def ensure_v2(transport: V2Transport, settings: StorageSettings) -> list[str]:
    """Buckets per tier with retention rules (2.x/Cloud). Skipped for 1.8-style `db/rp`.

    influxdb-client has no async buckets API, so this runs the sync client in a thread."""
    if "/" in settings.bucket_format:
        log.info("retention_not_managed", reason="1.8 db/rp buckets: create the RPs with InfluxQL")
        return []
    return await asyncio.to_thread(_ensure_v2_sync, transport, settings)


def _ensure_v2_sync(transport: V2Transport, settings: StorageSettings) -> list[str]:
    from influxdb_client.client.exceptions import InfluxDBError
    from influxdb_client.client.influxdb_client import InfluxDBClient
    from influxdb_client.domain.bucket_retention_rules import BucketRetentionRules

    token = settings.token.reveal() if settings.token else ""
    actions: list[str] = []
    with InfluxDBClient(url=settings.url, token=token, org=settings.org or "-") as client:
        try:
            api: Any = client.buckets_api()
            orgs: Any = client.organizations_api().find_organizations(org=settings.org)
            if not orgs:
                raise WriteError(f"organisation {settings.org!r} not found", kind="not_found")
            org_id = orgs[0].id
            for tier in tiers(settings):
                name = transport.bucket(tier.name)
                found = api.find_bucket_by_name(name)
                rule = BucketRetentionRules(type="expire", every_seconds=int(tier.keep_s))  # type: ignore[no-untyped-call]
                if found is None:
                    api.create_bucket(bucket_name=name, org_id=org_id, retention_rules=[rule])
                    actions.append(f"create bucket {name}")
                    continue
                current = [r.every_seconds for r in (found.retention_rules or [])]
                if current == [int(tier.keep_s)]:
                    continue
                if settings.retention.on_drift == "fix":
                    found.retention_rules = [rule]
                    api.update_bucket(bucket=found)
                    actions.append(f"update bucket {name}")
                else:
                    log.warning(
                        "retention_drift", bucket=name, server=current, configured=tier.keep_s
                    )
        except InfluxDBError as exc:
            status = getattr(getattr(exc, "response", None), "status", None)
            if status is None:
                raise WriteError(f"buckets API: {exc.message}", kind="network") from exc
            if status in (401, 403):
                raise WriteError(f"buckets API: {exc.message}", kind="auth", status=status) from exc
            # 400/404/405: no 2.x buckets API here (3.x, VictoriaMetrics, a proxy): writes only
            log.warning(
                "retention_not_managed",
                status=status,
                reason=str(exc.message),
                hint="create the buckets/databases with their retention yourself",
            )
            return []
    return actions
