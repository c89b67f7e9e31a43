"""Who is calling, and with which credentials.

A `Principal` is the authenticated caller: a user (JWT) or an API key. Routes ask it one question,
`can(permission)`; where the permissions came from (roles, key scopes) is settled when it is built.
`Credentials` is what the request presented, found in the order seed 003 documents:
`Authorization: Bearer`, then `X-API-Key`, then `?token=`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

SUPERUSER = "*"


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "api_key", "network"]
    id: str
    name: str
    roles: tuple[str, ...] = ()
    permissions: frozenset[str] = frozenset()
    sensor: str | None = None  # an INGEST key is bound to one sensor
    token_id: str | None = None  # the JWT's jti, so logout can revoke it
    token_expires: int | None = None  # epoch seconds

    def can(self, permission: str) -> bool:
        """True when the caller holds `permission` (`resource:action`), `resource:*`, or `*`."""
        if SUPERUSER in self.permissions or permission in self.permissions:
            return True
        resource = permission.split(":", 1)[0]
        return f"{resource}:*" in self.permissions


@dataclass(frozen=True)
class Credentials:
    """A token as presented; `source` says where it was found."""

    token: str
    source: Literal["bearer", "header", "query"]


def find_credentials(headers: Mapping[str, str], query: Mapping[str, str]) -> Credentials | None:
    """The first credential the request carries, in priority order; `None` when there is none."""
    authorization = headers.get("authorization", "").strip()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return Credentials(value.strip(), "bearer")
    api_key = headers.get("x-api-key", "").strip()
    if api_key:
        return Credentials(api_key, "header")
    token = (query.get("token") or "").strip()
    if token:
        return Credentials(token, "query")
    return None


@dataclass(frozen=True)
class Actor:
    """Who makes a change (for the security log)."""

    user_id: int | str | None
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Client:
    """The caller of a login-like route."""

    ip: str
    user_agent: str = ""
