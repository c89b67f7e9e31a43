"""Seed 002, the multi-VM brute-force detector under /api/v1: all fifteen endpoints end to end.

Events go in through `POST /events` (an agent-role user, or an INGEST key bound to its sensor) and come out
through the statistics, suspicious addresses, geography, per-VM figures, the live feed and health; blocking
goes through the block routes. Bodies are compared exactly where the seed documents them, in its `{success,
data, count}` envelope, and every error in its `{"success": false, "error": ...}` shape.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.core.clock import iso
from tests.support.client import ApiClient, ApiResponse
from tests.support.identity import make_user, token_for

ATTACKER_CN = "114.114.114.114"  # China, Nanjing in the embedded 2018 GeoLite2
ATTACKER_US = "8.8.8.8"  # United States, no city
ATTACKER_LAN = "192.168.1.100"  # the seed's example: private, no geography
OUTSIDER = "192.0.2.77"  # a caller outside any trusted network


def failure(clock, ip: str, user: str = "admin", *, seconds_ago: float = 0, **extra: Any) -> dict[str, Any]:
    """One seed 002 event record (a Windows 4625 failed logon), as the seed's request body documents it."""
    return {
        "timestamp": iso(clock.now() - timedelta(seconds=seconds_ago)),
        "ip_address": ip,
        "username": user,
        "domain": "WIN-VM01",
        "logon_type": "10",
        "status": "0xc000006d",
        "workstation": "ATTACK-PC",
        "source_port": "54321",
        **extra,
    }


def assert_error(response: ApiResponse, status: int, message: str | None = None) -> dict[str, Any]:
    """The seed's error shape: `{"success": false, "error": "<message>"}` (Vigil adds code and request id)."""
    assert response.status == status, response.text
    body = response.json()
    assert body["success"] is False and isinstance(body["error"], str) and body["error"]
    if message is not None:
        assert body["error"] == message
    return body


def sse(text: str) -> tuple[int | None, list[dict[str, Any]]]:
    """A server-sent events stream as (retry milliseconds, [{id, event, data}])."""
    retry, events = None, []
    for block in text.split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            if name == "retry":
                retry = int(value)
            elif name in ("id", "event"):
                fields[name] = value
            elif name == "data":
                fields["data"] = json.loads(value)
        if "event" in fields:
            events.append(fields)
    return retry, events


@pytest.fixture
def vm_key(admin_api: ApiClient) -> str:
    """An INGEST key bound to sensor vm-001 (what an agent on that VM carries)."""
    created = admin_api.post(
        "/api/v1/api-keys", json={"name": "agent vm-001", "scopes": ["INGEST"], "sensor": "vm-001"}
    )
    assert created.status == 201, created.text
    return created.json()["data"]["key"]


@pytest.fixture
def agent(container) -> str:
    """A token of a user with the agent role (may post events for any VM, nothing else)."""
    return token_for(container, make_user(container, "agent"))


def post_events(api: ApiClient, credential: str, vm_id: str, events: list, **body: Any) -> ApiResponse:
    return api.post(
        "/api/v1/events",
        json={"vm_id": vm_id, "hostname": body.pop("hostname", "WIN-VM01"), "events": events, **body},
        headers={"X-API-Key": credential} if credential.startswith("vgl_") else {},
        token=None if credential.startswith("vgl_") else credential,
    )


# 11. POST /events
def test_receive_the_documented_body(api: ApiClient, vm_key: str, admin_api: ApiClient) -> None:
    documented = {
        "vm_id": "vm-001",
        "hostname": "WIN-VM01",
        "events": [
            {
                "timestamp": "2024-01-15T10:30:00Z",
                "ip_address": "192.168.1.100",
                "username": "admin",
                "domain": "WIN-VM01",
                "logon_type": "10",
                "status": "0xc000006d",
                "workstation": "ATTACK-PC",
                "source_port": "54321",
            }
        ],
    }
    response = api.post("/api/v1/events", json=documented, headers={"X-API-Key": vm_key})
    assert response.status == 200
    body = response.json()
    assert body["success"] is True and body["events_received"] == 1
    assert body["rejected"] == [] and body["duplicate"] is False and body["queued"] is False
    stored = admin_api.get(
        "/api/v1/events",
        query={"src_ip": "192.168.1.100", "start_time": "2024-01-15T00:00:00Z", "end_time": "2024-01-15T23:59:59Z"},
    ).json()["data"]
    assert len(stored) == 1
    event = stored[0]
    assert event["time"] == "2024-01-15T10:30:00Z" and event["username"] == "admin" and event["sensor"] == "vm-001"
    assert event["service"] == "rdp" and event["kind"] == "auth_failure" and event["hostname"] == "WIN-VM01"
    assert event["source_port"] == 54321
    assert event["fields"]["workstation"] == "ATTACK-PC" and event["fields"]["domain"] == "WIN-VM01"
    assert "country" not in event, "a private address has no geography"


