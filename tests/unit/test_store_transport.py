"""Error classification and backoff (pure)."""

from __future__ import annotations

import pytest

from chmd.store.transport import WriteError, backoff_s, classify, parse_retry_after


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, "rejected", False),
        (413, "rejected", False),
        (401, "auth", False),
        (403, "auth", False),
        (404, "not_found", False),
        (429, "throttled", True),
        (500, "server", True),
        (503, "server", True),
    ],
)
def test_classify(status: int, kind: str, retryable: bool) -> None:
    """HTTP statuses map to the documented error classes and retryability."""
    assert classify(status) == kind
    assert WriteError("x", kind=kind).retryable is retryable


def test_backoff_doubles_with_jitter_up_to_max() -> None:
    """Exponential from retry_initial, capped at retry_max, scaled by the jitter factor."""
    exc = WriteError("down", kind="network")
    delays = [backoff_s(n, exc, initial=1, maximum=60, jitter=1.0) for n in range(1, 9)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_s(3, exc, initial=1, maximum=60, jitter=0.8) == pytest.approx(3.2)


def test_retry_after_is_honoured() -> None:
    """A Retry-After header overrides the exponential delay (capped at 10 x retry_max)."""
    exc = WriteError("slow down", kind="throttled", status=429, retry_after=parse_retry_after("7"))
    assert backoff_s(1, exc, initial=1, maximum=60, jitter=1.2) == 7.0
    huge = WriteError("x", kind="throttled", retry_after=parse_retry_after("99999"))
    assert backoff_s(1, huge, initial=1, maximum=60, jitter=1.0) == 600
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


def test_refused_connection_is_retried_every_retry_initial() -> None:
    """While nothing listens (connection refused) the delay stays at retry_initial x jitter,
    so writes resume about a second after the server is back, not up to retry_max later."""
    exc = WriteError("down", kind="network", refused=True)
    delays = [backoff_s(n, exc, initial=1, maximum=10, jitter=1.2) for n in (1, 5, 50)]
    assert delays == [1.2, 1.2, 1.2]


def test_operator_errors_wait_retry_max() -> None:
    """auth/not_found are re-checked every retry_max, not hammered."""
    assert backoff_s(1, WriteError("x", kind="auth"), initial=1, maximum=30, jitter=1.0) == 30


def test_gzip_body_is_standard_gzip() -> None:
    """Write bodies are gzip that the standard library (like InfluxDB's Go reader) inflates
    back to the same bytes, and smaller."""
    import gzip

    from chmd.store.transport import gzip_body

    body = b"\n".join(
        b"interface,device=sw%d ifMtu=1500i,rate=%d.25 %d" % (i, i, i) for i in range(5000)
    )
    packed = gzip_body(body)
    assert gzip.decompress(packed) == body
    assert len(packed) < len(body) / 3
