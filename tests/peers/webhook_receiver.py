"""A webhook receiver on 127.0.0.1 (plain HTTP, or HTTPS with `certificates`), as a tenant would run one.

It checks each delivery the way the documentation tells receivers to: the HMAC-SHA256 of the raw body with the
shared secret must equal `X-Vigil-Signature` (computed here with `hmac` directly, not with Vigil's code, so a
wrong signature on Vigil's side cannot agree with itself), and `X-Vigil-Timestamp` must be within five minutes of
`sent_at` in the body. It records every delivery (headers, body, whether it verified) and answers `status`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.peers.loopback import QuietServer, serve, shut
from tests.peers.tls import Certificates


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        receiver.deliveries.append(
            Delivery(self.path, dict(self.headers.items()), body, receiver.verify(body, self.headers))
        )
        self.send_response(receiver.status)
        if 300 <= receiver.status < 400:
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(QuietServer):
    receiver: WebhookReceiver


class WebhookReceiver:
    def __init__(self, secret: str, certificates: Certificates | None = None) -> None:
        self.secret = secret
        self.certificates = certificates
        self.status = 200
        self.deliveries: list[Delivery] = []
        self._server: _Server | None = None

    def verify(self, body: bytes, headers: Any) -> bool:
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("X-Vigil-Signature", "")):
            return False
        try:
            sent_at = datetime.fromisoformat(json.loads(body)["sent_at"].replace("Z", "+00:00"))
            return abs(int(headers.get("X-Vigil-Timestamp", "0")) - sent_at.timestamp()) <= 300
        except (ValueError, KeyError):
            return False

    def start(self) -> WebhookReceiver:
        server = serve(_Server, _Handler, name="webhook-receiver", certificates=self.certificates, receiver=self)
        self._server = server
        return self

    def stop(self) -> None:
        shut(self._server)
        self._server = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def url(self, host: str = "127.0.0.1", path: str = "/hooks/vigil") -> str:
        scheme = "https" if self.certificates is not None else "http"
        return f"{scheme}://{host}:{self.port}{path}"
