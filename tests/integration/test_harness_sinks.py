"""The notification sinks receive what is sent to them."""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage

import pytest
from harness.sinks import HttpSink, SmtpSink


def test_smtp_sink_receives_mail(smtp_sink: SmtpSink) -> None:
    """A mail sent with smtplib arrives with its subject, body and envelope recipients."""
    smtp_sink.clear()
    msg = EmailMessage()
    msg["From"] = "chmd@example.com"
    msg["To"] = "ops@example.com"
    msg["Subject"] = "Device sw1 DOWN"
    msg.set_content("sw1 stopped answering SNMP")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=30) as smtp:
        smtp.send_message(msg)
    (got,) = smtp_sink.wait_for(1)
    assert got["Subject"] == "Device sw1 DOWN"
    assert got.get_content().strip() == "sw1 stopped answering SNMP"  # type: ignore[attr-defined]
    assert smtp_sink.envelopes == [("chmd@example.com", ["ops@example.com"])]


def test_smtp_sink_with_auth_rejects_wrong_password() -> None:
    """A sink with credentials accepts the right login and refuses a wrong one."""
    sink = SmtpSink(credentials={"chmd": "s3cret"}).start()
    try:
        with smtplib.SMTP(sink.host, sink.port, timeout=30) as smtp:
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.login("chmd", "wrong")
            smtp.login("chmd", "s3cret")
            smtp.sendmail("chmd@example.com", ["ops@example.com"], b"Subject: t\r\n\r\nbody\r\n")
        # smtplib retries a refused PLAIN with LOGIN: every wrong attempt refused, then accepted
        assert sink.auth_attempts[-1] == ("chmd", True)
        assert {ok for _, ok in sink.auth_attempts[:-1]} == {False}
        assert len(sink.wait_for(1)) == 1
    finally:
        sink.stop()


def post(url: str, body: object, headers: dict[str, str] | None = None) -> int:
    """POST JSON; the HTTP status."""
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_http_sink_records_json_and_headers(http_sink: HttpSink) -> None:
    """A JSON POST is recorded with path, parsed body and headers."""
    http_sink.clear()
    status = post(f"{http_sink.url}/hook?x=1", {"title": "t", "message": "m"}, {"X-Token": "s3"})
    assert status == 200
    (req,) = http_sink.requests
    assert (req.method, req.path, req.query) == ("POST", "/hook", {"x": ["1"]})
    assert req.json == {"title": "t", "message": "m"}
    assert req.headers["x-token"] == "s3"


def test_http_sink_fail_next(http_sink: HttpSink) -> None:
    """fail_next(2) answers two requests with 500, then 200 again; all three are recorded."""
    http_sink.clear()
    http_sink.fail_next(2)
    statuses = [post(f"{http_sink.url}/hook", {"n": n}) for n in range(3)]
    assert statuses == [500, 500, 200]
    assert [r.json for r in http_sink.requests] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_https_sink_records_post(https_sink: HttpSink) -> None:
    """The HTTPS sink takes a POST verified against its self-signed certificate."""
    https_sink.clear()
    context = ssl.create_default_context(cafile=str(https_sink.cert_path))
    req = urllib.request.Request(
        f"{https_sink.url}/hook", data=b'{"a": 1}', headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30, context=context) as resp:
        assert resp.status == 200
    assert [r.json for r in https_sink.requests] == [{"a": 1}]
