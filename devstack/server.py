"""Serve the Chalice app over HTTP on loopback with Chalice's local server and Vigil's gateway."""

from __future__ import annotations

import threading
from typing import Any

from chalice.config import Config
from chalice.local import LocalDevServer, ThreadedHTTPServer

from devstack.gateway import VigilRequestHandler


class RunningServer:
    def __init__(self, server: LocalDevServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.port = server.server.server_address[1]

    def shutdown(self) -> None:
        self._server.shutdown()
        self._thread.join(10)


def start_server(app: Any, port: int, host: str = "127.0.0.1") -> RunningServer:
    """Start serving in a background thread; `port=0` picks a free port."""
    config = Config.create(chalice_stage="local", lambda_timeout=60, app_name="vigil")
    server = LocalDevServer(app, config, host, port, handler_cls=VigilRequestHandler, server_cls=ThreadedHTTPServer)
    thread = threading.Thread(target=server.server.serve_forever, name="api-server", daemon=True)
    thread.start()
    return RunningServer(server, thread)
