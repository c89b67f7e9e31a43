"""Seed 000's authentication and users sections under /api/v1, and the API keys of seed 003."""

from __future__ import annotations

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tests.support.client import ApiClient
from tests.support.identity import PASSWORD, make_user, token_for


def sent_mail() -> list:
    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


def test_login_and_logout(api: ApiClient, admin) -> None:
    response = api.post("/api/v1/auth/login", json={"email": admin["email"], "password": PASSWORD})
    assert response.status == 200
    data = response.json()["data"]
    assert data["token_type"] == "bearer" and data["expires_in"] == 1800
    assert data["user"]["email"] == admin["email"] and "password_hash" not in data["user"]
    assert response.json()["meta"]["request_id"] == response.header("X-Request-Id")
    token = data["access_token"]
    assert api.post("/api/v1/auth/logout", token=token).json()["data"] == {"logged_out": True, "token_revoked": True}
    assert api.get("/api/v1/users", token=token).status == 401
    assert api.post("/api/v1/auth/logout").status == 200  # public: without a token it is a no-op


def test_login_needs_an_email(api: ApiClient) -> None:
    response = api.post("/api/v1/auth/login", json={"password": "x"})
    assert response.status == 400 and response.json()["error"]["details"][0]["field"] == "email"


def test_users_crud(admin_api: ApiClient, container) -> None:
    created = admin_api.post(
        "/api/v1/users",
        json={"email": "Ana@Example.COM", "password": "a-very-long-secret-9", "full_name": "Ana", "roles": ["analyst"]},
    )
    assert created.status == 201
    user = created.json()["data"]
    assert user["email"] == "Ana@example.com" and user["roles"] == ["analyst"] and "password_hash" not in user
    duplicate = admin_api.post("/api/v1/users", json={"email": "ana@example.com", "password": "a-very-long-secret-9"})
    assert duplicate.status == 409, "emails are unique whatever their case"
    listed = admin_api.get("/api/v1/users").json()
    assert listed["meta"]["total"] == 2 and {u["email"] for u in listed["data"]} >= {"Ana@example.com"}
    assert admin_api.get(f"/api/v1/users/{user['id']}").json()["data"]["full_name"] == "Ana"
    updated = admin_api.put(f"/api/v1/users/{user['id']}", json={"full_name": "Ana B", "email": "ana.b@example.com"})
    assert updated.status == 200 and updated.json()["data"]["email"] == "ana.b@example.com"
    assert container.users.by_email("ana@example.com") is None, "the old address is free again"
    assert admin_api.put(f"/api/v1/users/{user['id']}", json={"roles": ["wizard"]}).status == 400
    assert admin_api.put(f"/api/v1/users/{user['id']}", json={"password": "sneaky"}).status == 400
    assert admin_api.delete(f"/api/v1/users/{user['id']}").status == 204
    assert admin_api.get(f"/api/v1/users/{user['id']}").status == 404


def test_password_policy(admin_api: ApiClient) -> None:
    for bad in ("short", "aaaaaaaaaaaaaaaa", "carol@example.com"):
        response = admin_api.post("/api/v1/users", json={"email": "carol@example.com", "password": bad})
        assert response.status == 400, bad
        assert response.json()["error"]["details"][0]["field"] == "password"


def test_admin_cannot_delete_themselves(admin_api: ApiClient, admin) -> None:
    assert admin_api.delete(f"/api/v1/users/{admin['id']}").status == 409


def test_reset_password_sets_it_and_emails_the_owner(admin_api: ApiClient, api: ApiClient, container) -> None:
    user = make_user(container, "viewer", email="dora@example.com")
    response = admin_api.post(f"/api/v1/users/{user['id']}/reset-password", json={"password": "another-secret-77"})
    assert response.status == 200 and response.json()["data"]["password_set"] is True
    assert api.post("/api/v1/auth/login", json={"email": "dora@example.com", "password": PASSWORD}).status == 401
    assert (
        api.post("/api/v1/auth/login", json={"email": "dora@example.com", "password": "another-secret-77"}).status
        == 200
    )
    mail = [m for m in sent_mail() if "dora@example.com" in m.destinations["ToAddresses"]]
    assert mail and mail[-1].subject == "Your Vigil password was changed"


def test_reset_without_password_emails_a_single_use_code(admin_api: ApiClient, api: ApiClient, container) -> None:
    user = make_user(container, "viewer", email="erin@example.com")
    response = admin_api.post(f"/api/v1/users/{user['id']}/reset-password", json={})
    assert response.json()["data"]["reset_email_sent"] is True
    message = [m for m in sent_mail() if "erin@example.com" in m.destinations["ToAddresses"]][-1]
    assert message.subject == "Reset your Vigil password"
    code = next(
        line.strip() for line in message.body.splitlines() if len(line.strip()) > 30 and " " not in line.strip()
    )
    used = api.post("/api/auth/reset-password", json={"token": code, "password": "fresh-password-123"})
    assert used.status == 200
    again = api.post("/api/auth/reset-password", json={"token": code, "password": "fresh-password-456"})
    assert again.status == 400, "a code works once"
    assert (
        api.post("/api/v1/auth/login", json={"email": "erin@example.com", "password": "fresh-password-123"}).status
        == 200
    )


def test_forgot_password_does_not_reveal_accounts(api: ApiClient, container) -> None:
    make_user(container, "viewer", email="fay@example.com")
    known = api.post("/api/auth/forgot-password", json={"email": "fay@example.com"})
    unknown = api.post("/api/auth/forgot-password", json={"email": "ghost@example.com"})
    assert known.status == unknown.status == 202
    assert known.json() == unknown.json()