def test_bad_events_are_reported_by_index_and_good_ones_kept(api: ApiClient, agent: str, clock, admin_api) -> None:
    events = [
        failure(clock, ATTACKER_CN, "root"),
        {**failure(clock, ATTACKER_CN), "ip_address": "-"},  # a local logon: no address
        "not an object",
        failure(clock, ATTACKER_CN, "guest", seconds_ago=-3600),  # an hour in the future
        {**failure(clock, ATTACKER_CN), "ip_address": "999.1.1.1"},
        {key: value for key, value in failure(clock, ATTACKER_CN).items() if key != "timestamp"},
        failure(clock, ATTACKER_US, "oracle", seconds_ago=30),
    ]
    response = post_events(api, agent, "vm-001", events)
    assert response.status == 200
    body = response.json()
    assert body["events_received"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 2, 3, 4, 5]
    assert "future" in body["rejected"][2]["error"]
    kept = admin_api.get("/api/v1/events", query={"sensor": "vm-001"}).json()["data"]
    assert sorted(e["username"] for e in kept) == ["oracle", "root"]


def test_whole_batch_errors_are_400_in_the_seed_shape(api: ApiClient, agent: str, clock) -> None:
    good = [failure(clock, ATTACKER_CN)]
    assert_error(api.post("/api/v1/events", json={"vm_id": "vm-001", "events": "nope"}, token=agent), 400)
    assert_error(api.post("/api/v1/events", json={"vm_id": "vm-001", "events": []}, token=agent), 400)
    assert_error(api.post("/api/v1/events", json={"events": good}, token=agent), 400)
    assert_error(api.post("/api/v1/events", json={"vm_id": "bad id!", "events": good}, token=agent), 400)
    assert_error(api.post("/api/v1/events", json={"vm_id": "vm-001", "events": good, "x": 1}, token=agent), 400)
    assert_error(
        api.post("/api/v1/events", body="{not json", headers={"content-type": "application/json"}, token=agent), 400
    )
    missing = assert_error(api.post("/api/v1/events", token=agent), 400)
    assert missing["details"][0]["field"] == "body"


def test_events_need_the_ingest_permission(api: ApiClient, container, clock) -> None:
    events = [failure(clock, ATTACKER_CN)]
    assert_error(api.post("/api/v1/events", json={"vm_id": "vm-001", "events": events}, source_ip=OUTSIDER), 401)
    viewer = token_for(container, make_user(container, "viewer"))
    assert_error(api.post("/api/v1/events", json={"vm_id": "vm-001", "events": events}, token=viewer), 403)
    assert_error(api.post("/api/v1/events", json={"vm_id": "vm-001", "events": events}, token="not-a-token"), 401)


def test_agents_post_for_any_vm_and_read_nothing(api: ApiClient, agent: str, clock) -> None:
    for vm in ("vm-001", "vm-002"):
        assert post_events(api, agent, vm, [failure(clock, ATTACKER_CN)]).json()["events_received"] == 1
    for path in ("/api/v1/statistics", "/api/v1/vms", "/api/v1/suspicious-ips", "/api/v1/feed", "/api/v1/blocked-ips"):
        assert_error(api.get(path, token=agent), 403)
    assert_error(api.post("/api/v1/block", json={"ip_address": ATTACKER_CN}, token=agent), 403)


