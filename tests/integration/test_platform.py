"""The local platform over real HTTP: health, docs, logins, a decision round trip, data that survives a
restart, and an emulator that does not outlive the platform."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime

import pytest

from tests.integration.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Stack,
    admin_token,
    call,
    start_stack,
    stop_stack,
)
from tests.support.logs import sshd_failure

pytestmark = pytest.mark.integration


def test_health_openapi_and_docs_are_served(stack: Stack) -> None:
    status, headers, body = call("GET", stack.url("/api/v1/health"))
    assert status == 200 and json.loads(body)["status"] == "healthy"
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Request-Id"]
    status, _, body = call("GET", stack.url("/api/v1/openapi.json"))
    assert status == 200 and json.loads(body)["openapi"].startswith("3.1")
    status, headers, body = call("GET", stack.url("/docs"))
    assert status == 200 and b"static/docs.js" in body
    assert call("GET", stack.url("/static/docs.js"))[0] == 200
    status, _, body = call("GET", stack.url("/health"))
    assert status == 200 and json.loads(body)["checks"] == {"database": True, "storage": True, "queue": True}


def test_unknown_routes_and_methods_answer_in_the_contract(stack: Stack) -> None:
    status, _, body = call("GET", stack.url("/api/v1/no-such-thing"))
    assert status == 404 and json.loads(body)["error"]["code"] == "NOT_FOUND"
    status, headers, body = call("DELETE", stack.url("/api/v1/health"))
    assert status == 405 and "GET" in headers["Allow"]


def test_login_over_http_on_every_login_route(stack: Stack) -> None:
    status, headers, body = call(
        "POST", stack.url("/auth/login"), form={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert status == 200 and json.loads(body)["token_type"] == "bearer"
    assert headers["X-RateLimit-Limit"] == "5"
    token = json.loads(body)["access_token"]  # its own session: logging it out leaves the shared one alone
    status, _, body = call(
        "POST", stack.url("/api/v1/auth/login"), body={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert status == 200 and json.loads(body)["data"]["user"]["email"] == ADMIN_EMAIL
    status, _, body = call("POST", stack.url("/api/auth/login"), body={"email": ADMIN_EMAIL, "password": "wrong"})
    assert status == 401 and json.loads(body)["success"] is False
    status, _, body = call("GET", stack.url("/auth/me"), token=token)
    assert status == 200 and json.loads(body)["roles"] == ["admin"]
    assert call("POST", stack.url("/api/v1/auth/logout"), token=token)[0] == 200
    assert call("GET", stack.url("/auth/me"), token=token)[0] == 401


def test_a_ban_over_http_reaches_the_lists(stack: Stack) -> None:
    token = admin_token(stack)
    status, _, body = call(
        "POST",
        stack.url("/api/v1/bans"),
        token=token,
        body={"ip": "203.0.113.70", "reason": "integration", "duration": "1h"},
    )
    assert status == 201, body
    status, _, body = call("GET", stack.url("/api/v1/blocked-ips"), token=token)
    assert any(b["ip_address"] == "203.0.113.70" for b in json.loads(body)["data"])
    status, _, body = call("GET", stack.url("/api/v1/whitelist/check/203.0.113.70"), token=token)
    assert json.loads(body)["data"]["banned"] is True


def test_data_survives_a_restart(tmp_path) -> None:
    first = start_stack(tmp_path / "data", tmp_path / "run.log")
    try:
        token = admin_token(first)
        status, _, _ = call("POST", first.url("/api/v1/bans"), token=token, body={"ip": "198.51.100.200"})
        assert status == 201
    finally:
        stop_stack(first)
    assert first.process.returncode == 0, (tmp_path / "run.log").read_text()[-2000:]
    assert (tmp_path / "data" / "snapshot.json.gz").exists()
    second = start_stack(tmp_path / "data", tmp_path / "run.log")
    try:
        token = admin_token(second)  # the admin (and its password) came back too
        status, _, body = call("GET", second.url("/api/v1/bans/198.51.100.200"), token=token)
        assert status == 200, body
    finally:
        stop_stack(second)


def test_the_emulator_does_not_outlive_a_killed_platform(tmp_path) -> None:
    stack = start_stack(tmp_path / "data", tmp_path / "run.log")
    moto_port = int(stack.moto.rsplit(":", 1)[1])
    assert _listening(moto_port)
    stack.process.kill()  # no Ctrl-C, no chance to stop the emulator itself
    stack.process.wait(timeout=30)
    deadline = time.monotonic() + 20
    while _listening(moto_port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _listening(moto_port), "moto server kept running after scripts/run was killed"


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_concurrent_requests_are_each_answered_for_themselves(stack: Stack) -> None:
    """Two agents post at once, the same batch id for their own sensors: each gets its own batch's answer. (The
    threaded local server once ran both invocations together, and Chalice's one `current_request` mixed them.)"""
    token = admin_token(stack)
    keys = []
    for sensor in ("conc-0", "conc-1"):
        body = {"name": sensor, "scopes": ["INGEST"], "sensor": sensor}
        status, _, answer = call("POST", stack.url("/api/v1/api-keys"), token=token, body=body)
        assert status == 201, answer
        keys.append(json.loads(answer)["data"]["key"])
    now = datetime.now(UTC)

    def post(number: int, batch_id: str, answers: dict[int, tuple[int, bytes]]) -> None:
        lines = [sshd_failure(now, f"198.51.100.{number + 1}") for _ in range(3 + 4 * number)]
        body = {"sensor": f"conc-{number}", "format": "sshd", "batch_id": batch_id, "lines": lines}
        key = {"X-API-Key": keys[number]}
        status, _, answer = call("POST", stack.url("/api/v1/ingest"), body=body, headers=key)
        answers[number] = (status, answer)

    for round_ in range(3):
        answers: dict[int, tuple[int, bytes]] = {}
        threads = [threading.Thread(target=post, args=(number, f"same-{round_}", answers)) for number in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(answers) == [0, 1]
        for number, (status, answer) in sorted(answers.items()):
            assert status == 200, answer
            assert json.loads(answer)["data"]["accepted"] == 3 + 4 * number, (round_, number, answer)
