"""AlertStage: the alert pipeline as one of the daemon's stages (`chmd.daemon.Stage`).

It owns the current `AlertPipeline` and replaces it when a reload changes the `notify:`
section: the old pipeline is closed first (its notification log is on disk), then the new
one starts from the same state dir, so a reload neither re-sends nor forgets. Changed device
tags are handed to the running pipeline; the state dir is the first config's (moving it
needs a restart). It is also the stable object the HTTP ack routes call, whichever pipeline
is current.

    stage = AlertStage(metrics.notify)
    for route in stage.http_routes():      # before the HTTP server starts
        http_server.add_route(*route)
    await stage.apply(config, diff)        # the daemon, at start and after each reload
    await stage.process(changed, active, now)   # each evaluation tick
    writer.submit(stage.drain_samples())
    await stage.aclose()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from chmd.alerts.ack_http import Handler, ack_handlers
from chmd.alerts.acks import Ack, AckError
from chmd.alerts.matchers import device_labels
from chmd.alerts.pipeline import AlertPipeline
from chmd.errors import ConfigError, NotifyError
from chmd.model import Alert, Sample
from chmd.notify.metrics import NotifyMetrics

if TYPE_CHECKING:
    from chmd.config import LoadedConfig

log = structlog.get_logger("chmd.alerts")
RELOAD_DRAIN_S = 2.0  # a reload waits this long for queued messages, then the new pipeline resends


class AlertStage:
    def __init__(
        self, metrics: NotifyMetrics, *, shutdown_timeout_s: float = RELOAD_DRAIN_S
    ) -> None:
        self._metrics = metrics
        self._shutdown_timeout_s = shutdown_timeout_s  # for queued messages at each close
        self._pipeline: AlertPipeline | None = None
        self._built_from: Any = None  # the notify section of the running pipeline
        self._state_dir: Path | None = None
        self._labels: Mapping[str, Mapping[str, str]] = {}
        self._key: bytes | None = None

    @property
    def pipeline(self) -> AlertPipeline | None:
        return self._pipeline

    async def apply(self, config: LoadedConfig, diff: object = None) -> None:
        """(Re)build the pipeline when `notify:` changed; otherwise keep it running."""
        notify = config.config.notify
        state_dir = self._state_dir = self._state_dir or Path(config.config.state_dir)
        labels = device_labels(config.devices)
        if self._pipeline is not None and notify == self._built_from:
            if labels != self._labels:
                self._pipeline.set_device_labels(labels)
                self._labels = labels
            return
        if self._pipeline is not None:
            await self._pipeline.aclose()
            self._pipeline = None
        try:
            pipeline = AlertPipeline.create(
                notify,
                state_dir,
                self._metrics,
                device_labels=labels,
                shutdown_timeout_s=self._shutdown_timeout_s,
            )
        except NotifyError as exc:
            raise ConfigError([f"notify: {exc}"]) from exc
        await pipeline.start()
        self._pipeline, self._built_from, self._labels = pipeline, notify, labels
        secret = notify.ack.secret_key if notify.ack.base_url else None
        self._key = secret.reveal().encode() if secret is not None else None
        log.info(
            "alert_pipeline_ready", receivers=len(notify.receivers), routes=notify.route is not None
        )

    async def process(
        self, changed: Sequence[Alert], active: Sequence[Alert], now: datetime
    ) -> None:
        if self._pipeline is not None:
            await self._pipeline.process(changed, active, now)

    def drain_samples(self) -> list[Sample]:
        return self._pipeline.drain_samples() if self._pipeline is not None else []

    async def aclose(self) -> None:
        if self._pipeline is not None:
            await self._pipeline.aclose()
            self._pipeline = None

    # -- the ack routes' target: always the current pipeline ------------------------------

    def http_routes(self) -> list[tuple[str, str, Handler]]:
        """GET/POST /-/ack/{fingerprint}; they answer 404 while ack links are not configured."""
        return ack_handlers(self, lambda: self._key)

    def alert(self, fingerprint: str) -> Alert | None:
        return self._pipeline.alert(fingerprint) if self._pipeline is not None else None

    def ack(self, fingerprint: str, by: str, comment: str, now: datetime) -> Ack:
        if self._pipeline is None:
            raise AckError("the alert pipeline is not running")
        return self._pipeline.ack(fingerprint, by, comment, now)