def test_a_key_bound_to_a_vm_posts_only_for_that_vm(api: ApiClient, vm_key: str, clock, admin_api) -> None:
    assert post_events(api, vm_key, "vm-001", [failure(clock, ATTACKER_CN)]).json()["events_received"] == 1
    refused = assert_error(post_events(api, vm_key, "vm-002", [failure(clock, ATTACKER_CN)]), 403)
    assert "vm-001" in refused["error"]
    assert admin_api.get("/api/v1/vms").json()["count"] == 1, "nothing was registered for vm-002"
    assert api.get("/api/v1/vms", headers={"X-API-Key": vm_key}).status == 200, "INGEST includes reading sensors"
    assert_error(api.get("/api/v1/statistics", headers={"X-API-Key": vm_key}), 403)


def test_a_retried_batch_is_counted_once(api: ApiClient, agent: str, clock, admin_api) -> None:
    events = [failure(clock, ATTACKER_CN, seconds_ago=i) for i in range(3)]
    first = post_events(api, agent, "vm-001", events, batch_id="vm-001-0001").json()
    again = post_events(api, agent, "vm-001", events, batch_id="vm-001-0001").json()
    assert first["events_received"] == again["events_received"] == 3
    assert first["duplicate"] is False and again["duplicate"] is True
    assert admin_api.get("/api/v1/statistics").json()["data"]["total_failed_attempts"] == 3
    assert admin_api.get("/api/v1/vms").json()["data"][0]["events_received"] == 3


# 8, 9, 14. VMs
def test_register_list_and_delete_vms(admin_api: ApiClient, api: ApiClient, agent: str, clock) -> None:
    documented = {"vm_id": "vm-001", "hostname": "WIN-VM01", "ip_address": "192.168.1.10", "collection_method": "agent"}
    created = admin_api.post("/api/v1/vms", json=documented)
    assert created.status == 200
    assert created.json() == {"success": True, "message": "VM vm-001 registered successfully"}
    assert_error(admin_api.post("/api/v1/vms", json=documented), 409, "VM vm-001 is already registered")
    admin_api.post("/api/v1/vms", json={"vm_id": "vm-002", "hostname": "WIN-VM02", "collection_method": "wef"})
    listed = admin_api.get("/api/v1/vms").json()
    assert listed["success"] is True and listed["count"] == 2
    first = listed["data"][0]
    assert {k: first[k] for k in ("vm_id", "hostname", "ip_address", "collection_method", "status", "last_seen")} == {
        "vm_id": "vm-001",
        "hostname": "WIN-VM01",
        "ip_address": "192.168.1.10",
        "collection_method": "agent",
        "status": "inactive",  # registered, never heard from
        "last_seen": None,
    }
    post_events(api, agent, "vm-001", [failure(clock, ATTACKER_CN)])
    clock.advance(minutes=1)
    after = {v["vm_id"]: v for v in admin_api.get("/api/v1/vms").json()["data"]}
    assert after["vm-001"]["status"] == "active" and after["vm-001"]["last_seen"] == "2026-11-24T10:00:00Z"
    assert after["vm-002"]["status"] == "inactive" and after["vm-002"]["collection_method"] == "wef"

    assert admin_api.delete("/api/v1/vms/vm-002").json() == {"success": True, "message": "VM vm-002 unregistered"}
    assert_error(admin_api.delete("/api/v1/vms/vm-002"), 404, "VM vm-002 not found")
    assert [v["vm_id"] for v in admin_api.get("/api/v1/vms").json()["data"]] == ["vm-001"]


def test_vm_registration_refuses_bad_input(admin_api: ApiClient) -> None:
    assert_error(admin_api.post("/api/v1/vms", json={"vm_id": "vm 1"}), 400)
    assert_error(admin_api.post("/api/v1/vms", json={"vm_id": "vm-001", "collection_method": "carrier-pigeon"}), 400)
    bad_ip = assert_error(admin_api.post("/api/v1/vms", json={"vm_id": "vm-001", "ip_address": "192.168.1.300"}), 400)
    assert bad_ip["details"][0]["field"] == "ip_address"
    assert admin_api.get("/api/v1/vms").json()["count"] == 0


def test_vm_routes_need_sensor_permissions(api: ApiClient, container) -> None:
    viewer = token_for(container, make_user(container, "viewer"))
    assert api.get("/api/v1/vms", token=viewer).status == 200
    assert_error(api.post("/api/v1/vms", json={"vm_id": "vm-001"}, token=viewer), 403)
    assert_error(api.delete("/api/v1/vms/vm-001", token=viewer), 403)
    assert_error(api.get("/api/v1/vms", source_ip=OUTSIDER), 401)


