"""First start: the built-in roles and permissions, and one administrator.

Run by `scripts/run` on every start (idempotent). The admin's email and password come from the environment;
with no password given, a strong one is generated and returned so it can be shown once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any


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
