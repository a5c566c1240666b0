"""`notify:` section of etc/chmd.yaml (owned by the notification stage; extended there)."""

from __future__ import annotations

from pydantic import Field

from chmd.configtypes import SecretValue, StrictModel


class Receiver(StrictModel):
    urls: list[SecretValue] = Field(default_factory=list)  # Apprise URLs carry tokens: secrets


class NotifySettings(StrictModel):
    receivers: dict[str, Receiver] = Field(default_factory=dict)
