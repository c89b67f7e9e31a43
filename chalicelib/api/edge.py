"""The HTTP edge: what every response gets, whatever route (or no route) produced it.

One Chalice `http` middleware gives each request an id, refuses bodies over the configured size, runs the
guards that come before authentication (banned addresses, the general rate limit), and on the way out adds
the request id, the security headers of seed 001, CORS headers and an access log line. Errors that Chalice
itself produces (405 wrong method, 415 media type, 500) are re-rendered in the contract of the route, so a
client never sees a body shape its seed does not document.

Unknown routes never reach the app in AWS (API Gateway answers them); `unmatched_route_response` renders them
for the local server and the test client, and `infra/` configures the matching gateway responses.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from chalicelib.api import contracts
from chalicelib.api.contracts import Contract
from chalicelib.api.routing import current_request_id, error_response, find_spec, methods_of, request_info
from chalicelib.core import errors as e
from chalicelib.core.deps import get_container
from chalicelib.core.ids import request_id as new_request_id
from chalicelib.core.observability import flush_metrics, get_logger

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
    "Content-Security-Policy": "default-src 'self'",
    "Strict-Transport-Security": "max-age=31536000",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
EXPOSED_HEADERS = "X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, ETag"
ALLOWED_HEADERS = "Authorization, Content-Type, X-API-Key, Idempotency-Key, X-Request-Id, If-None-Match, Last-Event-ID"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")

# Chalice's own error codes (`{"Code": ..., "Message": ...}` bodies) and the Vigil error that replaces each.
_CHALICE_ERRORS: dict[str, Callable[[str, Any], e.VigilError]] = {
    "MethodNotAllowedError": lambda msg, r: e.MethodNotAllowedError(
        msg, allowed=[m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()]
    ),
    "UnsupportedMediaType": lambda msg, r: e.UnsupportedMediaTypeError(msg),
    "BadRequest": lambda msg, r: e.InvalidInputError(msg),
    "BadRequestError": lambda msg, r: e.InvalidInputError(msg),
    "InternalServerError": lambda msg, r: e.InternalError("Internal server error"),
}


def edge_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice `http` middleware; registered by app.py."""
    started = time.perf_counter()
    rid = _request_id(event.headers)
    token = current_request_id.set(rid)
    resource = (event.context or {}).get("resourcePath", "")
    spec = find_spec(resource, event.method)
    contract = spec.contract if spec else contracts.contract_for_path(resource)
    extra_headers: dict[str, str] = {}
    try:
        extra_headers = _run_guards(event, spec)
        response = get_response(event)
        response = _translate_chalice_error(response, contract, rid)
    except e.VigilError as exc:
        response = error_response(contract, exc, rid)
    finally:
        current_request_id.reset(token)
    for name, value in extra_headers.items():
        response.headers.setdefault(name, value)
    finish(response.headers, rid, event.headers.get("origin"))
    _log_access(event, response.status_code, started, rid)
    return response


def _request_id(headers: Any) -> str:
    """The caller's `X-Request-Id` when it looks like an id (proxies and agents trace with it), else ours."""
    offered = (headers or {}).get("x-request-id", "")
    return offered if _CLIENT_REQUEST_ID.match(offered) else new_request_id()


def _run_guards(event: Any, spec: Any) -> dict[str, str]:
    """Checks that come before any route: body size, then the container's pre-authentication guards."""
    container = get_container()
    body = event.raw_body or b""
    if len(body) > container.settings.max_body_bytes:
        raise e.PayloadTooLargeError(
            f"Request body of {len(body)} bytes is over the limit of {container.settings.max_body_bytes}"
        )
    guard = getattr(container, "edge_guard", None)
    if guard is None:
        return {}
    return guard(request_info(event), spec)


def _translate_chalice_error(response: Any, contract: Contract, rid: str) -> Any:
    body = response.body
    if isinstance(body, str) and body.startswith('{"Code"'):
        body = json.loads(body)
    if not (isinstance(body, dict) and "Code" in body and "Message" in body):
        return response
    make = _CHALICE_ERRORS.get(body["Code"])
    if make is None:
        return response
    return error_response(contract, make(body["Message"], response), rid)


def finish(headers: dict[str, str], rid: str, origin: str | None) -> None:
    """Headers every response carries: request id, security headers, and CORS for allowed origins."""
    headers["X-Request-Id"] = rid
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    allowed = get_container().settings.cors_origins
    if origin and (origin in allowed or "*" in allowed):
        headers["Access-Control-Allow-Origin"] = origin if "*" not in allowed else "*"
        headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        headers["Vary"] = "Origin"


def _log_access(event: Any, status: int, started: float, rid: str) -> None:
    context = event.context or {}
    get_logger().info(
        "request",
        method=event.method,
        path=context.get("path") or context.get("resourcePath"),
        status=status,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        request_id=rid,
        source_ip=(context.get("identity") or {}).get("sourceIp"),
    )
    flush_metrics()


def unmatched_route_response(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    """The Lambda-proxy response for a request no route matches: 404 in the contract its path falls under."""
    rid = _request_id({k.lower(): v for k, v in headers.items()})
    contract = contracts.contract_for_path(path)
    response = error_response(contract, e.NotFoundError(f"No route for {method} {path}"), rid)
    finish(response.headers, rid, headers.get("origin") or headers.get("Origin"))
    return response.to_dict()


def preflight_headers(path_template: str, origin: str | None) -> dict[str, str]:
    """CORS preflight headers for an allowed origin; none (so the browser refuses) for any other."""
    allowed = get_container().settings.cors_origins
    if not origin or not (origin in allowed or "*" in allowed):
        return {}
    return {
        "Access-Control-Allow-Origin": origin if "*" not in allowed else "*",
        "Access-Control-Allow-Methods": ", ".join([*methods_of(path_template), "OPTIONS"]),
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }
