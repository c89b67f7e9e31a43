"""First start: the built-in roles and permissions, and one administrator.

Run by `scripts/run` on every start, and on AWS by invoking the `bootstrap_admin` function once (both
idempotent). With no password given, a strong one is generated and returned so it can be shown once; it is
never logged.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from chalicelib.core.errors import VigilError


@dataclass(frozen=True)
class AdminResult:
    email: str
    created: bool
    generated_password: str | None = None


def ensure_admin(container: Any, *, email: str, password: str | None) -> AdminResult:
    """Make sure the roles, the system whitelist's defaults and an admin with `email` exist; never changes an
    existing user."""
    container.roles.ensure_builtins()
    container.whitelist.ensure_system_defaults(container.settings.platform_addresses)
    if container.users.by_email(email) is not None:
        return AdminResult(email, created=False)
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(18)
    container.users.create(email, password, "Administrator", ["admin"])
    return AdminResult(email, created=True, generated_password=generated)


class AdminBootstrapRequest(BaseModel):
    """The `bootstrap_admin` function's payload. A password in the payload travels through the invoker's
    shell history, so leaving it out (and getting a generated one back) is the recommended way."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=254)
    password: SecretStr | None = None


def bootstrap_admin(container: Any, event: Any) -> dict[str, Any]:
    """Handle one invocation: an answer for the operator, never an exception (a failed invocation would show
    a stack trace instead of what to fix)."""
    try:
        request = AdminBootstrapRequest.model_validate(event if isinstance(event, dict) else {})
        password = request.password.get_secret_value() if request.password else None
        result = ensure_admin(container, email=request.email, password=password)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(part) for part in error["loc"]) or "payload", "message": error["msg"]}
            for error in exc.errors(include_input=False)
        ]
        return {"ok": False, "error": "VALIDATION_ERROR", "details": problems}
    except VigilError as exc:
        return {"ok": False, "error": exc.code, "message": exc.message, "details": exc.details}
    answer: dict[str, Any] = {"ok": True, "email": result.email, "created": result.created}
    if result.generated_password:
        answer["password"] = result.generated_password
        answer["note"] = "Shown once: sign in and change it (POST /api/v1/auth/change-password)."
    elif not result.created:
        answer["note"] = "An account with this email exists; nothing was changed."
    return answer
