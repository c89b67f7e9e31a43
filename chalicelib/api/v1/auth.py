"""Seed 000's authentication and users routes under /api/v1, and the API keys of seed 003."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.api.common import actor_of, client_of
from chalicelib.api.contracts import V1, Reply
from chalicelib.api.routing import AUTHENTICATED, PUBLIC, RequestInfo, route, try_authenticate
from chalicelib.api.schemas import models
from chalicelib.auth.principal import Principal
from chalicelib.core.deps import get_container
from chalicelib.core.errors import AuthenticationError, FieldProblem, ValidationFailedError

if TYPE_CHECKING:
    from chalicelib.api.schemas.auth import (
        ApiKeyCreate,
        EmailLogin,
        PasswordChange,
        PasswordReset,
        UserCreate,
        UserUpdate,
    )

bp = Blueprint(__name__)
auth_schemas = models("auth")


def login_body(body: EmailLogin, request: RequestInfo) -> tuple[dict, dict[str, str]]:
    """Log in with the shared brute-force rules; returns the token body and the rate-limit headers."""
    if not body.address():
        raise ValidationFailedError([FieldProblem("email", "Field required")])
    result = get_container().sessions.login(body.address(), body.password, client_of(request), body.filled())
    token = {"access_token": result.token.token, "token_type": "bearer", "expires_in": result.token.expires_in}
    return {**token, "user": result.user}, result.limit.headers()


@route(
    bp,
    "/api/v1/auth/login",
    methods=["POST"],
    permission=PUBLIC,
    contract=V1,
    body=auth_schemas.EmailLogin,
    response=auth_schemas.LoginOut,
    tags=("auth",),
)
def login(body: EmailLogin, request: RequestInfo) -> Reply:
    """Sign in with email and password; answers a bearer token valid for 30 minutes."""
    data, headers = login_body(body, request)
    return Reply(data, headers=headers)


@route(bp, "/api/v1/auth/logout", methods=["POST"], permission=PUBLIC, contract=V1, tags=("auth",))
def logout(request: RequestInfo) -> dict:
    """Revoke the presented token until it would have expired (a call without one is a no-op)."""
    revoked = get_container().sessions.logout(try_authenticate(request))
    return {"logged_out": True, "token_revoked": revoked}


@route(
    bp,
    "/api/v1/auth/change-password",
    methods=["POST"],
    permission=AUTHENTICATED,
    contract=V1,
    body=auth_schemas.PasswordChange,
    response=auth_schemas.UserOut,
    tags=("auth",),
)
def change_password(body: PasswordChange, principal: Principal, request: RequestInfo) -> dict:
    """Change your own password (the current one is required); every other session ends."""
    c = get_container()
    if principal.kind != "user":
        raise AuthenticationError("API keys have no password")
    record = c.users.record(principal.id)
    if record is None or not c.users.hashing.verify(record["password_hash"], body.current_password):
        raise AuthenticationError("Current password is wrong")
    return c.users.set_password(principal.id, body.new_password, actor=actor_of(principal, request))


@route(bp, "/api/v1/users", permission="users:read", contract=V1, response=list[auth_schemas.UserOut], tags=("users",))
def list_users() -> Reply:
    """Every user."""
    users = get_container().users.list()
    return Reply(users, meta={"total": len(users), "limit": len(users), "offset": 0})


@route(
    bp,
    "/api/v1/users",
    methods=["POST"],
    permission="users:write",
    contract=V1,
    body=auth_schemas.UserCreate,
    response=auth_schemas.UserOut,
    status=201,
    tags=("users",),
)
def create_user(body: UserCreate, principal: Principal, request: RequestInfo) -> dict:
    """Create a user (admin)."""
    return get_container().users.create(
        body.email,
        body.password,
        body.full_name,
        body.roles,
        is_active=body.is_active,
        actor=actor_of(principal, request),
    )


@route(bp, "/api/v1/users/{id}", permission="users:read", contract=V1, response=auth_schemas.UserOut, tags=("users",))
def get_user(id: str) -> dict:
    """One user."""
    return get_container().users.get(id)


@route(
    bp,
    "/api/v1/users/{id}",
    methods=["PUT"],
    permission="users:write",
    contract=V1,
    body=auth_schemas.UserUpdate,
    response=auth_schemas.UserOut,
    tags=("users",),
)
def update_user(id: str, body: UserUpdate, principal: Principal, request: RequestInfo) -> dict:
    """Change a user's email, name, roles or active flag."""
    return get_container().users.update(id, body.model_dump(exclude_unset=True), actor=actor_of(principal, request))


@route(bp, "/api/v1/users/{id}", methods=["DELETE"], permission="users:write", contract=V1, status=204, tags=("users",))
def delete_user(id: str, principal: Principal, request: RequestInfo) -> Reply:
    """Delete a user (not yourself)."""
    get_container().users.delete(id, actor=actor_of(principal, request))
    return Reply(status=204)


@route(
    bp,
    "/api/v1/users/{id}/reset-password",
    methods=["POST"],
    permission="users:write",
    contract=V1,
    body=auth_schemas.PasswordReset,
    tags=("users",),
)
def reset_password(id: str, body: PasswordReset, principal: Principal, request: RequestInfo) -> dict:
    """Set a user's password, or (without one) email them a single-use reset code."""
    c = get_container()
    if body.password:
        user = c.users.set_password(id, body.password, actor=actor_of(principal, request))
        return {"user": user, "password_set": True, "reset_email_sent": False}
    user = c.users.get(id)
    c.sessions.request_reset(user["email"], client_of(request), "/api/auth/reset-password")
    return {"user": user, "password_set": False, "reset_email_sent": True}


@route(bp, "/api/v1/api-keys", permission="apikeys:read", contract=V1, tags=("api-keys",))
def list_api_keys() -> Reply:
    """Every API key (never the secret)."""
    keys = get_container().api_keys.list()
    return Reply(keys, meta={"total": len(keys), "limit": len(keys), "offset": 0})


@route(
    bp,
    "/api/v1/api-keys",
    methods=["POST"],
    permission="apikeys:write",
    contract=V1,
    body=auth_schemas.ApiKeyCreate,
    status=201,
    tags=("api-keys",),
)
def create_api_key(body: ApiKeyCreate, principal: Principal, request: RequestInfo) -> dict:
    """Create a key with scopes READ, WRITE and/or INGEST; the `key` in the answer is shown only this once."""
    c = get_container()
    expires = body.expires_at
    if expires is None and body.expires_in_days:
        expires = c.clock.now() + timedelta(days=body.expires_in_days)
    view, key = c.api_keys.create(
        body.name,
        list(body.scopes),
        created_by=principal.id,
        expires_at=expires,
        sensor=body.sensor,
        ip=request.source_ip,
    )
    return {**view, "key": key}


@route(bp, "/api/v1/api-keys/{key_id}", methods=["DELETE"], permission="apikeys:write", contract=V1, tags=("api-keys",))
def revoke_api_key(key_id: str, principal: Principal, request: RequestInfo) -> dict:
    """Revoke a key: it stops working at once."""
    return get_container().api_keys.revoke(key_id, revoked_by=principal.id, ip=request.source_ip)
