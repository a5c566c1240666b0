"""Receivers for notifications: an SMTP server (aiosmtpd) and an HTTP webhook receiver.

Both run in a background thread of the current process on a free 127.0.0.1 port and keep what
they received in memory, in arrival order.
"""

from __future__ import annotations

import datetime
import email
import email.message
import email.policy
import ipaddress
import json
import shutil
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .proc import LOOPBACK, READY_TIMEOUT_S, HarnessError, free_port, make_tempdir


def _wait_count(items: list[Any], lock: threading.Lock, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with lock:
            if len(items) >= count:
                return
        time.sleep(0.05)
    raise HarnessError(f"received {len(items)} of {count} within {timeout_s:.0f}s")


# --- SMTP ---------------------------------------------------------------------------------------


class _SmtpHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.sink.credentials and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append(message)
            self.sink.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 Message accepted"


class SmtpSink:
    """aiosmtpd on 127.0.0.1: `.messages` (email.message.Message), `.envelopes`, `.clear()`.

    With `credentials={"user": "password"}` it offers AUTH PLAIN/LOGIN without TLS and refuses
    mail from unauthenticated sessions; `.auth_attempts` lists (user, accepted).
    """

    def __init__(self, credentials: Mapping[str, str] | None = None) -> None:
        self.host = LOOPBACK
        self.port = 0
        self.credentials = dict(credentials or {})
        self.messages: list[email.message.Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.auth_attempts: list[tuple[str, bool]] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode()
        ok = self.credentials.get(user) == auth_data.password.decode()
        with self.lock:
            self.auth_attempts.append((user, ok))
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    def start(self) -> SmtpSink:
        if self._controller:
            return self
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if self.credentials:
            kwargs = {
                "authenticator": self._authenticate,
                "auth_require_tls": False,
                "auth_required": False,  # enforced in handle_MAIL (avoids aiosmtpd's warning)
            }
        self._controller = Controller(
            _SmtpHandler(self),
            hostname=self.host,
            port=self.port,
            ready_timeout=READY_TIMEOUT_S,
            **kwargs,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller:
            controller.stop()

    close = stop

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.envelopes.clear()
            self.auth_attempts.clear()

    def wait_for(self, count: int = 1, timeout_s: float = READY_TIMEOUT_S) -> list[Any]:
        """Wait until at least `count` messages arrived; returns them."""
        _wait_count(self.messages, self.lock, count, timeout_s)
        with self.lock:
            return list(self.messages)


# --- HTTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the HTTP sink got. `json` is the parsed body (None if not JSON)."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: email.message.Message  # case-insensitive: headers["x-token"]
    body: bytes
    json: Any = field(default=None)
    status: int = 200  # what the sink answered


class _HttpHandler(BaseHTTPRequestHandler):
    server: _SinkServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the sink keeps requests, not access logs."""

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        sink = self.server.sink
        status = sink.next_status()
        parts = urlsplit(self.path)
        request = ReceivedRequest(
            self.command, parts.path, parse_qs(parts.query), self.headers, body, parsed, status
        )
        with sink.lock:
            sink.requests.append(request)
        payload = b'{"ok": true}' if status < 300 else b'{"error": "injected failure"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PUT = do_GET = _record


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sink: HttpSink) -> None:
        self.sink = sink
        super().__init__((sink.host, sink.port), _HttpHandler)


def self_signed_cert(directory: Path, host: str = LOOPBACK) -> tuple[Path, Path]:
    """A throwaway certificate for `host` (as IP SAN and CN): (cert.pem, key.pem) in directory."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class HttpSink:
    """HTTP receiver on 127.0.0.1: `.url`, `.requests` (ReceivedRequest), `.fail_next(n)`.

    With `tls=True` it speaks HTTPS with a self-signed certificate (`.cert_path`), as Apprise's
    `jsons://…?verify=no` expects.
    """

    def __init__(self, tls: bool = False) -> None:
        self.host = LOOPBACK
        self.port = 0
        self.tls = tls
        self.cert_path: Path | None = None
        self._certdir: Path | None = None
        self.requests: list[ReceivedRequest] = []
        self.lock = threading.Lock()
        self._failures: list[int] = []
        self._server: _SinkServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> HttpSink:
        if self._server:
            return self
        self.port = free_port()
        self._server = _SinkServer(self)
        if self.tls:
            self._certdir = make_tempdir("https-sink")
            self.cert_path, key_path = self_signed_cert(self._certdir, self.host)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_path, key_path)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="http-sink", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server:
            server.shutdown()
            server.server_close()
        if self._thread:
            self._thread.join(10)
        if self._certdir:
            shutil.rmtree(self._certdir, ignore_errors=True)

    close = stop

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """Answer the next `count` requests with `status` (they are still recorded)."""
        with self.lock:
            self._failures.extend([status] * count)

    def next_status(self) -> int:
        with self.lock:
            return self._failures.pop(0) if self._failures else 200

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self._failures.clear()

    def wait_for(self, count: int = 1, timeout_s: float = READY_TIMEOUT_S) -> list[ReceivedRequest]:
        """Wait until at least `count` requests arrived; returns them."""
        _wait_count(self.requests, self.lock, count, timeout_s)
        with self.lock:
            return list(self.requests)
