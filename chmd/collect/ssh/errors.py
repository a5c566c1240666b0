"""SSH-specific members of chmd's exception tree, each with a bounded `reason`.

They subclass `chmd.errors` classes so callers that catch `CollectError` (the per-device
boundary) or `AuthError`/`ProtocolError` keep working; `reason` is the metric label.
"""

from __future__ import annotations

from chmd.errors import AuthError, CollectError, ProtocolError


class HostKeyError(AuthError):
    """The server's host key is unknown (strict policy) or differs from the recorded one."""

    reason = "host_key"


class UnsupportedCommand(CollectError):
    """The device answered `% Invalid input` (or similar): the platform lacks the command."""

    reason = "unsupported"


class Disconnected(ProtocolError):
    """The connection dropped (before or in the middle of the output)."""

    reason = "disconnected"


class ConnectFailed(ProtocolError):
    """The TCP connection could not be made (refused, unreachable, DNS)."""

    reason = "refused"
