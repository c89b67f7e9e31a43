"""Seed 000's bans, whitelist and system whitelist under /api/v1: bodies, filters, codes, envelopes."""

from __future__ import annotations

from urllib.parse import quote

from tests.support.client import ApiClient
from tests.support.identity import make_user, token_for


def test_create_ban_with_the_documented_body(admin_api: ApiClient) -> None:
    response = admin_api.post(
        "/api/v1/bans",
        json={
            "ip": "192.168.1.100",
            "reason": "Manual ban - suspicious activity",
            "duration_days": 7,
            "permanent": False,
        },
    )
    assert response.status == 201
    ban = response.json()["data"]
    assert ban["ip"] == "192.168.1.100" and ban["status"] == "active" and ban["permanent"] is False
    assert ban["expires_at"] == "2026-12-01T10:00:00Z" and ban["created_by"].startswith("user:")
    permanent = admin_api.post("/api/v1/bans", json={"ip": "192.168.1.101", "permanent": True}).json()["data"]
    assert permanent["permanent"] is True and permanent["expires_at"] is None


def test_ban_refusals(admin_api: ApiClient) -> None:
    admin_api.post("/api/v1/bans", json={"ip": "192.0.2.1", "duration_days": 1})
    conflict = admin_api.post("/api/v1/bans", json={"ip": "192.0.2.1", "duration_days": 1})
    assert conflict.status == 409 and conflict.json()["error"]["code"] == "CONFLICT"
    for bad, code in (
        ("999.1.1.1", "VALIDATION_ERROR"),
        ("0.0.0.0/0", "RANGE_TOO_BROAD"),
        ("224.0.0.1", "RESERVED_ADDRESS"),
        ("::1", "RESERVED_ADDRESS"),
        ("10.0.0.0/7", "RANGE_TOO_BROAD"),
    ):
        response = admin_api.post("/api/v1/bans", json={"ip": bad})
        assert response.status == 400 and response.json()["error"]["code"] == code, bad
    assert admin_api.post("/api/v1/bans", json={"ip": "10.0.0.0/7", "force": True}).status == 201, "admins may force"
    extra = admin_api.post("/api/v1/bans", json={"ip": "192.0.2.2", "colour": "red"})
    assert extra.status == 400 and extra.json()["error"]["details"][0]["field"] == "colour"


def test_a_ban_that_would_lock_out_the_caller_is_refused(admin_api: ApiClient) -> None:
    own = admin_api.post("/api/v1/bans", json={"ip": "198.51.100.0/24"}, source_ip="198.51.100.10")
    assert own.status == 409 and own.json()["error"]["code"] == "SELF_BAN"
    forced = admin_api.post("/api/v1/bans", json={"ip": "198.51.100.0/24", "force": True}, source_ip="198.51.100.10")
    assert forced.status == 201
    assert admin_api.get("/api/v1/bans", source_ip="198.51.100.10").status == 403, "and then it is locked out"


def test_analysts_cannot_force_broad_ranges(api: ApiClient, container) -> None:
    analyst = token_for(container, make_user(container, "analyst"))
    response = api.post("/api/v1/bans", json={"ip": "10.0.0.0/7", "force": True}, token=analyst)
    assert response.status == 400 and response.json()["error"]["code"] == "RANGE_TOO_BROAD"
    assert api.post("/api/v1/bans", json={"ip": "10.0.0.1"}, token=analyst).status == 201


