"""Seed 004 (auth/RBAC core at root paths): every documented identity endpoint, its body and its codes."""

from __future__ import annotations

import pytest

from tests.support.client import ApiClient
from tests.support.identity import PASSWORD, make_user, token_for


def test_form_login_returns_a_bearer_token(api: ApiClient, admin) -> None:
    response = api.post("/auth/login", form={"username": admin["email"], "password": PASSWORD})
    assert response.status == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 1800
    assert body["access_token"].startswith("ey")


def test_json_login_works_too_and_bad_credentials_are_401(api: ApiClient, admin) -> None:
    assert api.post("/auth/login", json={"username": admin["email"], "password": PASSWORD}).status == 200
    wrong = api.post("/auth/login", json={"username": admin["email"], "password": "nope-nope-nope"})
    assert wrong.status == 401
    assert wrong.json()["error"]["code"] == "AUTHENTICATION_ERROR"
    assert {"code", "message", "details", "timestamp", "request_id"} <= set(wrong.json()["error"])


def test_login_validation_errors_are_422_with_field_details(api: ApiClient) -> None:
    response = api.post("/auth/login", json={"username": "someone@example.com"})
    assert response.status == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert {"field": "password", "message": "Field required"} in error["details"]


def test_malformed_json_is_400(api: ApiClient) -> None:
    response = api.post("/auth/login", body="{not json", headers={"content-type": "application/json"})
    assert response.status == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_me_lists_roles_and_permissions(api: ApiClient, container) -> None:
    user = make_user(container, "analyst")
    body = api.get("/auth/me", token=token_for(container, user)).json()
    assert body["email"] == user["email"] and body["roles"] == ["analyst"]
    assert "decisions:write" in body["permissions"] and "users:write" not in body["permissions"]
    assert "password_hash" not in body


def test_roles_crud(admin_api: ApiClient) -> None:
    listed = admin_api.get("/admin/roles").json()
    assert set(listed) == {"total", "skip", "limit", "items", "has_more"}
    assert {r["name"] for r in listed["items"]} >= {"admin", "analyst", "viewer", "agent"}
    created = admin_api.post("/admin/roles", json={"name": "manager", "description": "Gestionnaire d'équipe"})
    assert created.status == 201
    role = created.json()
    assert {"id", "name", "description", "created_at"} <= set(role) and isinstance(role["id"], int)
    detail = admin_api.get(f"/admin/roles/{role['id']}").json()
    assert detail["users_count"] == 0 and detail["permissions"] == []
    updated = admin_api.put(f"/admin/roles/{role['id']}", json={"description": "Super", "permissions": ["events:read"]})
    assert updated.status == 200 and updated.json()["permissions"] == ["events:read"]
    assert admin_api.post("/admin/roles", json={"name": "manager"}).status == 409
    assert admin_api.delete(f"/admin/roles/{role['id']}").status == 204
    assert admin_api.get(f"/admin/roles/{role['id']}").status == 404


def test_builtin_roles_cannot_be_deleted_or_renamed(admin_api: ApiClient) -> None:
    roles = {r["name"]: r["id"] for r in admin_api.get("/admin/roles").json()["items"]}
    assert admin_api.delete(f"/admin/roles/{roles['viewer']}").status == 409
    assert admin_api.put(f"/admin/roles/{roles['admin']}", json={"name": "boss"}).status == 409
    assert admin_api.put(f"/admin/roles/{roles['admin']}", json={"permissions": ["users:read"]}).status == 409


def test_unknown_permissions_are_refused(admin_api: ApiClient) -> None:
    response = admin_api.post("/admin/roles", json={"name": "odd", "permissions": ["nuclear:launch"]})
    assert response.status == 422


def test_permissions_list_and_create(admin_api: ApiClient) -> None:
    listed = admin_api.get("/admin/permissions", query={"limit": 100}).json()
    assert listed["total"] >= 20
    first = listed["items"][0]
    assert set(first) == {"id", "name", "description", "resource", "action"}
    created = admin_api.post(
        "/admin/permissions",
        json={"name": "reports:generate", "description": "Générer", "resource": "reports", "action": "generate"},
    )
    assert created.status == 201 and created.json()["resource"] == "reports"
    assert admin_api.post("/admin/permissions", json={"name": "reports:generate"}).status == 409
    mismatch = admin_api.post("/admin/permissions", json={"name": "a:b", "resource": "c", "action": "b"})
    assert mismatch.status == 400


def test_users_list_search_filter_sort_and_page(admin_api: ApiClient, container) -> None:
    for name in ("john@example.com", "jane@example.com", "bob@example.com"):
        make_user(container, "viewer", email=name)
    container.users.set_active(container.users.by_email("bob@example.com")["id"], False)
    page = admin_api.get(
        "/admin/users",
        query={"search": "j", "is_active": "true", "sort_by": "email", "sort_order": "desc", "skip": 0, "limit": 1},
    ).json()
    assert page["total"] == 2 and page["has_more"] is True and page["limit"] == 1
    assert page["items"][0]["email"] == "john@example.com"
    assert set(page["items"][0]) >= {"id", "email", "full_name", "is_active", "roles", "last_login", "created_at"}
    inactive = admin_api.get("/admin/users", query={"is_active": "false"}).json()
    assert [u["email"] for u in inactive["items"]] == ["bob@example.com"]
    assert admin_api.get("/admin/users", query={"limit": 101}).status == 422
    assert admin_api.get("/admin/users", query={"sort_by": "password_hash"}).status == 422


def test_assign_and_remove_role(admin_api: ApiClient, container) -> None:
    user = make_user(container, "viewer")
    roles = {r["name"]: r["id"] for r in admin_api.get("/admin/roles").json()["items"]}
    assigned = admin_api.post(f"/admin/users/{user['id']}/roles/{roles['analyst']}")
    assert assigned.status == 200 and assigned.json() == {"message": "Rôle assigné avec succès"}
    assert "analyst" in container.users.get(user["id"])["roles"]
    assert admin_api.delete(f"/admin/users/{user['id']}/roles/{roles['analyst']}").status == 204
    assert admin_api.delete(f"/admin/users/{user['id']}/roles/{roles['analyst']}").status == 404
    assert admin_api.post(f"/admin/users/{user['id']}/roles/9999").status == 404


def test_activate_and_deactivate(admin_api: ApiClient, container, api) -> None:
    user = make_user(container, "viewer")
    assert admin_api.post(f"/admin/users/{user['id']}/deactivate").json() == {"id": user["id"], "is_active": False}
    assert api.post("/auth/login", form={"username": user["email"], "password": PASSWORD}).status == 401
    assert admin_api.post(f"/admin/users/{user['id']}/activate").json() == {"id": user["id"], "is_active": True}
    assert api.post("/auth/login", form={"username": user["email"], "password": PASSWORD}).status == 200


@pytest.mark.parametrize("path", ["/admin/users", "/admin/roles", "/admin/permissions"])
def test_admin_routes_need_a_token(api: ApiClient, path: str) -> None:
    response = api.get(path)
    assert response.status == 401 and response.header("WWW-Authenticate")
