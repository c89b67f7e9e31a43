"""Seed 004, the auth and RBAC core at root paths: /auth/*, /admin/roles*, /admin/permissions*,
/admin/users*, with its bodies as documented and `{total, skip, limit, items, has_more}` lists."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.api.common import actor_of, client_of, core_page
from chalicelib.api.contracts import CORE, Reply
from chalicelib.api.routing import AUTHENTICATED, FORM_TYPE, PUBLIC, RequestInfo, route
from chalicelib.api.schemas import models
from chalicelib.auth.principal import Principal
from chalicelib.core.deps import get_container
from chalicelib.core.errors import ConflictError, FieldProblem, ValidationFailedError

if TYPE_CHECKING:
    from chalicelib.api.schemas.auth import (
        FormLogin,
        PageQuery,
        PermissionCreate,
        Registration,
        RoleCreate,
        RoleUpdate,
        UserPageQuery,
    )

bp = Blueprint(__name__)
auth_schemas = models("auth")
BOTH = ("application/json", FORM_TYPE)


def _role_id(role_id: str) -> int:
    if not role_id.isdigit():
        raise ValidationFailedError([FieldProblem("role_id", "Must be an integer")])
    return int(role_id)


@route(
    bp,
    "/auth/register",
    methods=["POST"],
    permission=PUBLIC,
    contract=CORE,
    body=auth_schemas.Registration,
    status=201,
    tags=("auth",),
)
def register(body: Registration, request: RequestInfo) -> Reply:
    """Create an account; 403 unless self-registration is enabled in the settings (off by default)."""
    user = get_container().sessions.register(
        body.email, body.password, body.full_name, client_of(request), body.filled()
    )
    return Reply({k: user[k] for k in ("id", "email", "full_name", "is_active", "created_at")}, status=201)


@route(
    bp,
    "/auth/login",
    methods=["POST"],
    permission=PUBLIC,
    contract=CORE,
    body=auth_schemas.FormLogin,
    response=auth_schemas.TokenOut,
    content_types=BOTH,
    tags=("auth",),
)
def login(body: FormLogin, request: RequestInfo) -> Reply:
    """OAuth2-style password login (form or JSON); `username` is the email."""
    result = get_container().sessions.login(body.username, body.password, client_of(request), body.filled())
    token = {"access_token": result.token.token, "token_type": "bearer", "expires_in": result.token.expires_in}
    return Reply(token, headers=result.limit.headers())


@route(bp, "/auth/me", permission=AUTHENTICATED, contract=CORE, response=auth_schemas.MeOut, tags=("auth",))
def me(principal: Principal) -> dict:
    """The caller, with roles and effective permissions."""
    c = get_container()
    if principal.kind != "user":
        return {
            "id": principal.id,
            "email": None,
            "full_name": principal.name,
            "roles": [],
            "permissions": sorted(principal.permissions),
            "kind": "api_key",
        }
    return {**c.users.get(principal.id), "permissions": sorted(principal.permissions)}


@route(
    bp,
    "/auth/refresh",
    methods=["POST"],
    permission=AUTHENTICATED,
    contract=CORE,
    response=auth_schemas.TokenOut,
    tags=("auth",),
)
def refresh(principal: Principal) -> dict:
    """A fresh token; the presented one is revoked."""
    issued = get_container().sessions.refresh(principal)
    return {"access_token": issued.token, "token_type": "bearer", "expires_in": issued.expires_in}


# roles
@route(bp, "/admin/roles", permission="roles:read", contract=CORE, query=auth_schemas.PageQuery, tags=("roles",))
def list_roles(query: PageQuery) -> dict:
    """Roles, paged."""
    roles = [_role_view(r) for r in get_container().roles.list()]
    return core_page(roles, query.skip, query.limit)


@route(
    bp,
    "/admin/roles",
    methods=["POST"],
    permission="roles:write",
    contract=CORE,
    body=auth_schemas.RoleCreate,
    status=201,
    tags=("roles",),
)
def create_role(body: RoleCreate) -> Reply:
    """Create a role, optionally with permissions."""
    return Reply(_role_view(get_container().roles.create(body.name, body.description, body.permissions)), status=201)


@route(bp, "/admin/roles/{role_id}", permission="roles:read", contract=CORE, tags=("roles",))
def get_role(role_id: str) -> dict:
    """A role with its permissions and how many users hold it."""
    c = get_container()
    role = c.roles.get(_role_id(role_id))
    catalogue = {p["name"]: p for p in c.roles.list_permissions()}
    permissions = [
        {"id": catalogue[n]["id"], "name": n, "description": catalogue[n]["description"]}
        if n in catalogue
        else {"id": None, "name": n, "description": "every permission" if n == "*" else ""}
        for n in role["permissions"]
    ]
    return {**_role_view(role), "permissions": permissions, "users_count": c.users.holders_of(role["name"])}


@route(
    bp,
    "/admin/roles/{role_id}",
    methods=["PUT"],
    permission="roles:write",
    contract=CORE,
    body=auth_schemas.RoleUpdate,
    tags=("roles",),
)
def update_role(role_id: str, body: RoleUpdate) -> dict:
    """Rename, describe, or set the permissions of a role."""
    role = get_container().roles.update(
        _role_id(role_id), name=body.name, description=body.description, permissions=body.permissions
    )
    return _role_view(role)


@route(
    bp,
    "/admin/roles/{role_id}",
    methods=["DELETE"],
    permission="roles:write",
    contract=CORE,
    status=204,
    tags=("roles",),
)
def delete_role(role_id: str) -> Reply:
    """Delete a custom role that nobody holds."""
    c = get_container()
    role = c.roles.get(_role_id(role_id))
    c.roles.delete(role["id"], c.users.holders_of(role["name"]))
    return Reply(status=204)


def _role_view(role: dict) -> dict:
    return {k: role.get(k) for k in ("id", "name", "description", "permissions", "builtin", "created_at")}


# permissions
@route(bp, "/admin/permissions", permission="roles:read", contract=CORE, query=auth_schemas.PageQuery, tags=("roles",))
def list_permissions(query: PageQuery) -> dict:
    """Permissions, paged."""
    items = [
        {k: p.get(k) for k in ("id", "name", "description", "resource", "action")}
        for p in get_container().roles.list_permissions()
    ]
    return core_page(items, query.skip, query.limit)


@route(
    bp,
    "/admin/permissions",
    methods=["POST"],
    permission="roles:write",
    contract=CORE,
    body=auth_schemas.PermissionCreate,
    status=201,
    tags=("roles",),
)
def create_permission(body: PermissionCreate) -> Reply:
    """Create a permission `resource:action` that roles can then grant."""
    permission = get_container().roles.create_permission(body.name, body.description, body.resource, body.action)
    return Reply({k: permission.get(k) for k in ("id", "name", "description", "resource", "action")}, status=201)


# users
@route(bp, "/admin/users", permission="users:read", contract=CORE, query=auth_schemas.UserPageQuery, tags=("users",))
def list_users(query: UserPageQuery) -> dict:
    """Users: search by email or name, filter by status, sort, page."""
    users = get_container().users.list(
        search=query.search, is_active=query.is_active, sort_by=query.sort_by, sort_order=query.sort_order
    )
    return core_page(users, query.skip, query.limit)


@route(
    bp,
    "/admin/users/{user_id}/roles/{role_id}",
    methods=["POST"],
    permission="users:write",
    contract=CORE,
    tags=("users",),
)
def assign_role(user_id: str, role_id: str, principal: Principal, request: RequestInfo) -> dict:
    """Give a user a role."""
    get_container().users.assign_role(user_id, _role_id(role_id), actor=actor_of(principal, request))
    return {"message": "Rôle assigné avec succès"}


@route(
    bp,
    "/admin/users/{user_id}/roles/{role_id}",
    methods=["DELETE"],
    permission="users:write",
    contract=CORE,
    status=204,
    tags=("users",),
)
def remove_role(user_id: str, role_id: str, principal: Principal, request: RequestInfo) -> Reply:
    """Take a role from a user."""
    get_container().users.remove_role(user_id, _role_id(role_id), actor=actor_of(principal, request))
    return Reply(status=204)


@route(
    bp, "/admin/users/{user_id}/activate", methods=["POST"], permission="users:write", contract=CORE, tags=("users",)
)
def activate(user_id: str, principal: Principal, request: RequestInfo) -> dict:
    """Let a user sign in again."""
    user = get_container().users.set_active(user_id, True, actor=actor_of(principal, request))
    return {"id": user["id"], "is_active": user["is_active"]}


@route(
    bp, "/admin/users/{user_id}/deactivate", methods=["POST"], permission="users:write", contract=CORE, tags=("users",)
)
def deactivate(user_id: str, principal: Principal, request: RequestInfo) -> dict:
    """Stop a user signing in; their tokens stop working at once and they are told by email."""
    if principal.kind == "user" and principal.id == user_id:
        raise ConflictError("You cannot deactivate your own account")
    user = get_container().users.set_active(user_id, False, actor=actor_of(principal, request))
    return {"id": user["id"], "is_active": user["is_active"]}