def test_list_filters_and_pagination(admin_api: ApiClient, clock) -> None:
    admin_api.post("/api/v1/bans", json={"ip": "192.0.2.10", "tags": ["ssh"], "duration_days": 1})
    clock.advance(60)
    admin_api.post("/api/v1/bans", json={"ip": "203.0.113.0/24", "tags": ["web"], "duration": "2h"})
    clock.advance(60)
    admin_api.post("/api/v1/bans", json={"ip": "2001:db8::/48", "permanent": True, "sensor": "vm-001"})
    everything = admin_api.get("/api/v1/bans").json()
    assert everything["meta"]["total"] == 3 and everything["data"][0]["ip"] == "2001:db8::/48", "newest first"
    assert [b["ip"] for b in admin_api.get("/api/v1/bans", query={"tag": "web"}).json()["data"]] == ["203.0.113.0/24"]
    contained = admin_api.get("/api/v1/bans", query={"ip": "203.0.113.77"}).json()["data"]
    assert [b["ip"] for b in contained] == ["203.0.113.0/24"], "a CIDR ban covers the address asked for"
    assert admin_api.get("/api/v1/bans", query={"sensor": "vm-001"}).json()["meta"]["total"] == 1
    assert admin_api.get("/api/v1/bans", query={"source": "manual"}).json()["meta"]["total"] == 3
    page = admin_api.get("/api/v1/bans", query={"limit": 1, "offset": 1}).json()
    assert page["meta"] == {"total": 3, "limit": 1, "offset": 1, "request_id": page["meta"]["request_id"]}
    assert page["data"][0]["ip"] == "203.0.113.0/24"
    clock.advance(hours=3)
    admin_api.token = None  # the fixture's token expired with the clock; the list below is anonymous → 401
    assert admin_api.get("/api/v1/bans").status == 401


def test_expired_and_ended_statuses(admin_api: ApiClient, container, clock, admin) -> None:
    admin_api.post("/api/v1/bans", json={"ip": "192.0.2.20", "duration": 60})
    admin_api.post("/api/v1/bans", json={"ip": "192.0.2.21", "duration_days": 1})
    admin_api.delete("/api/v1/bans/192.0.2.21", json={"reason": "false positive"})
    clock.advance(61)
    admin_api.token = token_for(container, admin)
    assert admin_api.get("/api/v1/bans").json()["meta"]["total"] == 0
    expired = admin_api.get("/api/v1/bans", query={"status": "expired"}).json()["data"]
    assert [b["ip"] for b in expired] == ["192.0.2.20"] and expired[0]["status"] == "expired"
    ended = admin_api.get("/api/v1/bans", query={"status": "ended"}).json()["data"]
    assert [b["ended_reason"] for b in ended] == ["false positive"]
    assert admin_api.get("/api/v1/bans", query={"status": "sideways"}).status == 400


def test_detail_unban_extend_permanent_history(admin_api: ApiClient) -> None:
    admin_api.post("/api/v1/bans", json={"ip": "203.0.113.0/28", "duration_days": 1, "reason": "scan"})
    path = "/api/v1/bans/" + quote("203.0.113.0/28", safe="")
    assert admin_api.get(path).json()["data"]["reason"] == "scan"
    covered = admin_api.get("/api/v1/bans/203.0.113.5")
    assert covered.status == 404 and "203.0.113.0/28" in covered.json()["error"]["message"]
    extended = admin_api.post(path + "/extend", json={"duration_days": 2}).json()["data"]
    assert extended["expires_at"] == "2026-11-27T10:00:00Z"
    assert admin_api.post(path + "/extend", json={}).status == 400
    assert admin_api.post(path + "/permanent").json()["data"]["permanent"] is True
    assert admin_api.post(path + "/extend", json={"duration": "1h"}).status == 409
    lifted = admin_api.delete(path, json={"reason": "done"}).json()["data"]
    assert lifted["status"] == "ended" and lifted["ended_reason"] == "done"
    assert admin_api.delete(path).status == 404
    history = admin_api.get(path + "/history").json()["data"]
    assert [h["action"] for h in history] == ["issued", "extended", "made_permanent", "unbanned"]


def test_stats(admin_api: ApiClient) -> None:
    admin_api.post("/api/v1/bans", json={"ip": "192.0.2.30", "tags": ["a"], "duration": "1h"})
    admin_api.post("/api/v1/bans", json={"ip": "192.0.2.31", "permanent": True})
    stats = admin_api.get("/api/v1/bans/stats").json()["data"]
    assert stats["active"] == 2 and stats["permanent"] == 1 and stats["expiring_24h"] == 1
    assert stats["by_source"] == {"manual": 2} and stats["by_tag"] == {"a": 1}


