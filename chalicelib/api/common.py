"""Small helpers the route modules share: who is acting, seed 004's page shape, seed 000's list meta."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from chalicelib.api.routing import RequestInfo
from chalicelib.auth.principal import Actor, Client, Principal


def actor_of(principal: Principal | None, request: RequestInfo) -> Actor:
    return Actor(principal.id if principal else None, request.source_ip, request.user_agent)


def actor_name(principal: Principal | None) -> str | None:
    """How decisions record who made them: `user:<id>` or `key:<id>`."""
    if principal is None:
        return None
    return f"{'user' if principal.kind == 'user' else 'key'}:{principal.id}"


def client_of(request: RequestInfo) -> Client:
    return Client(request.source_ip, request.user_agent)


def core_page(items: list[Any], skip: int, limit: int) -> dict[str, Any]:
    """Seed 004's list shape: `{total, skip, limit, items, has_more}`."""
    window = items[skip : skip + limit]
    return {
        "total": len(items),
        "skip": skip,
        "limit": limit,
        "items": window,
        "has_more": skip + len(window) < len(items),
    }


def utc(value: datetime | None, *, end_of_day: bool = False) -> datetime | None:
    """A query time as aware UTC; a bare date given as an end bound covers that whole day."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
        if end_of_day and value.time() == time(0):
            value += timedelta(days=1) - timedelta(microseconds=1)
    return value.astimezone(UTC)
