"""`storage:` section of etc/chmd.yaml (owned by the storage stage; see docs/storage.md)."""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import Field, model_validator

from chmd.configtypes import Duration, SecretValue, StrictModel


class RollupTier(StrictModel):
    """One rollup tier: windows of `window`, kept for `keep` (an RP in 1.x, a bucket in 2.x)."""

    name: str  # retention policy (v1) / bucket suffix (v2), e.g. "5m"
    window: Duration
    keep: Duration


# Raw counters (their `<counter>_rate` is rolled up instead: the mean of a counter means
# nothing) and interface settings that do not vary (their mean/min/max would only cost).
DEFAULT_ROLLUP_EXCLUDE = [
    "ifType",
    "ifMtu",
    "ifSpeed",
    "ifHighSpeed",
    "ifAdminStatus",
    "*Octets",
    "*Pkts",
    "*Errors",
    "*Discards",
    "*Drops",
    "*_total",
    "ifCounterDiscontinuityTime",
    "sysUpTime",
    "uptime",
]


class Retention(StrictModel):
    raw_name: str = "raw"
    raw_keep: Duration = 30 * 86400.0
    rollups: list[RollupTier] = Field(
        default_factory=lambda: [
            RollupTier(name="5m", window=300.0, keep=180 * 86400.0),
            RollupTier(name="1h", window=3600.0, keep=730 * 86400.0),
        ]
    )
    rollup_measurements: list[str] = Field(default_factory=lambda: ["*"])  # glob patterns
    rollup_exclude_fields: list[str] = Field(default_factory=lambda: list(DEFAULT_ROLLUP_EXCLUDE))
    ensure: bool = True  # create databases/RPs/buckets at start
    on_drift: Literal["log", "fix"] = "log"  # a hand-changed RP: only log it, or ALTER it back
    # Open windows are saved this often (and at shutdown): what a kill -9 can cost them.
    # Each snapshot serialises every open window (docs/storage.md: CPU against this interval).
    rollup_snapshot_interval: Duration = Field(300.0, gt=0)


class StorageSettings(StrictModel):
    api: Literal["v1", "v2"] = "v1"
    url: str = "http://127.0.0.1:8086"
    database: str = "chmd"  # v1: database; v2: bucket names come from bucket_format
    bucket_format: str = "{database}_{tier}"  # v2 bucket per tier; "{database}/{tier}" for 1.8
    org: str | None = None  # v2: organisation name
    token: SecretValue | None = None
    username: str | None = None
    password: SecretValue | None = None
    batch_size: int = Field(5000, ge=1)
    flush_interval: Duration = 1.0
    gzip: bool = True
    max_in_flight: int = Field(2, ge=1)  # concurrent write requests
    timeout: Duration = 10.0  # per HTTP request
    retry_initial: Duration = 1.0  # first backoff; doubles up to retry_max, ±20 % jitter
    retry_max: Duration = 10.0
    spool_dir: str = "/var/lib/chmd/spool"
    spool_max_bytes: int = Field(1024**3, ge=1024)
    spool_segment_bytes: int = Field(16 * 1024**2, ge=1024)
    fsync: Literal["always", "batch", "interval", "never"] = "batch"
    fsync_interval: Duration = 1.0
    close_timeout: Duration = 5.0  # aclose: time to flush before spooling the rest
    retention: Retention = Field(default_factory=Retention)

    @model_validator(mode="after")
    def _check(self) -> StorageSettings:
        if self.api == "v2" and not self.org and "/" not in self.bucket_format:
            raise ValueError("api v2 needs `org` (the organisation name), except for 1.8 `db/rp`")
        widths = sorted(t.window for t in self.retention.rollups)
        for small, big in itertools.pairwise(widths):
            if small <= 0 or big % small:
                raise ValueError(
                    f"rollup windows must each be a multiple of the smaller ones: {widths}"
                )
        names = [self.retention.raw_name, *(t.name for t in self.retention.rollups)]
        if len(set(names)) != len(names):
            raise ValueError(f"retention tier names must differ: {names}")
        return self
