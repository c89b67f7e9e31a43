"""Seed 000's Detect2Ban and Pending Bans (D2B v2) sections under /api/v1, with detection fed through ingest.

The engine switch and the scenarios are changed through the API, and their effect is proven the way it matters:
failed logins posted to `POST /api/v1/ingest` ban (or propose, or do not) at the counts the scenarios say.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.support.client import ApiClient
from tests.support.identity import make_user, token_for
from tests.support.logs import ingest, sshd_failure, sshd_invalid_user

SHIPPED = [
    "ssh-bruteforce",
    "windows-bruteforce",
    "login-failures-threshold",
    "user-enumeration",
    "auth-low-and-slow",
    "distributed-bruteforce",
    "waf-attack-burst",
    "ips-port-scan",
]
REVIEW = {
    "description": "Two refused ssh passwords: a person decides",
    "filter": {"kinds": ["auth_failure"], "services": ["sshd"]},
    "threshold": {"count": 2},
    "window": "10m",
    "action": "pending",
    "duration": "2h",
    "severity": "medium",
    "mitre": ["T1110"],
    "reason": "{count} refused passwords from {ip}",
}


def data(response) -> Any:
    assert response.status == 200, response.body
    return response.json()["data"]


def fields_of(response) -> list[str]:
    return [d["field"] for d in response.json()["error"]["details"]]


def failures(client: ApiClient, clock, ip: str, count: int, sensor: str = "web01") -> dict:
    """`count` refused passwords from `ip` within the last minute, posted as one batch."""
    now = clock.now() - timedelta(minutes=1)
    lines = [sshd_failure(now + timedelta(seconds=i), ip, user="root") for i in range(count)]
    return ingest(client, sensor, "sshd", lines)


def banned(client: ApiClient) -> dict[str, dict]:
    return {b["ip"]: b for b in data(client.get("/api/v1/bans"))}


# /detect2ban: status and the switch
def test_status(admin_api: ApiClient, clock) -> None:
    status = data(admin_api.get("/api/v1/detect2ban/status"))
    assert status == {
        "enabled": True,
        "changed_at": None,
        "changed_by": None,
        "scenarios": 8,
        "scenarios_enabled": 8,
        "active_bans": 0,
        "pending_bans": 0,
    }
    failures(admin_api, clock, "203.0.113.10", 5)
    admin_api.put("/api/v1/detect2ban/scenarios/review-ssh", json=REVIEW)
    failures(admin_api, clock, "203.0.113.11", 2)
    status = data(admin_api.get("/api/v1/detect2ban/status"))
    assert status["active_bans"] == 1 and status["pending_bans"] == 1 and status["scenarios"] == 9


def test_disable_enable_toggle(admin_api: ApiClient, admin, clock) -> None:
    disabled = data(admin_api.post("/api/v1/detect2ban/disable"))
    assert disabled == {"enabled": False, "changed_at": "2026-11-24T10:00:00Z", "changed_by": f"user:{admin['id']}"}
    assert data(admin_api.get("/api/v1/detect2ban/status"))["enabled"] is False
    result = failures(admin_api, clock, "203.0.113.10", 6)
    assert result["accepted"] == 6 and result["decisions"] == [], "events are stored, nothing is decided"
    assert banned(admin_api) == {}
    assert len(data(admin_api.get("/api/v1/events"))) == 6

    assert data(admin_api.post("/api/v1/detect2ban/enable"))["enabled"] is True
    result = failures(admin_api, clock, "203.0.113.20", 5)
    assert [(d["action"], d["ip"], d["scenario"]) for d in result["decisions"]] == [
        ("ban", "203.0.113.20", "ssh-bruteforce")
    ]
    assert list(banned(admin_api)) == ["203.0.113.20"]

    assert data(admin_api.post("/api/v1/detect2ban/toggle"))["enabled"] is False
    assert failures(admin_api, clock, "203.0.113.30", 5)["decisions"] == []
    assert data(admin_api.post("/api/v1/detect2ban/toggle"))["enabled"] is True
    assert data(admin_api.post("/api/v1/detect2ban/enable"))["enabled"] is True, "enabling twice is harmless"


def test_the_switch_and_scenario_edits_need_detection_write(api: ApiClient, container) -> None:
    viewer = token_for(container, make_user(container, "viewer"))
    analyst = token_for(container, make_user(container, "analyst"))
    for path in ("/api/v1/detect2ban/status", "/api/v1/detect2ban/scenarios", "/api/v1/pending-bans"):
        assert api.get(path, token=viewer).status == 200, path
    for path in ("/api/v1/detect2ban/enable", "/api/v1/detect2ban/disable", "/api/v1/detect2ban/toggle"):
        refused = api.post(path, token=viewer)
        assert refused.status == 403 and refused.json()["error"]["code"], path
    assert api.put("/api/v1/detect2ban/scenarios/review-ssh", json=REVIEW, token=viewer).status == 403
    assert api.delete("/api/v1/detect2ban/scenarios/ssh-bruteforce", token=viewer).status == 403
    assert api.post("/api/v1/detect2ban/disable", token=analyst).status == 200, "analysts run detection"
    assert api.put("/api/v1/detect2ban/scenarios/review-ssh", json=REVIEW, token=analyst).status == 200
    assert api.get("/api/v1/detect2ban/status").status == 401


# /detect2ban/scenarios
def test_scenarios_in_force(admin_api: ApiClient) -> None:
    listed = admin_api.get("/api/v1/detect2ban/scenarios").json()
    assert [s["name"] for s in listed["data"]] == SHIPPED and listed["meta"]["total"] == 8
    assert {s["origin"] for s in listed["data"]} == {"default"}
    ssh = data(admin_api.get("/api/v1/detect2ban/scenarios/ssh-bruteforce"))
    assert ssh["threshold"] == {"count": 5} and ssh["window"] == "10m" and ssh["action"] == "ban"
    assert ssh["duration"] == "1h" and ssh["recidivism"] == {"factor": 2.0, "max_duration": "7d"}
    assert ssh["filter"]["services"] == ["sshd"] and ssh["mitre"] == ["T1110", "T1110.001"]
    missing = admin_api.get("/api/v1/detect2ban/scenarios/no-such-scenario")
    assert missing.status == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


def test_validation_errors_name_the_field(admin_api: ApiClient) -> None:
    def refused(name: str, body: Any) -> list[str]:
        response = admin_api.put(f"/api/v1/detect2ban/scenarios/{name}", json=body)
        assert response.status == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR", response.body
        return fields_of(response)

    assert refused("review-ssh", {**REVIEW, "threshold": {"count": 0}}) == ["threshold.count"]
    assert refused("review-ssh", {**REVIEW, "action": "nuke"}) == ["action"]
    assert refused("review-ssh", {**REVIEW, "filter": {"kinds": ["teleport"]}}) == ["filter.kinds"]
    assert refused("review-ssh", {**REVIEW, "group_by": ["username"]}) == ["group_by"]
    assert refused("review-ssh", {**REVIEW, "mitre": ["brute force"]}) == ["mitre"]
    assert refused("review-ssh", {**REVIEW, "reason": "{password}"}) == ["reason"]
    assert refused("review-ssh", {**REVIEW, "duration": "forever-ish"}) == ["duration"]
    assert refused("review-ssh", {**REVIEW, "colour": "red"}) == ["colour"]
    assert sorted(refused("review-ssh", {"description": "only words"})) == ["action", "filter", "threshold", "window"]
    assert refused("Review_SSH", REVIEW) == ["name"]
    # Window bounds are checked on the whole scenario (with its bucket rule); the message names the window.
    response = admin_api.put("/api/v1/detect2ban/scenarios/review-ssh", json={**REVIEW, "window": "30s"})
    assert response.status == 400 and "window" in response.json()["error"]["details"][0]["message"]
    not_object = admin_api.put(
        "/api/v1/detect2ban/scenarios/review-ssh", body="[1, 2]", headers={"content-type": "application/json"}
    )
    assert not_object.status == 400
    assert admin_api.get("/api/v1/detect2ban/scenarios/review-ssh").status == 404, "nothing was stored"


def test_a_lowered_threshold_bans_at_the_new_count(admin_api: ApiClient, clock) -> None:
    assert failures(admin_api, clock, "203.0.113.10", 3)["decisions"] == [], "the shipped threshold is 5"
    assert banned(admin_api) == {}

    ssh = data(admin_api.get("/api/v1/detect2ban/scenarios/ssh-bruteforce"))
    ssh["threshold"]["count"] = 3
    edited = admin_api.put("/api/v1/detect2ban/scenarios/ssh-bruteforce", json=ssh)  # what GET gave, one number changed
    assert edited.status == 200, edited.body
    assert edited.json()["data"]["origin"] == "edited" and edited.json()["data"]["threshold"] == {"count": 3}
    origins = {s["name"]: s["origin"] for s in data(admin_api.get("/api/v1/detect2ban/scenarios"))}
    assert origins["ssh-bruteforce"] == "edited" and origins["windows-bruteforce"] == "default"

    assert failures(admin_api, clock, "203.0.113.20", 2)["decisions"] == []
    result = failures(admin_api, clock, "203.0.113.30", 3)
    assert [(d["ip"], d["scenario"]) for d in result["decisions"]] == [("203.0.113.30", "ssh-bruteforce")]
    ban = banned(admin_api)["203.0.113.30"]
    assert ban["source"] == "scenario" and ban["expires_at"] == "2026-11-24T11:00:00Z"
    assert ban["reason"] == "3 failed logins in 10m from 203.0.113.30 (sshd)"


def test_an_edited_pending_scenario_proposes_at_the_new_count(admin_api: ApiClient, clock) -> None:
    scenario = data(admin_api.get("/api/v1/detect2ban/scenarios/user-enumeration"))
    assert scenario["action"] == "pending" and scenario["threshold"] == {"count": 10, "distinct": "username"}
    scenario["threshold"]["count"] = 3
    assert admin_api.put("/api/v1/detect2ban/scenarios/user-enumeration", json=scenario).status == 200
    now = clock.now() - timedelta(minutes=1)
    names = ["oracle", "test", "oracle", "postgres"]  # three distinct names in four lines, under ssh's five
    lines = [sshd_invalid_user(now + timedelta(seconds=i), "203.0.113.15", name) for i, name in enumerate(names)]
    result = ingest(admin_api, "web01", "sshd", lines)
    assert [(d["action"], d["scenario"]) for d in result["decisions"]] == [("pending", "user-enumeration")]
    [pending] = data(admin_api.get("/api/v1/pending-bans"))
    assert (
        pending["ip"] == "203.0.113.15" and pending["reason"] == "3 distinct user names in 1h from 203.0.113.15 (sshd)"
    )
    assert banned(admin_api) == {}


def test_deleting_an_edited_shipped_scenario_reverts_it(admin_api: ApiClient, clock) -> None:
    ssh = data(admin_api.get("/api/v1/detect2ban/scenarios/ssh-bruteforce"))
    admin_api.put("/api/v1/detect2ban/scenarios/ssh-bruteforce", json={**ssh, "threshold": {"count": 2}})
    reverted = admin_api.delete("/api/v1/detect2ban/scenarios/ssh-bruteforce")
    assert data(reverted) == {"name": "ssh-bruteforce", "result": "reverted to the shipped default"}
    again = data(admin_api.get("/api/v1/detect2ban/scenarios/ssh-bruteforce"))
    assert again["origin"] == "default" and again["threshold"] == {"count": 5}
    assert failures(admin_api, clock, "203.0.113.40", 4)["decisions"] == [], "back to five"
    assert [d["ip"] for d in failures(admin_api, clock, "203.0.113.41", 5)["decisions"]] == ["203.0.113.41"]

    # Deleting an unedited shipped scenario switches it off until someone puts it back.
    removed = admin_api.delete("/api/v1/detect2ban/scenarios/ssh-bruteforce")
    assert data(removed) == {"name": "ssh-bruteforce", "result": "removed"}
    assert admin_api.get("/api/v1/detect2ban/scenarios/ssh-bruteforce").status == 404
    assert "ssh-bruteforce" not in [s["name"] for s in data(admin_api.get("/api/v1/detect2ban/scenarios"))]
    assert failures(admin_api, clock, "203.0.113.42", 6)["decisions"] == []
    assert admin_api.put("/api/v1/detect2ban/scenarios/ssh-bruteforce", json=ssh).status == 200
    assert admin_api.delete("/api/v1/detect2ban/scenarios/ssh-bruteforce").json()["data"]["result"] == (
        "reverted to the shipped default"
    )
    assert data(admin_api.get("/api/v1/detect2ban/scenarios/ssh-bruteforce"))["origin"] == "default"


def test_custom_scenarios_are_added_and_deleted(admin_api: ApiClient, clock) -> None:
    created = admin_api.put("/api/v1/detect2ban/scenarios/review-ssh", json=REVIEW)
    scenario = data(created)
    assert scenario["name"] == "review-ssh" and scenario["origin"] == "custom" and scenario["action"] == "pending"
    listed = data(admin_api.get("/api/v1/detect2ban/scenarios"))
    assert [s["name"] for s in listed] == [*SHIPPED, "review-ssh"]
    result = failures(admin_api, clock, "203.0.113.50", 2)
    assert [(d["action"], d["scenario"]) for d in result["decisions"]] == [("pending", "review-ssh")]

    assert data(admin_api.delete("/api/v1/detect2ban/scenarios/review-ssh")) == {
        "name": "review-ssh",
        "result": "removed",
    }
    assert admin_api.get("/api/v1/detect2ban/scenarios/review-ssh").status == 404
    assert [s["name"] for s in data(admin_api.get("/api/v1/detect2ban/scenarios"))] == SHIPPED
    assert failures(admin_api, clock, "203.0.113.51", 2)["decisions"] == []
    assert admin_api.delete("/api/v1/detect2ban/scenarios/review-ssh").status == 404


def test_a_disabled_scenario_decides_nothing(admin_api: ApiClient, clock) -> None:
    ssh = data(admin_api.get("/api/v1/detect2ban/scenarios/ssh-bruteforce"))
    admin_api.put("/api/v1/detect2ban/scenarios/ssh-bruteforce", json={**ssh, "enabled": False})
    status = data(admin_api.get("/api/v1/detect2ban/status"))
    assert status["scenarios"] == 8 and status["scenarios_enabled"] == 7
    assert failures(admin_api, clock, "203.0.113.60", 6)["decisions"] == []


# /pending-bans
@pytest.fixture
def review(admin_api: ApiClient) -> None:
    """A custom scenario that proposes rather than bans: two refused passwords make a pending ban."""
    assert admin_api.put("/api/v1/detect2ban/scenarios/review-ssh", json=REVIEW).status == 200


def propose(client: ApiClient, clock, ip: str) -> str:
    result = failures(client, clock, ip, 2)
    [decision] = result["decisions"]
    assert decision["action"] == "pending" and decision["ip"] == ip
    return decision["id"]


def test_pending_list_and_stats(admin_api: ApiClient, clock, review) -> None:
    first = propose(admin_api, clock, "203.0.113.70")
    clock.advance(60)
    second = propose(admin_api, clock, "203.0.113.71")
    listed = admin_api.get("/api/v1/pending-bans").json()
    assert [p["id"] for p in listed["data"]] == [second, first], "newest first"
    assert {k: v for k, v in listed["meta"].items() if k != "request_id"} == {"total": 2, "limit": 100, "offset": 0}
    item = listed["data"][1]
    assert item["ip"] == "203.0.113.70" and item["status"] == "pending" and item["scenario"] == "review-ssh"
    assert item["scenarios"] == ["review-ssh"] and item["hits"] == 1 and item["count"] == 2
    assert item["reason"] == "2 refused passwords from 203.0.113.70" and item["proposed_ban_seconds"] == 7200
    assert item["created_at"] == "2026-11-24T10:00:00Z" and item["review_by"] == "2026-12-01T10:00:00Z"
    assert item["decided_at"] is None and item["decided_by"] is None and len(item["sample"]) == 2
    page = admin_api.get("/api/v1/pending-bans", query={"limit": 1, "offset": 1}).json()
    assert [p["id"] for p in page["data"]] == [first] and page["meta"]["total"] == 2
    assert data(admin_api.get("/api/v1/pending-bans", query={"status": "decided"})) == []
    assert admin_api.get("/api/v1/pending-bans", query={"status": "maybe"}).status == 400

    stats = data(admin_api.get("/api/v1/pending-bans/stats"))
    assert stats == {
        "pending": 2,
        "approved": 0,
        "rejected": 0,
        "expired": 0,
        "by_scenario": {"review-ssh": 2},
        "by_country": {},
        "oldest": "2026-11-24T10:00:00Z",
    }
    assert banned(admin_api) == {}, "nothing is banned before someone approves"


def test_approve_bans_the_address(admin_api: ApiClient, admin, clock, review) -> None:
    pending_id = propose(admin_api, clock, "203.0.113.72")
    clock.advance(minutes=5)
    response = admin_api.post(f"/api/v1/pending-bans/{pending_id}/approve", json={"reason": "checked the logs"})
    answer = data(response)
    actor = f"user:{admin['id']}"
    assert answer["pending"]["status"] == "approved" and answer["pending"]["decided_by"] == actor
    assert answer["pending"]["decided_at"] == "2026-11-24T10:05:00Z"
    assert answer["pending"]["decision_reason"] == "checked the logs", "the outcome and the reviewer's words apart"
    ban = answer["ban"]
    assert ban["ip"] == "203.0.113.72" and ban["status"] == "active" and ban["scenario"] == "review-ssh"
    assert ban["expires_at"] == "2026-11-24T12:05:00Z", "the scenario's two hours, from the approval"
    assert "approved by " + actor in ban["reason"] and "checked the logs" in ban["reason"]
    assert list(banned(admin_api)) == ["203.0.113.72"]
    history = data(admin_api.get("/api/v1/bans/203.0.113.72/history"))
    assert history[0]["action"] == "issued"

    assert data(admin_api.get("/api/v1/pending-bans")) == []
    decided = data(admin_api.get("/api/v1/pending-bans", query={"status": "decided"}))
    assert [(p["id"], p["status"]) for p in decided] == [(pending_id, "approved")]
    assert data(admin_api.get("/api/v1/pending-bans/stats"))["approved"] == 1
    again = admin_api.post(f"/api/v1/pending-bans/{pending_id}/approve", json={})
    assert again.status == 404, "only a waiting pending ban can be approved"


def test_reject_and_whitelist(admin_api: ApiClient, admin, clock, review) -> None:
    plain = propose(admin_api, clock, "203.0.113.73")
    softened = propose(admin_api, clock, "203.0.113.74")
    first = data(admin_api.post(f"/api/v1/pending-bans/{plain}/reject", json={"reason": "our NAT"}))
    assert first["pending"]["status"] == "rejected" and first["whitelisted"] is False
    assert first["pending"]["decision_reason"] == "our NAT"
    second = data(
        admin_api.post(f"/api/v1/pending-bans/{softened}/reject", json={"reason": "office", "whitelist": True})
    )
    assert second["whitelisted"] is True
    check = data(admin_api.get("/api/v1/whitelist/check/203.0.113.74"))
    assert check["whitelisted"] is True and check["whitelist"][0]["kind"] == "allow:soft"
    assert data(admin_api.get("/api/v1/whitelist/check/203.0.113.73"))["whitelisted"] is False
    assert banned(admin_api) == {}
    stats = data(admin_api.get("/api/v1/pending-bans/stats"))
    assert stats["pending"] == 0 and stats["rejected"] == 2
    everything = data(admin_api.get("/api/v1/pending-bans", query={"status": "all"}))
    assert sorted(p["status"] for p in everything) == ["rejected", "rejected"]
    assert admin_api.post(f"/api/v1/pending-bans/{plain}/reject", json={}).status == 404
    bad = admin_api.post(f"/api/v1/pending-bans/{plain}/reject", json={"reason": "x", "ban": True})
    assert bad.status == 400 and fields_of(bad) == ["ban"]


def test_pending_for_one_address(admin_api: ApiClient, clock, review) -> None:
    pending_id = propose(admin_api, clock, "203.0.113.75")
    propose(admin_api, clock, "203.0.113.76")
    admin_api.post(f"/api/v1/pending-bans/{pending_id}/reject", json={"reason": "known"})
    answer = admin_api.get("/api/v1/pending-bans/ip/203.0.113.75").json()
    assert [(p["id"], p["status"]) for p in answer["data"]] == [(pending_id, "rejected")]
    assert answer["meta"]["total"] == 1
    assert data(admin_api.get("/api/v1/pending-bans/ip/198.51.100.200")) == []
    assert admin_api.get("/api/v1/pending-bans/ip/not-an-ip").status == 400


def test_unknown_pending_ids_are_404(admin_api: ApiClient) -> None:
    for verb in ("approve", "reject"):
        response = admin_api.post(f"/api/v1/pending-bans/00000000-0000-4000-8000-000000000000/{verb}", json={})
        assert response.status == 404 and response.json()["error"]["code"] == "NOT_FOUND", verb


def test_unreviewed_pending_bans_expire(admin_api: ApiClient, container, clock, admin, review) -> None:
    pending_id = propose(admin_api, clock, "203.0.113.77")
    clock.advance(days=7, seconds=1)
    container.decisions.sweep_expired()  # the minute schedule
    admin_api.token = token_for(container, admin)
    assert data(admin_api.get("/api/v1/pending-bans")) == []
    decided = data(admin_api.get("/api/v1/pending-bans", query={"status": "decided"}))
    assert [(p["id"], p["status"]) for p in decided] == [(pending_id, "expired")]
    assert data(admin_api.get("/api/v1/pending-bans/stats"))["expired"] == 1
    assert admin_api.post(f"/api/v1/pending-bans/{pending_id}/approve", json={}).status == 404


def test_viewers_read_pending_bans_but_do_not_decide(api: ApiClient, admin_api: ApiClient, container, clock, review):
    pending_id = propose(admin_api, clock, "203.0.113.78")
    viewer = token_for(container, make_user(container, "viewer"))
    assert [p["id"] for p in data(api.get("/api/v1/pending-bans", token=viewer))] == [pending_id]
    assert api.get("/api/v1/pending-bans/stats", token=viewer).status == 200
    assert api.get("/api/v1/pending-bans/ip/203.0.113.78", token=viewer).status == 200
    for verb in ("approve", "reject"):
        refused = api.post(f"/api/v1/pending-bans/{pending_id}/{verb}", json={}, token=viewer)
        assert refused.status == 403 and refused.json()["error"]["code"], verb
    assert [p["id"] for p in data(admin_api.get("/api/v1/pending-bans"))] == [pending_id], "still waiting"
    analyst = token_for(container, make_user(container, "analyst"))
    assert api.post(f"/api/v1/pending-bans/{pending_id}/approve", json={}, token=analyst).status == 200