# 10. GET /vms/{vm_id}/attacks
def test_vm_attacks(api: ApiClient, agent: str, admin_api: ApiClient, clock) -> None:
    vm1 = [failure(clock, ATTACKER_CN, "admin", seconds_ago=i) for i in range(4)]
    vm1 += [failure(clock, ATTACKER_US, "root", seconds_ago=2 * 3600 + i) for i in range(2)]
    post_events(api, agent, "vm-001", vm1)
    post_events(api, agent, "vm-002", [failure(clock, ATTACKER_LAN, "guest")], hostname="WIN-VM02")
    response = admin_api.get("/api/v1/vms/vm-001/attacks")
    assert response.status == 200
    assert response.json() == {
        "success": True,
        "vm_id": "vm-001",
        "hostname": "WIN-VM01",
        "total_attacks": 6,
        "unique_attackers": 2,
        "attacks_last_24h": 6,
        "attacks_last_hour": 4,
        "top_attacked_usernames": [{"username": "admin", "count": 4}, {"username": "root", "count": 2}],
        "top_attackers": [{"ip_address": ATTACKER_CN, "count": 4}, {"ip_address": ATTACKER_US, "count": 2}],
    }
    assert admin_api.get("/api/v1/vms/vm-002/attacks").json()["top_attackers"] == [
        {"ip_address": ATTACKER_LAN, "count": 1}
    ]
    assert_error(admin_api.get("/api/v1/vms/vm-404/attacks"), 404, "VM vm-404 not found")


# 1. GET /suspicious-ips
def test_suspicious_ips(api: ApiClient, agent: str, admin_api: ApiClient, clock) -> None:
    users = ["admin", "root", "user1", "admin", "root", "admin", "guest", "admin", "root", "admin"]
    events = [failure(clock, ATTACKER_LAN, user, seconds_ago=900 - 100 * i) for i, user in enumerate(users)]
    events += [failure(clock, ATTACKER_US, "root", seconds_ago=60 * i) for i in range(3)]
    post_events(api, agent, "vm-001", events)
    response = admin_api.get("/api/v1/suspicious-ips")
    assert response.status == 200
    assert response.json() == {
        "success": True,
        "data": [
            {
                "ip_address": ATTACKER_LAN,
                "failed_attempts": 10,
                "first_attempt": "2026-11-24T09:45:00Z",
                "last_attempt": "2026-11-24T10:00:00Z",
                "target_usernames": ["admin", "guest", "root", "user1"],
                "status": "suspicious",
            }
        ],
        "count": 1,
    }
    lowered = admin_api.get("/api/v1/suspicious-ips", query={"threshold": 3}).json()
    assert [s["ip_address"] for s in lowered["data"]] == [ATTACKER_LAN, ATTACKER_US] and lowered["count"] == 2
    assert_error(admin_api.get("/api/v1/suspicious-ips", query={"threshold": 0}), 400)
    assert_error(admin_api.get("/api/v1/suspicious-ips", query={"threshold": "many"}), 400)


def test_suspicious_addresses_are_about_failed_logins_only(admin_api: ApiClient, api, agent: str, clock) -> None:
    """Firewall drops and WAF blocks are attacks, but not failed logins: they make no address suspicious here."""
    drops = [
        f'device="SFW" date=2026-11-24 time=09:59:{i:02d} timezone="UTC" device_name="XGS2100" log_id=010102600002 '
        f'log_type="Firewall" log_subtype="Denied" status="Deny" src_ip={ip} dst_ip=192.0.2.10 protocol="TCP" '
        f"src_port=5151{i % 10} dst_port=3389"
        for i in range(12)
        for ip in (ATTACKER_CN, ATTACKER_US)
    ]
    assert (
        admin_api.post("/api/v1/ingest", json={"sensor": "fw1", "format": "sophos-xgs", "lines": drops}).status == 200
    )
    post_events(api, agent, "vm-001", [failure(clock, ATTACKER_US, seconds_ago=i) for i in range(10)])
    found = admin_api.get("/api/v1/suspicious-ips").json()
    assert [(s["ip_address"], s["failed_attempts"]) for s in found["data"]] == [(ATTACKER_US, 10)]
    counts = {r["ip_address"]: r["attack_count"] for r in admin_api.get("/api/v1/geo-attacks").json()["data"]}
    assert counts == {ATTACKER_US: 22, ATTACKER_CN: 12}


