"""The response envelopes of the five contracts Vigil serves, and the one mapping from errors to HTTP.

Each seed document has its own shape for success and failure. A route names its contract; the route wrapper
and the edge middleware render every answer (including 404, 405, 413 and 429 produced before the route runs)
through it, so a client written for any seed sees only that seed's shapes.

- `V1` (seed 000, `/api/v1`): `{"data": ..., "meta": {...}}`, errors `{"error": {code, message, details, request_id}}`
- `ADMIN` (seed 001, `/api/admin`) and `DETECTOR` (seed 002): `{"success": true, ...}`, errors
  `{"success": false, "error": "<message>", "code": ...}`
- `IOC` (seed 003, `/api`): the body as documented (`{"status": "ok", ...}`), errors `{"status": "error", ...}`
- `CORE` (seed 004, root paths): bodies as documented, errors `{"error": {code, message, details, timestamp,
  request_id}}`, field validation failures as 422
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.core import errors as e
from chalicelib.core.clock import iso

# The HTTP status of every error class. Looked up along the class's MRO, so a subclass without an entry takes
# its parent's; a test proves every class in core.errors has an explicit entry anyway.
STATUS: dict[type[e.VigilError], int] = {
    e.VigilError: 500,
    e.InvalidInputError: 400,
    e.ValidationFailedError: 400,
    e.AuthenticationError: 401,
    e.TokenExpiredError: 401,
    e.PermissionDeniedError: 403,
    e.IpBannedError: 403,
    e.FeatureDisabledError: 403,
    e.NotFoundError: 404,
    e.MethodNotAllowedError: 405,
    e.ConflictError: 409,
    e.WhitelistedError: 409,
    e.PayloadTooLargeError: 413,
    e.UnsupportedMediaTypeError: 415,
    e.AccountLockedError: 423,
    e.RateLimitedError: 429,
    e.DependencyError: 503,
    e.TargetError: 502,
    e.TargetConfigurationError: 400,
    e.ConfigurationError: 500,
    e.InternalError: 500,
    e.ItemTooLargeError: 500,
}


@dataclass
class Reply:
    """What a route returns when it needs more than a body: a status, headers, list metadata.

    `raw=True` sends `body` exactly as given (JSON), without the contract's success envelope.
    """

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] | None = None
    raw: bool = False


@dataclass
class Raw:
    """A non-JSON answer (CSV, plain-text feeds, HTML, server-sent events)."""

    body: str | bytes
    content_type: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def error_headers(exc: e.VigilError) -> dict[str, str]:
    """Headers an error carries by its nature (Retry-After, rate-limit state, Allow)."""
    headers: dict[str, str] = exc.limit.headers() if exc.limit is not None else {}
    if isinstance(exc, (e.RateLimitedError, e.AccountLockedError)):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, e.MethodNotAllowedError):
        headers["Allow"] = ", ".join(exc.allowed)
    elif isinstance(exc, e.AuthenticationError):
        headers["WWW-Authenticate"] = 'Bearer realm="vigil"'
    return headers


class Contract:
    """One seed's envelope. Subclasses override `success` and `failure`."""

    name = "base"
    overrides: dict[type[e.VigilError], int] = {}

    def status_of(self, exc: e.VigilError) -> int:
        for cls in type(exc).__mro__:
            if cls in self.overrides:
                return self.overrides[cls]
            if cls in STATUS:
                return STATUS[cls]
        return 500

    def success(self, body: Any, *, meta: dict[str, Any] | None, request_id: str) -> Any:
        raise NotImplementedError

    def failure(self, exc: e.VigilError, *, request_id: str, now: datetime) -> dict[str, Any]:
        raise NotImplementedError

    def success_schema(self, data: dict[str, Any]) -> dict[str, Any]:
        """The JSON schema of a success body wrapping `data` (for the OpenAPI document)."""
        return data

    def failure_schema(self) -> dict[str, Any]:
        raise NotImplementedError


class V1Contract(Contract):
    name = "v1"

    def success(self, body: Any, *, meta: dict[str, Any] | None, request_id: str) -> Any:
        return {"data": body, "meta": {**(meta or {}), "request_id": request_id}}

    def failure(self, exc: e.VigilError, *, request_id: str, now: datetime) -> dict[str, Any]:
        return {
            "error": {
                "code": exc.code,
                "message": exc.message,
                "details": exc.details,
                "request_id": request_id,
            }
        }

    def success_schema(self, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"data": data, "meta": {"type": "object"}},
            "required": ["data", "meta"],
        }

    def failure_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "details": {},
                        "request_id": {"type": "string"},
                    },
                    "required": ["code", "message", "request_id"],
                }
            },
            "required": ["error"],
        }


