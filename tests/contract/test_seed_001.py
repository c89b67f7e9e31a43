"""Seed 001 (security API under /api/admin, login at /api/auth/login): envelopes, filters, export, stats."""

from __future__ import annotations

import csv
import io

from chalicelib.auth.security_log import SecurityEvent
from tests.support.client import ApiClient
from tests.support.identity import PASSWORD, make_user, token_for


def test_login_answers_in_the_success_envelope(api: ApiClient, admin) -> None:
    response = api.post("/api/auth/login", json={"email": admin["email"], "password": PASSWORD})
    assert response.status == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"]["access_token"] and body["data"]["user"]["email"] == admin["email"]
    failed = api.post("/api/auth/login", json={"email": admin["email"], "password": "wrong-password"})
    assert failed.status == 401
    assert failed.json()["success"] is False and failed.json()["error"] == "Invalid email or password"


def test_security_logs_shape_and_filters(admin_api: ApiClient, api: ApiClient, admin, clock) -> None:
    api.post("/api/auth/login", json={"email": admin["email"], "password": "wrong"}, source_ip="192.0.2.1")
    clock.advance(60)
    api.post("/api/auth/login", json={"email": admin["email"], "password": PASSWORD}, source_ip="192.0.2.2")
    logs = admin_api.get("/api/admin/security-logs").json()
    assert logs["success"] is True
    entries = [e for e in logs["data"]["logs"] if e["eventType"].startswith("login")]
    assert [e["eventType"] for e in entries[:2]] == ["login_success", "login_failed"]
    first = entries[1]
    assert set(first) == {
        "id",
        "eventType",
        "ipAddress",
        "email",
        "userAgent",
        "riskLevel",
        "success",
        "details",
        "createdAt",
        "userId",
    }
    assert first["riskLevel"] == "medium" and first["success"] is False and first["ipAddress"] == "192.0.2.1"
    only_failed = admin_api.get("/api/admin/security-logs", query={"eventType": "login_failed"}).json()
    assert {e["eventType"] for e in only_failed["data"]["logs"]} == {"login_failed"}
    successes = admin_api.get("/api/admin/security-logs", query={"success": "true"}).json()["data"]["logs"]
    assert successes and all(e["success"] for e in successes)
    by_user = admin_api.get("/api/admin/security-logs", query={"userId": str(admin["id"])}).json()["data"]["logs"]
    assert by_user and all(e["userId"] == str(admin["id"]) for e in by_user)
    assert len(admin_api.get("/api/admin/security-logs", query={"limit": 1}).json()["data"]["logs"]) == 1
    none = admin_api.get("/api/admin/security-logs", query={"startDate": "2027-01-01"}).json()["data"]["logs"]
    assert none == []
    assert admin_api.get("/api/admin/security-logs", query={"riskLevel": "extreme"}).status == 400


def test_security_logs_need_the_admin_role(api: ApiClient, container) -> None:
    viewer = make_user(container, "viewer")
    response = api.get("/api/admin/security-logs", token=token_for(container, viewer))
    assert response.status == 403 and response.json()["success"] is False


def test_export_is_csv_with_formula_cells_neutralised(admin_api: ApiClient, container) -> None:
    for text in ('=HYPERLINK("http://evil")', "+1+1", "-2", "@SUM(A1)", "plain"):
        container.security_log.record(
            SecurityEvent("login_failed", "medium", False, "192.0.2.5", text, user_agent=text)
        )
    response = admin_api.get("/api/admin/security-logs/export")
    assert response.status == 200
    assert response.header("Content-Type").startswith("text/csv")
    assert "attachment" in response.header("Content-Disposition")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    emails = {r["email"] for r in rows}
    assert {'\'=HYPERLINK("http://evil")', "'+1+1", "'-2", "'@SUM(A1)", "plain"} <= emails
    assert all(not r["userAgent"].startswith(("=", "+", "-", "@")) for r in rows)


def test_export_defaults_to_the_last_30_days(admin_api: ApiClient, container, clock, admin) -> None:
    container.security_log.record(SecurityEvent("login_failed", "medium", False, "192.0.2.9", "old@example.com"))
    clock.advance(days=31)
    container.security_log.record(SecurityEvent("login_failed", "medium", False, "192.0.2.9", "new@example.com"))
    admin_api.token = token_for(container, admin)  # the first one expired with the clock's jump
    rows = list(csv.DictReader(io.StringIO(admin_api.get("/api/admin/security-logs/export").text)))
    assert [r["email"] for r in rows] == ["new@example.com"]


def test_security_stats(admin_api: ApiClient, api: ApiClient, admin, clock, container) -> None:
    for _ in range(3):
        api.post("/api/auth/login", json={"email": admin["email"], "password": "wrong"}, source_ip="192.0.2.7")
    clock.advance(hours=2)
    api.post("/api/auth/login", json={"email": admin["email"], "password": "wrong"}, source_ip="192.0.2.8")
    admin_api.token = token_for(container, admin)
    stats = admin_api.get("/api/admin/security-stats").json()
    assert stats["success"] is True
    data = stats["data"]
    assert data["hourlyFailedAttempts"] == 1 and data["dailyFailedAttempts"] == 4
    assert data["topSuspiciousIPs"][0] == {"ipAddress": "192.0.2.7", "count": 3}
    assert {"highRiskEvents24h", "activeBannedIPs"} <= set(data)


def test_security_headers_on_every_answer(api: ApiClient) -> None:
    response = api.get("/api/admin/security-stats")
    assert response.status == 401
    assert response.header("X-Frame-Options") == "DENY"
    assert response.header("Strict-Transport-Security") == "max-age=31536000"
    assert response.header("Content-Security-Policy") == "default-src 'self'"


def test_banned_ips(admin_api: ApiClient) -> None:
    created = admin_api.post(
        "/api/admin/banned-ips", json={"ipAddress": "192.168.1.100", "reason": "Attaque brute force", "duration": 86400}
    )
    assert created.status == 201 and created.json()["success"] is True
    assert created.json()["data"]["expiresAt"] == "2026-11-25T10:00:00Z"
    forever = admin_api.post("/api/admin/banned-ips", json={"ipAddress": "192.168.1.101", "duration": None})
    assert forever.json()["data"]["permanent"] is True
    listed = admin_api.get("/api/admin/banned-ips").json()
    assert listed["success"] is True and listed["count"] == 2
    assert {b["ipAddress"] for b in listed["data"]} == {"192.168.1.100", "192.168.1.101"}
    assert admin_api.delete("/api/admin/banned-ips/192.168.1.100").json()["success"] is True
    gone = admin_api.delete("/api/admin/banned-ips/192.168.1.100")
    assert gone.status == 404 and gone.json()["success"] is False
    bad = admin_api.post("/api/admin/banned-ips", json={"ipAddress": "x", "duration": -5})
    assert bad.status == 400 and bad.json()["success"] is False