def test_echo_lines_do_not_double_an_address_attempts(admin_api: ApiClient, clock) -> None:
    """sshd's `Failed password` and pam_unix's `authentication failure` are one attempt, not two."""
    lines = []
    for second in range(3):
        lines.append(
            f"Nov 24 09:59:{second:02d} web01 sshd[42]: Failed password for root from {ATTACKER_US} port 5{second} ssh2"
        )
        lines.append(
            f"Nov 24 09:59:{second:02d} web01 sshd[42]: pam_unix(sshd:auth): authentication failure; logname= uid=0 "
            f"euid=0 tty=ssh ruser= rhost={ATTACKER_US}  user=root"
        )
    admin_api.post("/api/v1/ingest", json={"sensor": "web01", "format": "sshd", "lines": lines})
    found = admin_api.get("/api/v1/suspicious-ips", query={"threshold": 1}).json()["data"]
    assert found[0]["failed_attempts"] == 3
    assert admin_api.get("/api/v1/vms/web01/attacks").json()["top_attackers"][0]["count"] == 3


# 2, 13. GET /statistics and /statistics/global
def test_statistics(api: ApiClient, agent: str, admin_api: ApiClient, clock) -> None:
    post_events(api, agent, "vm-001", [failure(clock, ATTACKER_CN, "admin", seconds_ago=i) for i in range(3)])
    post_events(api, agent, "vm-001", [failure(clock, ATTACKER_US, "root", seconds_ago=3 * 3600)])
    post_events(api, agent, "vm-002", [failure(clock, ATTACKER_LAN, "admin", seconds_ago=2 * 86400)])
    admin_api.post("/api/v1/block", json={"ip_address": "198.51.100.250", "duration_minutes": 60})
    response = admin_api.get("/api/v1/statistics")
    assert response.status == 200
    body = response.json()
    assert body["success"] is True and set(body) == {"success", "data"}
    data = body["data"]
    hours = data.pop("attacks_by_hour")
    assert data == {
        "total_failed_attempts": 5,
        "unique_attackers": 3,
        "blocked_ips": 1,
        "attacks_last_24h": 4,
        "attacks_last_hour": 3,  # the last 60 minutes, not the clock hour
        "top_attacked_usernames": [{"username": "admin", "count": 4}, {"username": "root", "count": 1}],
    }
    assert len(hours) == 24 and hours[-1] == {"hour": "10:00", "count": 1} and hours[0]["hour"] == "11:00"
    per_hour = {h["hour"]: h["count"] for h in hours}
    assert per_hour["09:00"] == 2 and per_hour["07:00"] == 1 and sum(per_hour.values()) == 4

    clock.advance(minutes=16)
    post_events(api, agent, "vm-003", [failure(clock, ATTACKER_CN, "admin")])
    overall = admin_api.get("/api/v1/statistics/global").json()["data"]
    assert overall["active_vms"] == 1 and overall["inactive_vms"] == 2
    assert overall["attacks_by_vm"] == [
        {"vm_id": "vm-001", "count": 4},
        {"vm_id": "vm-002", "count": 1},
        {"vm_id": "vm-003", "count": 1},
    ]
    assert overall["total_failed_attempts"] == 6 and overall["blocked_ips"] == 1
    assert set(overall) == {
        "total_failed_attempts",
        "unique_attackers",
        "blocked_ips",
        "active_vms",
        "inactive_vms",
        "attacks_last_24h",
        "attacks_last_hour",
        "attacks_by_vm",
        "top_attacked_usernames",
        "attacks_by_hour",
    }


