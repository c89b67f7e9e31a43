"""Token tampering: only an HS256 token we signed, unexpired, unrevoked, for an active user, gets in."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from chalicelib.auth import tokens
from tests.support.client import ApiClient
from tests.support.identity import make_user, token_for


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def user(container) -> dict:
    return make_user(container, "viewer")


def claims(container, user, **overrides) -> dict:
    now = int(container.clock.now().timestamp())
    base = {
        "sub": str(user["id"]),
        "iss": "vigil",
        "aud": "vigil-api",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "abc123",
    }
    base.update(overrides)
    return base


def me(api: ApiClient, token: str):
    return api.get("/auth/me", token=token)


def test_a_genuine_token_is_accepted(api, container, user) -> None:
    assert me(api, token_for(container, user)).status == 200


def test_alg_none_is_refused(api, container, user) -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims(container, user))}."
    assert me(api, token).status == 401


def test_another_algorithm_is_refused_even_with_the_right_secret(api, container, user) -> None:
    secret = container.token_policy().secret
    token = jwt.encode(claims(container, user), secret, algorithm="HS512")
    response = me(api, token)
    assert response.status == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"


def test_a_bad_signature_is_refused(api, container, user) -> None:
    token = jwt.encode(claims(container, user), "another-secret-of-sufficient-length-0123456789", algorithm="HS256")
    assert me(api, token).status == 401


def test_a_modified_payload_is_refused(api, container, user) -> None:
    head, _, signature = token_for(container, user).split(".")
    forged = f"{head}.{_b64(claims(container, user, sub='999'))}.{signature}"
    assert me(api, forged).status == 401


@pytest.mark.parametrize("field", ["iss", "aud"])
def test_wrong_issuer_or_audience_is_refused(api, container, user, field) -> None:
    token = jwt.encode(claims(container, user, **{field: "someone-else"}), container.token_policy().secret, "HS256")
    assert me(api, token).status == 401


def test_missing_jti_is_refused(api, container, user) -> None:
    payload = claims(container, user)
    del payload["jti"]
    assert me(api, jwt.encode(payload, container.token_policy().secret, "HS256")).status == 401


def test_an_expired_token_is_refused_and_logged_as_session_expired(api, container, user, clock) -> None:
    token = token_for(container, user)
    clock.advance(container.settings.jwt_ttl_seconds)
    response = me(api, token)
    assert response.status == 401
    assert response.json()["error"]["code"] == "TOKEN_EXPIRED"
    logged = container.security_log.query(tokens_query("session_expired"))
    assert len(logged) == 1


def tokens_query(event_type: str):
    from chalicelib.auth.security_log import LogQuery  # noqa: PLC0415

    return LogQuery(event_type=event_type)


def test_a_revoked_token_is_refused(api, container, user) -> None:
    token = token_for(container, user)
    assert api.post("/api/v1/auth/logout", token=token).json()["data"]["token_revoked"] is True
    assert me(api, token).status == 401


def test_refresh_rotates_the_token(api, container, user) -> None:
    old = token_for(container, user)
    response = api.post("/auth/refresh", token=old)
    assert response.status == 200
    new = response.json()["access_token"]
    assert new != old and response.json()["expires_in"] == 1800
    assert me(api, old).status == 401
    assert me(api, new).status == 200


def test_tokens_of_deactivated_or_deleted_users_are_refused(api, container, user, admin) -> None:
    token = token_for(container, user)
    container.users.set_active(user["id"], False)
    assert me(api, token).status == 401
    container.users.set_active(user["id"], True)
    assert me(api, token).status == 401, "a token issued before deactivation stays dead"
    container.clock.advance(1)
    assert me(api, token_for(container, user)).status == 200, "a token issued after reactivation works"
    other = make_user(container, "viewer")
    other_token = token_for(container, other)
    container.users.delete(other["id"])
    assert me(api, other_token).status == 401


def test_a_password_change_ends_earlier_sessions(api, container, user, clock) -> None:
    token = token_for(container, user)
    clock.advance(5)
    container.users.set_password(user["id"], "a-brand-new-password-42")
    assert me(api, token).status == 401


def test_verify_rejects_tokens_from_the_future(container, user) -> None:
    policy = container.token_policy()
    later = container.clock.now().replace(year=2030)
    issued = tokens.issue(str(user["id"]), policy, later)
    with pytest.raises(Exception, match="not valid yet"):
        tokens.verify(issued.token, policy, container.clock.now())
