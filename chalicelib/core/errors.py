"""One exception tree for the whole of Vigil.

Domain code raises these; it never knows about HTTP. The API edge maps each class to a status code and a
contract envelope in one place (`chalicelib.api.contracts`), and a test proves every class here is mapped.

    VigilError
    ├── InvalidInputError          the caller sent something we cannot accept
    │   ├── ValidationFailedError  field-level validation failures (pydantic), with one detail per field
    │   └── TargetConfigurationError  a firewall refuses us for a reason only a person can fix
    ├── AuthenticationError        no credentials, or credentials we do not accept
    │   └── TokenExpiredError      a genuine token past its expiry
    ├── PermissionDeniedError      authenticated, but not allowed
    │   ├── IpBannedError          the caller's address is banned (checked before authentication)
    │   └── FeatureDisabledError   the route exists but a setting turns it off
    ├── NotFoundError
    ├── MethodNotAllowedError
    ├── ConflictError              the write contradicts what is stored
    │   └── WhitelistedError       a ban on an address that a whitelist protects
    ├── PayloadTooLargeError
    ├── UnsupportedMediaTypeError
    ├── AccountLockedError
    ├── RateLimitedError           carries retry-after and the limit window
    ├── DependencyError            an AWS service or a peer did not answer as it should
    │   └── TargetError            a firewall did not do what was asked; may pass (retry later)
    ├── ConfigurationError         a setting is missing or wrong (raised at start-up)
    └── InternalError              a bug: something we did not expect (the details stay in the log)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LimitState:
    """Where a caller stands against one rate limit; rendered as the `X-RateLimit-*` headers."""

    limit: int
    remaining: int
    reset_epoch: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": str(self.reset_epoch),
        }


class VigilError(Exception):
    """Base of every error Vigil raises on purpose.

    `limit` is where the caller stands against the rate limit the failed request counted against (a failed
    login still spends one of its five attempts), so the answer can say so.
    """

    code = "ERROR"

    def __init__(
        self, message: str, *, details: Any = None, code: str | None = None, limit: LimitState | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.limit = limit
        if code is not None:
            self.code = code


class InvalidInputError(VigilError):
    code = "VALIDATION_ERROR"


@dataclass(frozen=True)
class FieldProblem:
    """One field that failed validation: `field` is a dotted path (`items.0.ip`), `message` says why."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class ValidationFailedError(InvalidInputError):
    """Field-level validation failed; `details` is a list of `FieldProblem`."""

    def __init__(self, problems: list[FieldProblem], message: str = "Validation failed") -> None:
        super().__init__(message, details=[p.as_dict() for p in problems])
        self.problems = problems


class AuthenticationError(VigilError):
    code = "AUTHENTICATION_ERROR"


class TokenExpiredError(AuthenticationError):
    code = "TOKEN_EXPIRED"


class PermissionDeniedError(VigilError):
    code = "AUTHORIZATION_ERROR"


class IpBannedError(PermissionDeniedError):
    code = "IP_BANNED"


class FeatureDisabledError(PermissionDeniedError):
    code = "FEATURE_DISABLED"


class NotFoundError(VigilError):
    code = "NOT_FOUND"


class MethodNotAllowedError(VigilError):
    code = "METHOD_NOT_ALLOWED"

    def __init__(self, message: str, *, allowed: list[str]) -> None:
        super().__init__(message, details={"allowed": allowed})
        self.allowed = allowed


class ConflictError(VigilError):
    code = "CONFLICT"


class WhitelistedError(ConflictError):
    code = "WHITELISTED"


class PayloadTooLargeError(VigilError):
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaTypeError(VigilError):
    code = "UNSUPPORTED_MEDIA_TYPE"


class AccountLockedError(VigilError):
    code = "ACCOUNT_LOCKED"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class RateLimitedError(VigilError):
    code = "RATE_LIMIT"

    def __init__(self, message: str, *, retry_after: int, state: LimitState) -> None:
        super().__init__(message, details={"retry_after": retry_after}, limit=state)
        self.retry_after = retry_after
        self.state = state


class DependencyError(VigilError):
    code = "DEPENDENCY_ERROR"


class TargetError(DependencyError):
    """A target (firewall, WAF, webhook) did not do what was asked, for a reason that may pass."""

    code = "TARGET_ERROR"


class TargetConfigurationError(InvalidInputError):
    """A target refuses us for a reason only a person can fix (credentials, host key, rights, address)."""

    code = "TARGET_CONFIGURATION_ERROR"


class ConfigurationError(VigilError):
    code = "CONFIGURATION_ERROR"


class InternalError(VigilError):
    code = "INTERNAL_ERROR"


class ItemTooLargeError(InternalError):
    """DynamoDB refused a write that would take an item past its 400 KB limit: retrying cannot help, so the
    caller decides what to give up (a store of counters drops the update and says so)."""