def test_the_last_hour_and_day_are_windows_that_end_now(api: ApiClient, agent: str, admin_api, clock) -> None:
    clock.set("2026-11-24T10:20:00+00:00")
    ago = [10, 50, 61, 23 * 60 + 50, 24 * 60 + 10]  # minutes: in the last hour twice, then the day, then older
    post_events(api, agent, "vm-001", [failure(clock, ATTACKER_CN, seconds_ago=60 * m) for m in ago])
    data = admin_api.get("/api/v1/statistics").json()["data"]
    assert (data["attacks_last_hour"], data["attacks_last_24h"], data["total_failed_attempts"]) == (2, 4, 5)
    vm = admin_api.get("/api/v1/vms/vm-001/attacks").json()
    assert (vm["attacks_last_hour"], vm["attacks_last_24h"], vm["total_attacks"]) == (2, 4, 5)


def test_statistics_need_authentication(api: ApiClient) -> None:
    for path in ("/api/v1/statistics", "/api/v1/statistics/global", "/api/v1/geo-attacks", "/api/v1/suspicious-ips"):
        assert_error(api.get(path, source_ip=OUTSIDER), 401)


# 7. GET /geo-attacks
def test_geo_attacks(api: ApiClient, agent: str, admin_api: ApiClient, clock) -> None:
    post_events(api, agent, "vm-001", [failure(clock, ATTACKER_CN, seconds_ago=i) for i in range(5)])
    post_events(api, agent, "vm-001", [failure(clock, ATTACKER_US), failure(clock, ATTACKER_LAN)])
    body = admin_api.get("/api/v1/geo-attacks").json()
    assert body["success"] is True
    rows = {r["ip_address"]: r for r in body["data"]}
    assert rows[ATTACKER_CN] == {
        "ip_address": ATTACKER_CN,
        "country": "China",
        "country_code": "CN",
        "city": "Nanjing",
        "lat": 32.0617,
        "lng": 118.7778,
        "attack_count": 5,
    }
    assert rows[ATTACKER_US]["country"] == "United States" and rows[ATTACKER_US]["city"] is None
    assert rows[ATTACKER_LAN]["country"] is None and rows[ATTACKER_LAN]["lat"] is None
    assert body["data"][0]["ip_address"] == ATTACKER_CN, "most active first"


# 3, 4, 5, 12. blocking
def test_block_unblock_and_blocked_list(admin_api: ApiClient, container) -> None:
    documented = {
        "ip_address": "192.168.1.100",
        "reason": "Manual block - suspicious activity",
        "duration_minutes": 120,
    }
    assert admin_api.post("/api/v1/block", json=documented).json() == {
        "success": True,
        "message": "IP 192.168.1.100 blocked for 120 minutes",
    }
    per_vm = {
        "ip_address": "203.0.113.9",
        "vm_id": "vm-001",
        "reason": "Repeated failed logins on VM vm-001",
        "duration_minutes": 120,
    }
    assert admin_api.post("/api/v1/block/per-vm", json=per_vm).json() == {
        "success": True,
        "message": "IP 203.0.113.9 blocked on VM vm-001 for 120 minutes",
    }
    listed = admin_api.get("/api/v1/blocked-ips").json()
    assert listed["success"] is True and listed["count"] == 2
    by_ip = {b["ip_address"]: b for b in listed["data"]}
    assert by_ip["192.168.1.100"] == {
        "ip_address": "192.168.1.100",
        "blocked_at": "2026-11-24T10:00:00Z",
        "block_expires": "2026-11-24T12:00:00Z",
        "reason": "Manual block - suspicious activity",
        "auto_blocked": False,
    }
    assert by_ip["203.0.113.9"]["vm_id"] == "vm-001"
    assert container.decisions.is_banned("192.168.1.100") and not container.decisions.is_banned("203.0.113.9")
    assert admin_api.delete("/api/v1/block/192.168.1.100").json() == {
        "success": True,
        "message": "IP 192.168.1.100 unblocked",
    }
    assert admin_api.delete("/api/v1/block/203.0.113.9").status == 200
    assert admin_api.get("/api/v1/blocked-ips").json() == {"success": True, "data": [], "count": 0}
    assert_error(admin_api.delete("/api/v1/block/192.168.1.100"), 404, "IP not found in blocked list")


