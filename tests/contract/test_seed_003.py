"""Seed 003, the IOC manager under /api: every endpoint, its bodies, statuses, tokens and idempotency."""

from __future__ import annotations

import pytest

from tests.support.client import ApiClient


@pytest.fixture
def keys(admin_api: ApiClient) -> dict[str, str]:
    made = {}
    for scope in ("READ", "WRITE", "INGEST"):
        made[scope] = admin_api.post("/api/v1/api-keys", json={"name": scope, "scopes": [scope]}).json()["data"]["key"]
    return made


def write(api: ApiClient, keys: dict, path: str, body, method: str = "POST", **kw):
    return api.request(
        method, path, json=body, headers={"Authorization": f"Bearer {keys['WRITE']}", **kw.pop("headers", {})}, **kw
    )


def read(api: ApiClient, keys: dict, path: str, **kw):
    return api.get(path, headers={"X-API-Key": keys["READ"]}, **kw)


def test_service_status_needs_any_valid_token(api, keys) -> None:
    assert api.get("/api/").status == 401
    for key in keys.values():
        body = api.get("/api/", query={"token": key}).json()
        assert body["service"] == "IOC Manager API" and body["status"] == "running"
        assert "POST /api/bloquear-ip" in body["endpoints"]


def test_scopes_are_enforced(api, keys) -> None:
    item = {"ip": "192.0.2.1", "tags": ["T"]}
    assert api.post("/api/bloquear-ip", json=item, headers={"X-API-Key": keys["READ"]}).status == 403
    assert api.post("/api/bloquear-ip", json=item, headers={"X-API-Key": keys["INGEST"]}).status == 403
    assert api.get("/api/summary", headers={"X-API-Key": keys["WRITE"]}).status == 200, "WRITE includes reading"
    assert api.get("/api/summary", headers={"X-API-Key": keys["INGEST"]}).status == 403
    denied = api.get("/api/summary", headers={"X-API-Key": "vgl_0000_bad"})
    assert denied.status == 401 and denied.json()["status"] == "error"


def test_block_one_item(api, keys, clock) -> None:
    response = write(
        api,
        keys,
        "/api/bloquear-ip",
        {"ip": "1.2.3.4", "tags": ["Multicliente"], "ttl": "30d", "note": "Ataque SSH", "alert_id": "TICKET-1234"},
    )
    assert response.status == 200
    body = response.json()
    assert body == {
        "status": "ok",
        "errors": [],
        "processed": [{"count": 1, "ips": [{"ip": "1.2.3.4", "status": "ok", "expires_at": "2026-12-24T10:00:00Z"}]}],
    }
    state = read(api, keys, "/api/estado/1.2.3.4").json()
    assert state["status"] == "ok"
    assert state["data"]["tags"] == ["Multicliente"] and state["data"]["ttl"] == 30 * 86400
    assert state["data"]["expires_at"] == "2026-12-24T10:00:00Z" and state["data"]["alert_ids"] == ["TICKET-1234"]
    assert state["data"]["source"] == "api"


@pytest.mark.parametrize(
    ("ttl", "seconds"), [(3600, 3600), ("24h", 86400), ("7d", 604800), ("PT12H", 43200), (None, None)]
)
def test_ttl_grammar(api, keys, ttl, seconds) -> None:
    write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.9", "tags": ["T"], "ttl": ttl})
    assert read(api, keys, "/api/estado/192.0.2.9").json()["data"]["ttl"] == seconds


def test_items_ranges_and_cidrs_with_partial_failure(api, keys) -> None:
    body = {
        "items": [
            {"ip": "192.0.2.1", "tags": ["A"]},
            {"range": "192.0.2.16-192.0.2.31", "tags": ["A"]},
            {"cidr": "192.0.2.128/25", "tags": ["B"], "ttl": "1w"},
            {"ip": "192.0.2.300", "tags": ["A"]},
            {"ip": "192.0.2.2"},
            {"ip": "192.0.2.3", "cidr": "192.0.2.0/24", "tags": ["A"]},
            {"ip": "192.0.2.4", "tags": ["A"], "ttl": "soon"},
            {"ip": "127.0.0.1", "tags": ["A"]},
        ]
    }
    response = write(api, keys, "/api/bloquear-ip", body)
    assert response.status == 207
    result = response.json()
    assert result["status"] == "partial_ok"
    assert [p["ips"][0]["ip"] for p in result["processed"]] == ["192.0.2.1", "192.0.2.16/28", "192.0.2.128/25"]
    assert [e["index"] for e in result["errors"]] == [3, 4, 5, 6, 7]
    assert all(e["error"] for e in result["errors"])
    assert read(api, keys, "/api/summary").json()["total_ips"] == 3


def test_all_items_failing_is_400_error(api, keys) -> None:
    response = write(api, keys, "/api/bloquear-ip", {"items": [{"ip": "nope", "tags": ["A"]}]})
    assert response.status == 400 and response.json()["status"] == "error"
    assert write(api, keys, "/api/bloquear-ip", {"items": []}).status == 400
    assert write(api, keys, "/api/bloquear-ip", ["not", "an", "object"]).status == 400


