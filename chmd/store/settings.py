"""`storage:` section of etc/chmd.yaml (owned by the storage stage; extended there)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chmd.configtypes import Duration, SecretValue, StrictModel


class StorageSettings(StrictModel):
    api: Literal["v1", "v2"] = "v1"
    url: str = "http://127.0.0.1:8086"
    database: str = "chmd"  # v1: database; v2: bucket prefix / 1.8 "db/rp"
    org: str | None = None
    token: SecretValue | None = None
    username: str | None = None
    password: SecretValue | None = None
    batch_size: int = Field(5000, ge=1)
    flush_interval: Duration = 1.0
    spool_dir: str = "/var/lib/chmd/spool"