def test_block_refusals(admin_api: ApiClient, api: ApiClient, container) -> None:
    assert_error(admin_api.post("/api/v1/block", json={"ip_address": "not-an-ip"}), 400)
    assert_error(admin_api.post("/api/v1/block", json={"ip_address": "192.0.2.1", "duration_minutes": -5}), 400)
    assert_error(admin_api.post("/api/v1/block/per-vm", json={"ip_address": "192.0.2.1", "vm_id": "a b"}), 400)
    assert_error(admin_api.delete("/api/v1/block/not-an-ip"), 400)
    viewer = token_for(container, make_user(container, "viewer"))
    assert api.get("/api/v1/blocked-ips", token=viewer).status == 200
    assert_error(api.post("/api/v1/block", json={"ip_address": "192.0.2.1"}, token=viewer), 403)
    assert_error(api.delete("/api/v1/block/192.0.2.1", token=viewer), 403)
    assert_error(api.post("/api/v1/block", json={"ip_address": "192.0.2.1"}, source_ip=OUTSIDER), 401)


def test_brute_force_through_events_is_auto_blocked(api: ApiClient, agent: str, admin_api: ApiClient, clock) -> None:
    answer = post_events(api, agent, "vm-001", [failure(clock, ATTACKER_US, seconds_ago=10 * i) for i in range(10)])
    assert answer.json()["decisions"] >= 1
    blocked = admin_api.get("/api/v1/blocked-ips").json()["data"]
    assert [b["ip_address"] for b in blocked] == [ATTACKER_US]
    assert blocked[0]["auto_blocked"] is True
    assert blocked[0]["block_expires"] == "2026-11-24T11:00:00Z", "the seed's one-hour block"
    assert admin_api.get("/api/v1/statistics").json()["data"]["blocked_ips"] == 1