class SuccessFlagContract(Contract):
    """Seeds 001 and 002: `success` true or false beside the body's own fields."""

    def success(self, body: Any, *, meta: dict[str, Any] | None, request_id: str) -> Any:
        if isinstance(body, dict):
            return {"success": True, **body}
        return {"success": True, "data": body}

    def failure(self, exc: e.VigilError, *, request_id: str, now: datetime) -> dict[str, Any]:
        answer: dict[str, Any] = {"success": False, "error": exc.message, "code": exc.code}
        if exc.details is not None:
            answer["details"] = exc.details
        answer["request_id"] = request_id
        return answer

    def success_schema(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"allOf": [{"type": "object", "properties": {"success": {"const": True}}}, data]}

    def failure_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "success": {"const": False},
                "error": {"type": "string"},
                "code": {"type": "string"},
                "details": {},
                "request_id": {"type": "string"},
            },
            "required": ["success", "error"],
        }


class AdminContract(SuccessFlagContract):
    name = "admin"


class DetectorContract(SuccessFlagContract):
    name = "detector"


class IocContract(Contract):
    name = "ioc"

    def success(self, body: Any, *, meta: dict[str, Any] | None, request_id: str) -> Any:
        return body

    def failure(self, exc: e.VigilError, *, request_id: str, now: datetime) -> dict[str, Any]:
        answer: dict[str, Any] = {"status": "error", "error": exc.message, "code": exc.code}
        if exc.details is not None:
            answer["details"] = exc.details
        answer["request_id"] = request_id
        return answer

    def failure_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "status": {"const": "error"},
                "error": {"type": "string"},
                "code": {"type": "string"},
                "details": {},
                "request_id": {"type": "string"},
            },
            "required": ["status", "error"],
        }


class CoreContract(Contract):
    name = "core"
    # Seed 004 answers field validation failures with 422 (its status table), malformed requests with 400.
    overrides = {e.ValidationFailedError: 422}

    def success(self, body: Any, *, meta: dict[str, Any] | None, request_id: str) -> Any:
        return body

    def failure(self, exc: e.VigilError, *, request_id: str, now: datetime) -> dict[str, Any]:
        return {
            "error": {
                "code": exc.code,
                "message": exc.message,
                "details": exc.details,
                "timestamp": iso(now),
                "request_id": request_id,
            }
        }

    def failure_schema(self) -> dict[str, Any]:
        schema = V1.failure_schema()
        schema["properties"]["error"]["properties"]["timestamp"] = {"type": "string", "format": "date-time"}
        return schema


class CrowdSecContract(Contract):
    """CrowdSec's Local API, as its bouncers expect it: bodies as the API documents, errors `{"message": ...}`,
    and a missing or wrong API key answered 403 (the LAPI never answers 401 to a bouncer)."""

    name = "crowdsec"
    overrides = {e.AuthenticationError: 403, e.TokenExpiredError: 403}

    def success(self, body: Any, *, meta: dict[str, Any] | None, request_id: str) -> Any:
        return body

    def failure(self, exc: e.VigilError, *, request_id: str, now: datetime) -> dict[str, Any]:
        return {"message": exc.message}

    def failure_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}


V1 = V1Contract()
ADMIN = AdminContract()
DETECTOR = DetectorContract()
IOC = IocContract()
CORE = CoreContract()
CROWDSEC = CrowdSecContract()
CONTRACTS: tuple[Contract, ...] = (V1, ADMIN, DETECTOR, IOC, CORE, CROWDSEC)

# Where a request matches no route, the path says whose client is asking.
_PREFIXES: tuple[tuple[str, Contract], ...] = (
    ("/v1/", CROWDSEC),
    ("/api/v1/", V1),
    ("/api/admin/", ADMIN),
    ("/api/auth/", ADMIN),
    ("/api/", IOC),
)


def contract_for_path(path: str) -> Contract:
    """The contract of a path no route matched (the seed whose base path it falls under)."""
    for prefix, contract in _PREFIXES:
        if path.startswith(prefix) or path == prefix.rstrip("/"):
            return contract
    return CORE
