"""chmd's one exception tree.

Foreign exceptions are translated once, at the boundary that calls the library
(`raise ... from exc`), so the rest of chmd catches only these. Each collect error
carries a bounded `reason` usable as a metric label; store errors say whether a
retry can help.
"""

from __future__ import annotations


class ChmdError(Exception):
    """Base of every error chmd raises on purpose."""


class ConfigError(ChmdError):
    """A configuration or inventory file is invalid; `problems` holds every message."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class CollectError(ChmdError):
    """A poll step failed. `reason` is a small word usable as a metric label."""

    reason = "error"

    def __init__(self, message: str, *, step: str = "") -> None:
        super().__init__(message)
        self.step = step


class CollectTimeout(CollectError, TimeoutError):
    reason = "timeout"


class AuthError(CollectError):
    reason = "auth"


class ParseError(CollectError):
    reason = "parse"


class ProtocolError(CollectError):
    reason = "protocol"


class StoreError(ChmdError):
    """Writing to the time-series store failed."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class NotifyError(ChmdError):
    """A delivery failed."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
