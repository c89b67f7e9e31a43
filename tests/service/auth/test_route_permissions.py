"""Every registered route: no credentials → 401, credentials without its permission → 403, the right ones → in.

Public routes are listed here explicitly: a new route is public only if someone adds it to this list.
"""

from __future__ import annotations

import re

import pytest

import app  # noqa: F401 - registers every route before the lists below are built
from chalicelib.api.routing import AUTHENTICATED, PUBLIC, ROUTES, RouteSpec
from chalicelib.core.errors import AuthenticationError
from tests.support.client import ApiClient
from tests.support.identity import make_user, token_for

PUBLIC_ROUTES = {
    ("GET", "/api/v1/health"),
    ("GET", "/health"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/core-docs"),
    ("GET", "/static/{name}"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/forgot-password"),
    ("POST", "/api/auth/reset-password"),
    ("POST", "/auth/login"),
    ("POST", "/auth/register"),
}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "sample", path)


def test_public_routes_are_exactly_the_listed_ones() -> None:
    public = {(s.method, s.path) for s in ROUTES if s.permission == PUBLIC}
    assert public == PUBLIC_ROUTES


def test_every_route_declares_a_known_permission() -> None:
    from chalicelib.auth.permissions import NAMES  # noqa: PLC0415

    for spec in ROUTES:
        assert spec.permission in NAMES | {PUBLIC, AUTHENTICATED}, f"{spec.method} {spec.path}: {spec.permission}"


PROTECTED = [s for s in ROUTES if s.permission != PUBLIC]


@pytest.mark.parametrize("spec", PROTECTED, ids=lambda s: f"{s.method} {s.path}")
def test_route_refuses_without_credentials_and_without_permission(spec: RouteSpec, api: ApiClient, container) -> None:
    path = concrete(spec.path)
    # 401 everywhere, except where the contract says otherwise (CrowdSec's LAPI answers bouncers 403).
    unauthenticated = spec.contract.status_of(AuthenticationError("x"))
    anonymous = api.request(spec.method, path, json={})
    assert anonymous.status == unauthenticated, anonymous.body
    bogus = api.request(spec.method, path, json={}, token="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.forged")
    assert bogus.status == unauthenticated, bogus.body

    if spec.permission != AUTHENTICATED:
        role = "agent" if spec.permission != "events:ingest" else "viewer"
        outsider = make_user(container, role)
        denied = api.request(spec.method, path, json={}, token=token_for(container, outsider))
        assert denied.status == 403, denied.body

    holder = _holder_of(container, spec.permission)
    allowed = api.request(spec.method, path, json={}, token=token_for(container, holder))
    assert allowed.status not in (401, 403), allowed.body
    assert allowed.status < 500, allowed.body


def _holder_of(container, permission: str) -> dict:
    """A user whose only role grants exactly `permission` (any role will do for AUTHENTICATED routes)."""
    if permission == AUTHENTICATED:
        return make_user(container, "agent")
    name = "only-" + re.sub(r"[^a-z0-9]+", "-", permission)
    container.roles.ensure_builtins()
    if container.identity_store.get_role_by_name(name) is None:
        container.roles.create(name, f"holds {permission} only", [permission])
    return make_user(container, roles=[name])