def test_whitelist_lifecycle(admin_api: ApiClient) -> None:
    body = {
        "ip": "10.0.0.0",
        "cidr_mask": 24,
        "type": "hard",
        "reason": "Internal network",
        "score_modifier": 50,
        "alert_only": True,
        "duration_days": None,
        "tags": ["internal", "trusted"],
    }
    created = admin_api.post("/api/v1/whitelist", json=body)
    assert created.status == 201
    entry = created.json()["data"]
    assert entry["ip"] == "10.0.0.0" and entry["cidr_mask"] == 24 and entry["type"] == "hard"
    assert entry["tags"] == ["internal", "trusted"] and entry["permanent"] is True
    assert admin_api.post("/api/v1/whitelist", json=body).status == 409
    refused = admin_api.post("/api/v1/bans", json={"ip": "10.0.0.5"})
    assert refused.status == 409 and refused.json()["error"]["code"] == "WHITELISTED"
    check = admin_api.get("/api/v1/whitelist/check/10.0.0.5").json()["data"]
    assert check["whitelisted"] is True and check["whitelist"][0]["network"] == "10.0.0.0/24"
    updated = admin_api.put("/api/v1/whitelist/10.0.0.0", json={"type": "monitor", "duration_days": 7}).json()["data"]
    assert updated["type"] == "monitor" and updated["expires_at"] == "2026-12-01T10:00:00Z"
    assert admin_api.post("/api/v1/bans", json={"ip": "10.0.0.5"}).status == 201, "monitor entries do not block bans"
    stats = admin_api.get("/api/v1/whitelist/stats").json()["data"]
    assert stats["total"] == 1 and stats["by_type"]["monitor"] == 1
    listed = admin_api.get("/api/v1/whitelist", query={"tag": "trusted"}).json()
    assert listed["meta"]["total"] == 1
    assert admin_api.delete("/api/v1/whitelist/10.0.0.0").json()["data"]["active"] is False
    assert admin_api.delete("/api/v1/whitelist/10.0.0.0").status == 404
    assert admin_api.post("/api/v1/whitelist", json={"ip": "0.0.0.0", "cidr_mask": 0}).status == 400


def test_whitelisting_an_auto_banned_partner_unbans_it(admin_api: ApiClient) -> None:
    admin_api.post("/api/v1/bans", json={"ip": "198.51.100.7", "duration_days": 1})
    created = admin_api.post("/api/v1/whitelist", json={"ip": "198.51.100.0", "cidr_mask": 24, "type": "hard"})
    assert [b["ip"] for b in created.json()["data"]["lifted_bans"]] == ["198.51.100.7"]
    assert admin_api.get("/api/v1/bans").json()["meta"]["total"] == 0


def test_system_whitelist(admin_api: ApiClient, container) -> None:
    container.whitelist.ensure_system_defaults(["203.0.113.250"])
    entries = admin_api.get("/api/v1/config/system-whitelist").json()["data"]
    assert {e["ip"] for e in entries} == {"169.254.169.254", "fd00:ec2::254", "203.0.113.250"}
    assert admin_api.post("/api/v1/bans", json={"ip": "203.0.113.250"}).status == 409
    added = admin_api.post("/api/v1/config/system-whitelist", json={"ip": "203.0.113.251", "reason": "NAT gateway"})
    assert added.status == 201
    entry_id = added.json()["data"]["id"]
    assert (
        admin_api.put(f"/api/v1/config/system-whitelist/{entry_id}", json={"reason": "egress"}).json()["data"]["reason"]
        == "egress"
    )
    assert admin_api.delete(f"/api/v1/config/system-whitelist/{entry_id}").status == 200
    assert admin_api.delete(f"/api/v1/config/system-whitelist/{entry_id}").status == 404
    assert admin_api.post("/api/v1/bans", json={"ip": "203.0.113.251"}).status == 201
    assert container.whitelist.ensure_system_defaults([]) == [], "defaults are created once"


def test_system_whitelist_needs_config_permissions(api: ApiClient, container) -> None:
    analyst = token_for(container, make_user(container, "analyst"))
    assert api.get("/api/v1/config/system-whitelist", token=analyst).status == 200
    assert api.post("/api/v1/config/system-whitelist", json={"ip": "192.0.2.1"}, token=analyst).status == 403