def test_duplicates_merge_unless_forced(api, keys) -> None:
    write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.5", "tags": ["A"], "ttl": "1d", "alert_id": "T-1"})
    merged = write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.5", "tags": ["B"], "ttl": "2d", "alert_id": "T-2"})
    assert merged.json()["processed"][0]["ips"][0]["status"] == "updated"
    state = read(api, keys, "/api/estado/192.0.2.5").json()["data"]
    assert state["tags"] == ["A", "B"] and state["alert_ids"] == ["T-1", "T-2"] and state["ttl"] == 2 * 86400
    shorter = write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.5", "tags": ["A"], "ttl": "1h"})
    assert shorter.json()["processed"][0]["ips"][0]["status"] == "unchanged", "a merge never shortens"
    write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.5", "tags": ["C"], "ttl": "1h", "force": True})
    forced = read(api, keys, "/api/estado/192.0.2.5").json()["data"]
    assert forced["tags"] == ["C"] and forced["alert_ids"] == [] and forced["ttl"] == 3600


def test_delete_with_tags_is_partial_and_without_is_global(api, keys) -> None:
    write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.6", "tags": ["A", "B"]})
    partial = write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.6", "tags": ["A"]}, method="DELETE")
    assert partial.status == 200
    assert partial.json() == {"status": "updated", "ip": "192.0.2.6", "scope": "partial", "tags": ["B"]}
    last_tag = write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.6", "tags": ["B"]}, method="DELETE")
    assert last_tag.json()["status"] == "deleted"
    assert read(api, keys, "/api/estado/192.0.2.6").status == 404
    write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.7", "tags": ["A", "B"]})
    everywhere = write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.7"}, method="DELETE")
    assert everywhere.json() == {"status": "deleted", "ip": "192.0.2.7", "scope": "global"}
    missing = write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.8"}, method="DELETE")
    assert missing.status == 404 and missing.json()["status"] == "error"


def test_state_of_an_unknown_ip_is_404(api, keys) -> None:
    response = read(api, keys, "/api/estado/203.0.113.99")
    assert response.status == 404 and response.json()["status"] == "error"
    assert read(api, keys, "/api/estado/not-an-ip").status == 400


def test_summary_lists_and_feeds(api, keys) -> None:
    write(
        api,
        keys,
        "/api/bloquear-ip",
        {
            "items": [
                {"ip": "192.0.2.20", "tags": ["BPE", "Malware"]},
                {"ip": "2001:db8::5", "tags": ["BPE"]},
                {"cidr": "198.51.100.0/30", "tags": ["Multicliente"]},
            ]
        },
    )
    summary = read(api, keys, "/api/summary").json()
    assert summary["ok"] is True and summary["total_ips"] == 3
    assert summary["tags"] == {"BPE": 2, "Malware": 1, "Multicliente": 1} and summary["sources"] == {"api": 3}
    assert summary["timestamp"] == "2026-11-24T10:00:00Z"
    listing = read(api, keys, "/api/lista/BPE").json()
    assert listing["count"] == 2 and [i["ip"] for i in listing["data"]] == ["192.0.2.20", "2001:db8::5"]
    feed = read(api, keys, "/api/feed/ioc-feed-bpe.txt")
    assert feed.status == 200 and feed.header("Content-Type").startswith("text/plain")
    assert feed.text == "192.0.2.20\n2001:db8::5\n"
    assert read(api, keys, "/api/feed/ioc-feed-multicliente.txt").text == "198.51.100.0/30\n"
    assert read(api, keys, "/api/feed/ioc-feed-nothing.txt").text == "", "an empty feed, not a 404"
    assert read(api, keys, "/api/feed/passwords.txt").status == 404


def test_counters_history_from_daily_snapshots(api, keys, container, clock) -> None:
    import app  # noqa: PLC0415
    from devstack.driver import scheduled_event  # noqa: PLC0415

    write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.30", "tags": ["A"]})
    app.snapshot_ioc_counters(scheduled_event("snapshot_ioc_counters"), None)
    clock.advance(days=1)
    write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.31", "tags": ["A"]})
    app.snapshot_ioc_counters(scheduled_event("snapshot_ioc_counters"), None)
    history = read(api, keys, "/api/counters/history", query={"limit": 30}).json()
    assert [(h["date"], h["total_ips"]) for h in history] == [("2026-11-25", 2), ("2026-11-24", 1)]
    assert len(read(api, keys, "/api/counters/history", query={"limit": 1}).json()) == 1
    assert read(api, keys, "/api/counters/history", query={"limit": 0}).status == 400


def test_idempotency_key_replays_and_refuses_another_body(api, keys, aws, settings) -> None:
    headers = {"Idempotency-Key": "retry-42"}
    first = write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.40", "tags": ["A"]}, headers=headers)
    again = write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.40", "tags": ["A"]}, headers=headers)
    assert first.status == again.status == 200
    assert first.json() == again.json()
    assert first.json()["processed"][0]["ips"][0]["status"] == "ok", "the replay is the first answer, not 'unchanged'"
    other = write(api, keys, "/api/bloquear-ip", {"ip": "192.0.2.41", "tags": ["A"]}, headers=headers)
    assert other.status == 409 and other.json()["status"] == "error"
    assert read(api, keys, "/api/estado/192.0.2.41").status == 404, "the refused body changed nothing"