def test_deactivation_emails_the_user(admin_api: ApiClient, container) -> None:
    user = make_user(container, "viewer", email="gus@example.com")
    admin_api.post(f"/admin/users/{user['id']}/deactivate")
    mail = [m for m in sent_mail() if "gus@example.com" in m.destinations["ToAddresses"]]
    assert mail[-1].subject == "Your Vigil account was deactivated"


def test_change_own_password(api: ApiClient, container) -> None:
    user = make_user(container, "viewer")
    token = token_for(container, user)
    wrong = api.post(
        "/api/v1/auth/change-password",
        json={"current_password": "nope-nope-nope", "new_password": "brand-new-secret-1"},
        token=token,
    )
    assert wrong.status == 401
    container.clock.advance(1)
    ok = api.post(
        "/api/v1/auth/change-password",
        json={"current_password": PASSWORD, "new_password": "brand-new-secret-1"},
        token=token,
    )
    assert ok.status == 200
    assert api.get("/auth/me", token=token).status == 401, "the session that changed it ends too"


class TestApiKeys:
    def test_created_once_listed_without_secret(self, admin_api: ApiClient, container) -> None:
        created = admin_api.post("/api/v1/api-keys", json={"name": "soar", "scopes": ["READ", "WRITE"]})
        assert created.status == 201
        key = created.json()["data"]["key"]
        assert key.startswith("vgl_")
        listed = admin_api.get("/api/v1/api-keys").json()["data"]
        assert listed[0]["name"] == "soar" and "key" not in listed[0] and "hash" not in listed[0]
        stored = container.identity_store.get_api_key(listed[0]["id"])
        assert key.split("_", 2)[2] not in str(stored), "only a hash is stored"

    def test_three_ways_to_present_a_key_in_priority_order(
        self, admin_api: ApiClient, api: ApiClient, container
    ) -> None:
        key = admin_api.post("/api/v1/api-keys", json={"name": "r", "scopes": ["READ"]}).json()["data"]["key"]
        viewer_only = "/api/v1/health"
        assert api.get("/auth/me", headers={"Authorization": f"Bearer {key}"}).status == 200
        assert api.get("/auth/me", headers={"X-API-Key": key}).status == 200
        assert api.get("/auth/me", query={"token": key}).status == 200
        # A bad bearer is not rescued by a good header: the first credential found is the one judged.
        assert api.get("/auth/me", headers={"Authorization": "Bearer vgl_nope_nope", "X-API-Key": key}).status == 401
        assert api.get(viewer_only).status == 200

    def test_scopes_map_onto_permissions(self, admin_api: ApiClient, api: ApiClient) -> None:
        read = admin_api.post("/api/v1/api-keys", json={"name": "r", "scopes": ["READ"]}).json()["data"]["key"]
        ingest = admin_api.post("/api/v1/api-keys", json={"name": "i", "scopes": ["INGEST"]}).json()["data"]["key"]
        me_read = api.get("/auth/me", headers={"X-API-Key": read}).json()
        assert "decisions:read" in me_read["permissions"] and "decisions:write" not in me_read["permissions"]
        me_ingest = api.get("/auth/me", headers={"X-API-Key": ingest}).json()
        assert "events:ingest" in me_ingest["permissions"] and "decisions:read" not in me_ingest["permissions"]
        assert api.get("/api/v1/users", headers={"X-API-Key": read}).status == 403
        assert admin_api.post("/api/v1/api-keys", json={"name": "x", "scopes": ["ADMIN"]}).status == 400

    def test_revoked_and_expired_keys_stop_working(
        self, admin_api: ApiClient, api: ApiClient, container, clock, admin
    ) -> None:
        created = admin_api.post(
            "/api/v1/api-keys", json={"name": "t", "scopes": ["READ"], "expires_in_days": 1}
        ).json()
        key, key_id = created["data"]["key"], created["data"]["id"]
        assert api.get("/auth/me", headers={"X-API-Key": key}).status == 200
        assert container.identity_store.get_api_key(key_id)["last_used_at"] == "2026-11-24T10:00:00Z"
        clock.advance(days=1, seconds=1)
        assert api.get("/auth/me", headers={"X-API-Key": key}).status == 401
        admin_api.token = token_for(container, admin)
        other = admin_api.post("/api/v1/api-keys", json={"name": "u", "scopes": ["READ"]}).json()["data"]
        assert admin_api.delete(f"/api/v1/api-keys/{other['id']}").json()["data"]["active"] is False
        assert api.get("/auth/me", headers={"X-API-Key": other["key"]}).status == 401
        assert admin_api.delete(f"/api/v1/api-keys/{other['id']}").status == 409
        assert admin_api.delete("/api/v1/api-keys/ffffffffffffffff").status == 404
        events = [
            e["eventType"]
            for e in container.security_log.query(
                __import__("chalicelib.auth.security_log", fromlist=["LogQuery"]).LogQuery()
            )
        ]
        assert "api_key_created" in events and "api_key_revoked" in events

    def test_a_tampered_key_is_refused(self, admin_api: ApiClient, api: ApiClient) -> None:
        key = admin_api.post("/api/v1/api-keys", json={"name": "r", "scopes": ["READ"]}).json()["data"]["key"]
        assert api.get("/auth/me", headers={"X-API-Key": key[:-1] + ("A" if key[-1] != "A" else "B")}).status == 401
