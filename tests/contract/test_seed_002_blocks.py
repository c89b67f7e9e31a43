"""Seed 002's block routes (the detector's own manual blocking), in its `{success, ...}` envelope."""

from __future__ import annotations

from tests.support.client import ApiClient


def test_block_list_and_unblock(admin_api: ApiClient) -> None:
    response = admin_api.post(
        "/api/v1/block",
        json={"ip_address": "192.168.1.100", "reason": "Manual block - suspicious activity", "duration_minutes": 120},
    )
    assert response.status == 200
    assert response.json() == {"success": True, "message": "IP 192.168.1.100 blocked for 120 minutes"}
    listed = admin_api.get("/api/v1/blocked-ips").json()
    assert listed["success"] is True and listed["count"] == 1
    assert listed["data"][0] == {
        "ip_address": "192.168.1.100",
        "blocked_at": "2026-11-24T10:00:00Z",
        "block_expires": "2026-11-24T12:00:00Z",
        "reason": "Manual block - suspicious activity",
        "auto_blocked": False,
    }
    again = admin_api.post("/api/v1/block", json={"ip_address": "192.168.1.100", "duration_minutes": 240})
    assert again.status == 200, "blocking again keeps the later expiry"
    assert admin_api.get("/api/v1/blocked-ips").json()["data"][0]["block_expires"] == "2026-11-24T14:00:00Z"
    assert admin_api.delete("/api/v1/block/192.168.1.100").json() == {
        "success": True,
        "message": "IP 192.168.1.100 unblocked",
    }
    missing = admin_api.delete("/api/v1/block/192.168.1.100")
    assert missing.status == 404
    assert missing.json()["success"] is False and missing.json()["error"] == "IP not found in blocked list"


def test_per_vm_block(admin_api: ApiClient, container) -> None:
    response = admin_api.post(
        "/api/v1/block/per-vm",
        json={
            "ip_address": "192.168.1.100",
            "vm_id": "vm-001",
            "reason": "Repeated failed logins on VM vm-001",
            "duration_minutes": 120,
        },
    )
    assert response.json() == {"success": True, "message": "IP 192.168.1.100 blocked on VM vm-001 for 120 minutes"}
    assert not container.decisions.is_banned("192.168.1.100"), "a per-VM block is not global"
    listed = admin_api.get("/api/v1/blocked-ips").json()["data"]
    assert listed[0]["vm_id"] == "vm-001"
    assert admin_api.delete("/api/v1/block/192.168.1.100").status == 200


def test_bad_input_in_the_seed_error_format(admin_api: ApiClient) -> None:
    response = admin_api.post("/api/v1/block", json={"ip_address": "not-an-ip"})
    assert response.status == 400
    assert response.json()["success"] is False and "not an IP address" in response.json()["error"]
    missing = admin_api.post("/api/v1/block/per-vm", json={"ip_address": "192.0.2.1"})
    assert missing.status == 400 and missing.json()["details"][0]["field"] == "vm_id"
