"""`chmd notify test RECEIVER` against the real HTTP and SMTP sinks."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from harness.sinks import HttpSink, SmtpSink
from helpers import invoke_cli

pytestmark = pytest.mark.integration


def write_config(tmp_path: Path, receivers: dict[str, str]) -> Path:
    (tmp_path / "devices.yaml").write_text("devices: {}\n")
    lines = [
        "inventory: {files: [devices.yaml]}",
        "rules: {files: []}",
        "state_dir: state",
        "notify:",
        "  delivery: {attempts: 3, backoff_initial: 50ms}",
        "  receivers:",
    ]
    lines += [f"    {name}: {{urls: ['{url}']}}" for name, url in receivers.items()]
    path = tmp_path / "chmd.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_notify_test_delivers_to_webhook(tmp_path: Path, http_sink: HttpSink) -> None:
    """The test message reaches the webhook and the command reports `delivered` (exit 0)."""
    path = f"/{uuid.uuid4().hex}"
    config = write_config(tmp_path, {"hook": f"json://127.0.0.1:{http_sink.port}{path}"})
    result = invoke_cli(["notify", "test", "-c", str(config), "hook"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "hook: delivered (1 target(s); attempts: success 1)"
    [got] = [r for r in http_sink.requests if r.path == path]
    assert got.json["title"].startswith("[TEST] chmd test notification")
    assert got.json["message"] == "This is a test notification from chmd."


def test_notify_test_reports_failure_after_retries(tmp_path: Path, http_sink: HttpSink) -> None:
    """A webhook failing every attempt makes the command exit 1, listing the attempts."""
    path = f"/{uuid.uuid4().hex}"
    config = write_config(tmp_path, {"hook": f"json://127.0.0.1:{http_sink.port}{path}"})
    http_sink.fail_next(3)
    result = invoke_cli(["notify", "test", "-c", str(config), "hook"])
    assert result.exit_code == 1
    assert result.output.splitlines()[-2:] == [
        "hook: failed (1 target(s); attempts: retryable_failure 3)",
        "last error: hook.urls[0]: Apprise reported FAILURE",
    ]
    assert [r.status for r in http_sink.requests if r.path == path] == [500, 500, 500]


def test_notify_test_by_mail(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    """The test message arrives by e-mail with the test subject."""
    rcpt = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    url = f"mailto://127.0.0.1:{smtp_sink.port}?from=chmd@example.com&to={rcpt}"
    config = write_config(tmp_path, {"mail": url})
    result = invoke_cli(["notify", "test", "-c", str(config), "mail"])
    assert result.exit_code == 0, result.output
    with smtp_sink.lock:
        mails = [
            m
            for (_, to), m in zip(smtp_sink.envelopes, smtp_sink.messages, strict=True)
            if rcpt in to
        ]
    assert len(mails) == 1
    assert mails[0]["Subject"].startswith("[TEST] chmd test notification")


def test_notify_test_unknown_receiver(tmp_path: Path) -> None:
    """An unknown receiver name exits 1 and lists the configured ones."""
    config = write_config(tmp_path, {"hook": "json://127.0.0.1:9/x"})
    result = invoke_cli(["notify", "test", "-c", str(config), "nope"])
    assert result.exit_code == 1
    assert "no receiver 'nope' (receivers: hook)" in result.output
