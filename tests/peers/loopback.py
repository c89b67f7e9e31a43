"""The HTTP(S) servers the test peers run on loopback: threaded, quiet, started and stopped in one call each."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

from tests.peers.tls import Certificates


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: a client that timed out and hung up is one of the cases under test."""


ServerT = TypeVar("ServerT", bound=QuietServer)


def serve(
    server_class: type[ServerT],
    handler: type[BaseHTTPRequestHandler],
    *,
    name: str,
    port: int = 0,
    certificates: Certificates | None = None,
    **attributes: object,
) -> ServerT:
    """A server on 127.0.0.1 (`port` 0: a free one), HTTPS when `certificates` are given, serving in a thread;
    `attributes` (the peer its handler reports to) are set before the first request can arrive."""
    server = server_class(("127.0.0.1", port), handler)
    for attribute, value in attributes.items():
        setattr(server, attribute, value)
    if certificates is not None:
        server.socket = certificates.server_context().wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server


def shut(server: QuietServer | None) -> None:
    """Stop serving and free the port (a peer stopped twice, or never started, is fine)."""
    if server is not None:
        server.shutdown()
        server.server_close()
