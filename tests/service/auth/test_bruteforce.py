"""Seed 001's protections as timelines on the injected clock: rate limit, lockout, honeypot, auto-ban."""

from __future__ import annotations

import pytest

from chalicelib.auth.security_log import LogQuery
from tests.support.client import ApiClient
from tests.support.identity import PASSWORD, make_user

ATTACKER = "203.0.113.66"


@pytest.fixture
def victim(container) -> dict:
    return make_user(container, "viewer", email="victim@example.com")


def login(api: ApiClient, email: str, password: str, ip: str = ATTACKER, path: str = "/api/auth/login"):
    return api.post(path, json={"email": email, "password": password}, source_ip=ip)


def events(container, event_type: str) -> list[dict]:
    return container.security_log.query(LogQuery(event_type=event_type, limit=1000))


def test_five_attempts_per_15_minutes_per_address_then_429(api, container, victim, clock) -> None:
    for n in range(5):
        response = login(api, f"nobody{n}@example.com", "wrong-password-123")
        assert response.status == 401
        assert response.header("X-RateLimit-Limit") == "5"
    sixth = login(api, "nobody9@example.com", "wrong-password-123")
    assert sixth.status == 429
    assert int(sixth.header("Retry-After")) > 0
    assert sixth.header("X-RateLimit-Remaining") == "0"
    assert sixth.json()["success"] is False and sixth.json()["code"] == "RATE_LIMIT"
    # Another address is not affected.
    assert login(api, victim["email"], PASSWORD, ip="198.51.100.77").status == 200
    # The sliding window lets the address back in once the attempts age out.
    clock.advance(minutes=31)
    assert login(api, victim["email"], PASSWORD).status == 200


def test_five_failures_lock_the_account_for_30_minutes_then_423(api, container, victim, clock) -> None:
    for n in range(5):
        # Spread over addresses so the per-address rate limit is not what stops them.
        assert login(api, victim["email"], "wrong-password-123", ip=f"198.51.100.{n + 1}").status == 401
    locked = login(api, victim["email"], PASSWORD, ip="198.51.100.50")
    assert locked.status == 423
    assert locked.json()["code"] == "ACCOUNT_LOCKED"
    assert 0 < int(locked.header("Retry-After")) <= 1800
    assert len(events(container, "account_locked")) == 1
    clock.advance(minutes=29)
    assert login(api, victim["email"], PASSWORD, ip="198.51.100.51").status == 423
    clock.advance(minutes=2)
    assert login(api, victim["email"], PASSWORD, ip="198.51.100.52").status == 200


def test_a_success_resets_the_failure_count(api, container, victim) -> None:
    for n in range(4):
        login(api, victim["email"], "wrong-password-123", ip=f"198.51.100.{n + 1}")
    assert login(api, victim["email"], PASSWORD, ip="198.51.100.60").status == 200
    for n in range(4):
        login(api, victim["email"], "wrong-password-123", ip=f"198.51.100.{n + 10}")
    assert login(api, victim["email"], PASSWORD, ip="198.51.100.61").status == 200


@pytest.mark.parametrize("field", ["website", "hp_check", "url2"])
def test_a_filled_honeypot_is_400_and_a_high_risk_event(api, container, victim, field) -> None:
    response = api.post(
        "/api/auth/login", json={"email": victim["email"], "password": PASSWORD, field: "x"}, source_ip=ATTACKER
    )
    assert response.status == 400
    logged = events(container, "honeypot_triggered")
    assert len(logged) == 1 and logged[0]["riskLevel"] == "high" and logged[0]["ipAddress"] == ATTACKER
    assert events(container, "login_success") == []


def test_ten_suspicious_events_in_an_hour_ban_the_address_for_24_hours(api, container, victim, clock) -> None:
    for n in range(9):
        response = api.post(
            "/auth/login", json={"username": "x@example.com", "password": "p", "website": "bot"}, source_ip=ATTACKER
        )
        assert response.status == 400, n
        clock.advance(minutes=5)
    assert api.get("/api/v1/health", source_ip=ATTACKER).status == 200
    tenth = api.post(
        "/auth/login", json={"username": "x@example.com", "password": "p", "hp_check": "1"}, source_ip=ATTACKER
    )
    assert tenth.status == 400
    # Banned on every route, before authentication, in each contract's envelope.
    for path, check in [
        ("/api/v1/health", lambda b: b["error"]["code"] == "IP_BANNED"),
        ("/api/admin/security-stats", lambda b: b["success"] is False),
        ("/health", lambda b: b["error"]["code"] == "IP_BANNED"),
    ]:
        response = api.get(path, source_ip=ATTACKER)
        assert response.status == 403 and check(response.json())
    assert login(api, victim["email"], PASSWORD, ip=ATTACKER).status == 403
    # Everyone else is unaffected.
    assert api.get("/api/v1/health", source_ip="198.51.100.9").status == 200
    ban = container.decisions.find(ATTACKER)
    assert ban.origin == "auto-ban"
    assert (ban.until - clock.now()).total_seconds() == 24 * 3600
    assert len(events(container, "ip_auto_banned")) == 1
    clock.advance(hours=24, seconds=1)
    assert api.get("/api/v1/health", source_ip=ATTACKER).status == 200


def test_suspicious_events_spread_over_more_than_an_hour_do_not_ban(api, container, clock) -> None:
    for _ in range(12):
        api.post("/api/auth/login", json={"email": "a@example.com", "password": "p", "url2": "x"}, source_ip=ATTACKER)
        clock.advance(minutes=13)
    assert api.get("/api/v1/health", source_ip=ATTACKER).status == 200


def test_the_general_limit_counts_every_request(api, container, monkeypatch) -> None:
    from chalicelib.auth.guard import EdgeGuard  # noqa: PLC0415

    container.__dict__["edge_guard"] = EdgeGuard(container.decisions, container.counters, 3, container.clock)
    for _ in range(3):
        ok = api.get("/api/v1/health", source_ip=ATTACKER)
        assert ok.status == 200 and ok.header("X-RateLimit-Limit") == "3"
    limited = api.get("/api/v1/health", source_ip=ATTACKER)
    assert limited.status == 429 and limited.header("Retry-After")
    assert api.get("/api/v1/health", source_ip="198.51.100.3").status == 200


def test_registration_is_off_by_default_and_limited_when_on(api, container, monkeypatch) -> None:
    response = api.post("/auth/register", json={"email": "new@example.com", "password": "a-long-password-1"})
    assert response.status == 403 and response.json()["error"]["code"] == "FEATURE_DISABLED"
    container.sessions._self_registration = True
    for n in range(5):
        ok = api.post(
            "/auth/register",
            json={"email": f"new{n}@example.com", "password": "a-long-password-1", "full_name": "New"},
            source_ip=ATTACKER,
        )
        assert ok.status == 201, ok.body
        assert set(ok.json()) == {"id", "email", "full_name", "is_active", "created_at"}
    limited = api.post(
        "/auth/register", json={"email": "new9@example.com", "password": "a-long-password-1"}, source_ip=ATTACKER
    )
    assert limited.status == 429


def test_password_reset_requests_are_limited_to_three_an_hour(api, container, victim) -> None:
    for _ in range(3):
        assert api.post("/api/auth/forgot-password", json={"email": victim["email"]}, source_ip=ATTACKER).status == 202
    assert api.post("/api/auth/forgot-password", json={"email": victim["email"]}, source_ip=ATTACKER).status == 429
