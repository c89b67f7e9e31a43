"""API Gateway's behaviour for the local server and the test client, where Chalice's emulation differs.

Two facts of the edge (docs/ARCHITECTURE.md): API Gateway answers an unknown route itself, and the CDK stack
turns that answer into a 404 in the contract's envelope (gateway responses); Chalice's local gateway answers
403 "Missing Authentication Token" instead, so here an unmatched route is rendered by the app's edge. And
`chalice local` reports 127.0.0.1 as every caller's `sourceIp`, which would put every client in one rate-limit
and ban bucket; here the socket's peer address is passed through, as API Gateway does.

And one invocation at a time, as one Lambda container runs them: the threaded server reads and writes sockets
concurrently, but Chalice keeps the request being handled on the app object (`app.current_request`), so two
invocations running together in one process read each other's request (seen as one sensor's batch answered
with another's `409 being processed`). Lambda scales by running more containers, never two at once in one.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from chalice.local import ChaliceRequestHandler, LocalGateway, LocalGatewayException

from chalicelib.api.edge import unmatched_route_response

_INVOCATION = threading.Lock()  # the app's one "container": see the module's docstring


class VigilGateway(LocalGateway):
    """Chalice's local gateway with API Gateway's 404s, the caller's real address, one invocation at a time."""

    def handle_request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None,
        source_ip: str = "127.0.0.1",
    ) -> dict[str, Any]:
        try:
            self.event_converter._route_matcher.match_route(path)
        except ValueError:
            return unmatched_route_response(method, path.split("?", maxsplit=1)[0], headers)
        self.event_converter.LOCAL_SOURCE_IP = source_ip
        with _INVOCATION:
            return super().handle_request(method, path, headers, body)


class VigilRequestHandler(ChaliceRequestHandler):
    """Chalice's request handler, routed through `VigilGateway` with the socket's peer address."""

    def __init__(self, request: Any, client_address: tuple[str, int], server: Any, app_object: Any, config: Any):
        # The stdlib handler serves the request inside __init__, so everything it uses is set first.
        self.local_gateway = VigilGateway(app_object, config)
        self._peer = client_address[0]
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def _generic_handle(self) -> None:
        headers, body = self._parse_payload()
        try:
            response = self.local_gateway.handle_request(
                method=self.command, path=self.path, headers=headers, body=body, source_ip=self._peer
            )
            status_code = response["statusCode"]
            out_headers = response["headers"].copy()
            out_headers.update(response.get("multiValueHeaders") or {})
            response = self._handle_binary(response)
            self._send_http_response(status_code, out_headers, response["body"])
        except LocalGatewayException as exc:
            self._send_error_response(exc)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def log_message(self, format: str, *args: Any) -> None:
        """The app logs every request as JSON already; the stdlib's stderr line would repeat it."""
