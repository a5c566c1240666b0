"""Apprise behind chmd's error tree: the only module that reveals receiver URLs.

Apprise 2.3's `async_notify` returns an `AppriseResult` (falsy unless SUCCESS) instead
of raising; `AppriseTarget.send` turns a falsy result into a retryable `NotifyError`,
so no failed delivery is silent. Each URL of a receiver is its own target, so a retry
re-sends only to the URLs that failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from typing import TYPE_CHECKING

import apprise

from chmd.configtypes import Secret
from chmd.errors import NotifyError

if TYPE_CHECKING:
    from chmd.notify.settings import Receiver

# Apprise 2.3's e-mail plugin (loaded lazily, on the first mailto:// URL) imports the
# deprecated stdlib `imghdr`; import it once here, quietly, so that DeprecationWarning
# neither reaches users nor fails test runs that turn warnings into errors.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    import imghdr  # noqa: F401

logging.getLogger("apprise").setLevel(logging.WARNING)  # apprise logs full URLs at DEBUG


class AppriseTarget:
    """One Apprise URL or config file of a receiver. `label` never shows the URL."""

    def __init__(
        self, label: str, url: Secret | None = None, config_path: str | None = None
    ) -> None:
        self.label = label
        self._apprise = apprise.Apprise()
        if url is not None and not self._apprise.add(url.reveal()):
            raise NotifyError(f"{label}: Apprise does not recognise this URL", retryable=False)
        if config_path is not None:
            config = apprise.AppriseConfig()
            if not config.add(config_path):
                raise NotifyError(
                    f"{label}: cannot load Apprise config {config_path}", retryable=False
                )
            self._apprise.add(config)

    async def send(
        self, title: str, body: str, notify_type: str, body_format: str, timeout_s: float
    ) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                result = await self._apprise.async_notify(
                    body=body, title=title, notify_type=notify_type, body_format=body_format
                )
        except TimeoutError as exc:
            raise NotifyError(f"{self.label}: timed out after {timeout_s:g}s") from exc
        if not result:
            status = getattr(getattr(result, "status", None), "name", "FAILURE")
            raise NotifyError(
                f"{self.label}: Apprise reported {status}", retryable=status != "NOMATCH"
            )


def targets_for(name: str, receiver: Receiver) -> list[AppriseTarget]:
    targets = [AppriseTarget(f"{name}.urls[{i}]", url=u) for i, u in enumerate(receiver.urls)]
    if receiver.config:
        targets.append(AppriseTarget(f"{name}.config", config_path=receiver.config))
    return targets


def recognises(url: str) -> bool:
    """True when Apprise can build a notifier from `url` (no I/O; for load-time checks)."""
    return apprise.Apprise.instantiate(url) is not None
