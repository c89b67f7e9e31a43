"""The `bootstrap_admin` Lambda function: the one way to create the first administrator on AWS."""

from __future__ import annotations

import logging

import pytest

from chalicelib.core.deps import Container
from tests.support.client import ApiClient


@pytest.fixture
def invoke(container: Container):
    import app  # noqa: PLC0415

    return lambda payload: app.bootstrap_admin(payload, None)


def test_first_invocation_creates_an_admin_whose_generated_password_signs_in(
    invoke, api: ApiClient, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = invoke({"email": "Root@Example.org"})

    assert answer["ok"] is True and answer["created"] is True
    password = answer["password"]
    assert len(password) >= 20
    login = api.post("/api/v1/auth/login", json={"email": "root@example.org", "password": password})
    assert login.status == 200
    token = login.json()["data"]["access_token"]
    assert api.get("/api/v1/users", token=token).status == 200, "an admin's token lists users"
    # the password is in the answer only: never in a log line or on stdout/stderr
    captured = capsys.readouterr()
    assert password not in caplog.text + captured.out + captured.err


def test_second_invocation_changes_nothing(invoke, container: Container) -> None:
    first = invoke({"email": "root@example.org"})
    user_before = container.users.by_email("root@example.org")

    second = invoke({"email": "root@example.org", "password": "An0ther-Strong-Passphrase!"})

    assert second == {
        "ok": True,
        "email": "root@example.org",
        "created": False,
        "note": "An account with this email exists; nothing was changed.",
    }
    assert container.users.by_email("root@example.org")["password_hash"] == user_before["password_hash"]
    assert first["created"] is True


def test_a_given_password_is_used_and_not_echoed(invoke, api: ApiClient) -> None:
    answer = invoke({"email": "root@example.org", "password": "Corr3ct-Horse-Battery!"})

    assert answer["created"] is True and "password" not in answer
    login = api.post("/api/v1/auth/login", json={"email": "root@example.org", "password": "Corr3ct-Horse-Battery!"})
    assert login.status == 200


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "email"),
        (None, "email"),
        ({"email": "root@example.org", "role": "admin"}, "role"),
        ({"email": "x" * 300}, "email"),
    ],
)
def test_a_bad_payload_is_refused_and_creates_nothing(invoke, container: Container, payload, field) -> None:
    answer = invoke(payload)

    assert answer["ok"] is False and answer["error"] == "VALIDATION_ERROR"
    assert field in [problem["field"] for problem in answer["details"]]
    assert container.users.by_email("root@example.org") is None


def test_a_weak_password_is_refused_with_the_policy_reason(invoke, container: Container) -> None:
    answer = invoke({"email": "root@example.org", "password": "short"})

    assert answer["ok"] is False and answer["error"] == "VALIDATION_ERROR"
    assert answer["details"], "the policy problem is named"
    assert container.users.by_email("root@example.org") is None


def test_an_invalid_email_is_refused(invoke, container: Container) -> None:
    answer = invoke({"email": "not-an-email"})

    assert answer["ok"] is False and answer["details"] == [{"field": "email", "message": "Invalid email format"}]
