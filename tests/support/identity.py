"""Users and tokens for tests: real users in the moto-backed store, tokens signed like a login's."""

from __future__ import annotations

import itertools
from typing import Any

from chalicelib.auth import tokens
from chalicelib.core.deps import Container

PASSWORD = "correct-horse-battery-staple"
_counter = itertools.count(1)


def make_user(
    container: Container,
    role: str | None = "viewer",
    *,
    email: str | None = None,
    password: str = PASSWORD,
    roles: list[str] | None = None,
) -> dict[str, Any]:
    container.roles.ensure_builtins()
    email = email or f"user{next(_counter)}@example.com"
    return container.users.create(email, password, "Test User", roles if roles is not None else [role])


def token_for(container: Container, user: dict[str, Any]) -> str:
    return tokens.issue(str(user["id"]), container.token_policy(), container.clock.now()).token