# 6. GET /feed
class FeedReader:
    """What an EventSource does: poll, remember the last id, send it back as `Last-Event-ID`."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.cursor: str | None = None
        self.received: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        response = self.api.get("/api/v1/feed", headers={"Last-Event-ID": self.cursor} if self.cursor else {})
        assert response.status == 200
        _, events = sse(response.text)
        if events:
            self.cursor = events[-1]["id"]
        self.received += events
        return events

    def users(self) -> list[str]:
        return [e["data"]["username"] for e in self.received]


def test_feed_streams_failed_logins_as_server_sent_events(api: ApiClient, agent: str, admin_api, clock) -> None:
    post_events(api, agent, "vm-001", [failure(clock, ATTACKER_CN, f"user{i}", seconds_ago=3 - i) for i in range(3)])
    assert sse(admin_api.get("/api/v1/feed").text)[1] == [], "served once settled (five seconds), not before"
    clock.advance(seconds=5)
    response = admin_api.get("/api/v1/feed")
    assert response.status == 200
    assert response.header("content-type").startswith("text/event-stream")
    assert response.header("cache-control") == "no-cache"
    retry, events = sse(response.text)
    assert retry == 5000
    assert [e["event"] for e in events] == ["new_attack"] * 3
    assert all(e["id"] for e in events) and len({e["id"] for e in events}) == 3
    assert [e["data"] for e in events] == [
        {
            "ip_address": ATTACKER_CN,
            "username": f"user{i}",
            "timestamp": iso(clock.now() - timedelta(seconds=8 - i)),
            "attempt_number": i + 1,
            "vm_id": "vm-001",
            "country": "CN",
        }
        for i in range(3)
    ]
    post_events(api, agent, "vm-001", [failure(clock, ATTACKER_CN, "user3")])
    clock.advance(seconds=5)
    _, more = sse(admin_api.get("/api/v1/feed", headers={"Last-Event-ID": events[-1]["id"]}).text)
    assert [e["data"]["attempt_number"] for e in more] == [4], "attempts go on counting across batches"


def test_feed_resumes_from_last_event_id_missing_nothing_repeating_nothing(
    api: ApiClient, agent: str, admin_api: ApiClient, clock
) -> None:
    reader = FeedReader(admin_api)
    post_events(
        api, agent, "vm-001", [failure(clock, ATTACKER_CN, "a", seconds_ago=1), failure(clock, ATTACKER_CN, "b")]
    )
    clock.advance(seconds=5)
    assert [e["data"]["username"] for e in reader.poll()] == ["a", "b"]
    assert reader.poll() == [], "nothing new: nothing repeated"

    # Two VMs report in the same millisecond, and the reader polls between the two writes (the second batch's
    # ids sort before the first's within that millisecond).
    post_events(api, agent, "vm-001", [failure(clock, ATTACKER_US, f"c{i}") for i in range(5)], batch_id="feed-c")
    reader.poll()
    post_events(api, agent, "vm-002", [failure(clock, ATTACKER_US, f"d{i}") for i in range(5)], batch_id="feed-d")
    clock.advance(seconds=1)
    post_events(api, agent, "vm-002", [failure(clock, ATTACKER_LAN, "e")])
    reader.poll()
    clock.advance(seconds=5)
    reader.poll()
    assert reader.poll() == []
    expected = ["a", "b"] + [f"c{i}" for i in range(5)] + [f"d{i}" for i in range(5)] + ["e"]
    assert sorted(reader.users()) == sorted(expected) and len(reader.users()) == len(expected)
    assert reader.users()[-1] == "e"
    # the query parameter works too (for clients that cannot set headers)
    second_to_last = reader.received[-2]["id"]
    _, tail = sse(admin_api.get("/api/v1/feed", query={"last_event_id": second_to_last}).text)
    assert [e["data"]["username"] for e in tail] == ["e"]


def test_feed_never_skips_an_event_that_becomes_visible_late(
    api: ApiClient, agent: str, admin_api: ApiClient, clock, container
) -> None:
    """A reader polling while another container is still writing (its arrival stamp is a moment in the past)
    gets that write on a later poll."""
    reader = FeedReader(admin_api)
    post_events(api, agent, "vm-001", [failure(clock, ATTACKER_CN, "early")])
    clock.advance(seconds=6)
    post_events(api, agent, "vm-001", [failure(clock, ATTACKER_CN, "recent")])
    reader.poll()
    # A write stamped a second ago that lands only now (a slow container, a lagging index).
    late = {
        "time": clock.now() - timedelta(seconds=1),
        "source_ip": ATTACKER_US,
        "kind": "auth_failure",
        "service": "rdp",
        "log_type": "AUTH",
        "severity": "medium",
        "username": "late",
        "sensor": "vm-002",
        "seq": "0" * 12,
        "batch": "slow",
    }
    container.events.put_batch([late], clock.now() - timedelta(seconds=1))
    clock.advance(seconds=6)
    reader.poll()
    assert reader.users() == ["early", "late", "recent"]


def test_feed_needs_authentication_and_takes_a_token_in_the_query(api: ApiClient, container) -> None:
    assert_error(api.get("/api/v1/feed", source_ip=OUTSIDER), 401)
    viewer = token_for(container, make_user(container, "viewer"))
    response = api.get("/api/v1/feed", query={"token": viewer}, source_ip=OUTSIDER)
    assert response.status == 200 and response.text.startswith("retry: 5000")


# 15. GET /health
def test_health_counts_vms_that_reported_recently(api: ApiClient, agent: str, admin_api: ApiClient, clock) -> None:
    admin_api.post("/api/v1/vms", json={"vm_id": "vm-silent", "hostname": "WIN-VM09"})
    response = api.get("/api/v1/health", source_ip=OUTSIDER)
    assert response.status == 200
    body = response.json()
    assert {k: body[k] for k in ("success", "status", "db_connected", "active_vms")} == {
        "success": True,
        "status": "healthy",
        "db_connected": True,
        "active_vms": 0,
    }
    assert isinstance(body["uptime_seconds"], int) and body["uptime_seconds"] >= 0
    post_events(api, agent, "vm-001", [failure(clock, ATTACKER_CN)])
    clock.advance(minutes=10)
    post_events(api, agent, "vm-002", [failure(clock, ATTACKER_CN)])
    assert api.get("/api/v1/health").json()["active_vms"] == 2
    clock.advance(minutes=6)  # vm-001 silent for 16 minutes, vm-002 for 6
    assert api.get("/api/v1/health").json()["active_vms"] == 1
    clock.advance(minutes=10)
    assert api.get("/api/v1/health").json()["active_vms"] == 0


def test_health_reports_a_dead_database(api: ApiClient, aws, settings) -> None:
    aws.client("dynamodb").delete_table(TableName=settings.entities_table)
    response = api.get("/api/v1/health")
    assert response.status == 503
    body = response.json()
    assert body["success"] is False and body["db_connected"] is False and "dynamodb" in body["error"]
