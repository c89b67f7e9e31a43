"""`GET /api/v1/feeds` and `GET /api/v1/feeds/{name}`: the feed token, formats, conditional GETs, aliases."""

from __future__ import annotations

import json

import pytest

from chalicelib.decisions.service import BanRequest
from tests.support.client import ApiClient


@pytest.fixture
def keys(admin_api: ApiClient) -> dict[str, str]:
    made = {}
    for scope in ("READ", "WRITE", "INGEST"):
        made[scope] = admin_api.post("/api/v1/api-keys", json={"name": scope, "scopes": [scope]}).json()["data"]["key"]
    return made


@pytest.fixture
def published(api: ApiClient, keys: dict[str, str], container) -> None:
    """Two IOCs through seed 003, a permanent IPv6 ban through seed 000, then one publish."""
    write = {"Authorization": f"Bearer {keys['WRITE']}"}
    items = [{"ip": "192.0.2.20", "tags": ["BPE"], "ttl": "1d"}, {"cidr": "198.51.100.0/30", "tags": ["Malware"]}]
    assert api.post("/api/bloquear-ip", json={"items": items}, headers=write).status == 200
    container.decisions.ban(BanRequest("2001:db8::/48", seconds=None, reason="manual"), actor="test")
    container.feed_publisher.publish("test")


def feed(api: ApiClient, path: str, token: str | None, **kw):
    query = kw.pop("query", {})
    if token is not None:
        query["token"] = token
    return api.get(path, query=query, **kw)


def test_the_feed_token_is_a_read_key_in_the_query(api, keys, published) -> None:
    answer = feed(api, "/api/v1/feeds/all", keys["READ"])
    assert answer.status == 200
    assert answer.text == "192.0.2.20\n198.51.100.0/30\n2001:db8::/48\n"
    assert answer.header("Content-Type") == "text/plain; charset=utf-8"
    assert answer.header("ETag").startswith('"') and answer.header("Last-Modified").endswith(" GMT")
    assert answer.header("Cache-Control") == "no-cache"
    assert (answer.header("X-Vigil-Feed-Entries"), answer.header("X-Vigil-Feed-Dropped")) == ("3", "0")
    assert answer.header("X-Request-Id"), "the edge's headers are there too"


def test_without_a_token_401_and_without_the_permission_403(api, keys, published) -> None:
    missing = feed(api, "/api/v1/feeds/all", None)
    assert missing.status == 401 and missing.json()["error"]["code"] == "AUTHENTICATION_ERROR"
    assert feed(api, "/api/v1/feeds/all", "vgl_0000_not-a-key").status == 401
    for scope in ("INGEST", "WRITE"):
        denied = feed(api, "/api/v1/feeds/all", keys[scope])
        assert denied.status == 403 and denied.json()["error"]["code"] == "AUTHORIZATION_ERROR"
    assert api.get("/api/v1/feeds/all", headers={"X-API-Key": keys["READ"]}).status == 200, "headers work too"
    assert feed(api, "/api/v1/feeds", None).status == 401


def test_a_revoked_key_stops_the_firewall(api, admin_api, keys, published) -> None:
    key_id = next(k["id"] for k in admin_api.get("/api/v1/api-keys").json()["data"] if k["name"] == "READ")
    assert admin_api.delete(f"/api/v1/api-keys/{key_id}").status in (200, 204)
    assert feed(api, "/api/v1/feeds/all", keys["READ"]).status == 401


def test_if_none_match_answers_304(api, keys, published, container) -> None:
    first = feed(api, "/api/v1/feeds/all", keys["READ"])
    etag = first.header("ETag")
    again = feed(api, "/api/v1/feeds/all", keys["READ"], headers={"If-None-Match": etag})
    assert again.status == 304 and again.body == b"" and again.header("ETag") == etag
    weak = feed(api, "/api/v1/feeds/all", keys["READ"], headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status == 304, "weak comparison, lists"
    assert feed(api, "/api/v1/feeds/all", keys["READ"], headers={"If-None-Match": '"stale"'}).status == 200
    since = feed(api, "/api/v1/feeds/all", keys["READ"], headers={"If-Modified-Since": first.header("Last-Modified")})
    assert since.status == 304
    old = feed(api, "/api/v1/feeds/all", keys["READ"], headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert old.status == 200
    container.decisions.ban(BanRequest("203.0.113.5", seconds=None), actor="test")
    container.feed_publisher.publish("change")
    changed = feed(api, "/api/v1/feeds/all", keys["READ"], headers={"If-None-Match": etag})
    assert changed.status == 200 and "203.0.113.5" in changed.text and changed.header("ETag") != etag


@pytest.mark.parametrize(
    ("path", "fmt", "content_type", "first_line"),
    [
        ("/api/v1/feeds/all", "plain-v4", "text/plain; charset=utf-8", "192.0.2.20"),
        ("/api/v1/feeds/all", "plain-v6", "text/plain; charset=utf-8", "2001:db8::/48"),
        ("/api/v1/feeds/all", "sophos", "text/plain; charset=utf-8", "192.0.2.20"),
        ("/api/v1/feeds/all", "fortigate", "text/plain; charset=utf-8", "192.0.2.20"),
        ("/api/v1/feeds/all", "paloalto", "text/plain; charset=utf-8", "192.0.2.20"),
        (
            "/api/v1/feeds/all",
            "mikrotik",
            "text/plain; charset=utf-8",
            '# vigil address list "vigil-all": 3 entries, 0 dropped',
        ),
        (
            "/api/v1/feeds/all",
            "checkpoint",
            "text/csv; charset=utf-8",
            "# UNIQ-NAME,VALUE,TYPE,CONFIDENCE,SEVERITY,PRODUCT,COMMENT",
        ),
        (
            "/api/v1/feeds/all.rsc",
            None,
            "text/plain; charset=utf-8",
            '# vigil address list "vigil-all": 3 entries, 0 dropped',
        ),
        (
            "/api/v1/feeds/all.csv",
            None,
            "text/csv; charset=utf-8",
            "# UNIQ-NAME,VALUE,TYPE,CONFIDENCE,SEVERITY,PRODUCT,COMMENT",
        ),
        ("/api/v1/feeds/tag-bpe", None, "text/plain; charset=utf-8", "192.0.2.20"),
    ],
)
def test_formats(api, keys, published, path, fmt, content_type, first_line) -> None:
    answer = feed(api, path, keys["READ"], query={"format": fmt} if fmt else {})
    assert answer.status == 200 and answer.header("Content-Type") == content_type
    assert answer.text.splitlines()[0] == first_line


def test_json_format(api, keys, published) -> None:
    answer = feed(api, "/api/v1/feeds/all.json", keys["READ"])
    assert answer.header("Content-Type") == "application/json"
    body = json.loads(answer.body)
    assert body["feed"] == "all" and body["count"] == 3 and body["dropped"] == 0
    assert [e["value"] for e in body["entries"]] == ["192.0.2.20/32", "198.51.100.0/30", "2001:db8::/48"]
    assert body["entries"][0]["until"] == "2026-11-25T10:00:00Z" and body["entries"][2]["until"] is None


def test_seed_003_alias_serves_the_tag_feed_exactly_as_seed_003(api, keys, published) -> None:
    alias = feed(api, "/api/v1/feeds/ioc-feed-bpe.txt", keys["READ"])
    seed = api.get("/api/feed/ioc-feed-bpe.txt", headers={"X-API-Key": keys["READ"]})
    assert alias.status == seed.status == 200
    assert alias.text == seed.text == "192.0.2.20\n"


def test_unknown_feeds_and_formats(api, keys, published) -> None:
    missing = feed(api, "/api/v1/feeds/tag-nothing", keys["READ"])
    assert missing.status == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    assert feed(api, "/api/v1/feeds/ioc-feed-nothing.txt", keys["READ"]).status == 404
    assert feed(api, "/api/v1/feeds/all.exe", keys["READ"]).status == 404
    bad = feed(api, "/api/v1/feeds/all", keys["READ"], query={"format": "cisco"})
    assert bad.status == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
    assert feed(api, "/api/v1/feeds/all.rsc", keys["READ"], query={"format": "plain"}).status == 400


def test_the_list_shows_counts_urls_and_the_publisher(api, keys, published) -> None:
    answer = feed(api, "/api/v1/feeds", keys["READ"])
    assert answer.status == 200
    body = answer.json()
    assert [f["name"] for f in body["data"]] == ["all", "tag-bpe", "tag-malware"]
    assert body["meta"]["total"] == 3 and body["meta"]["publisher"]["published_at"] == "2026-11-24T10:00:00Z"
    sophos = next(f for f in body["data"][0]["formats"] if f["variant"] == "sophos")
    assert {k: sophos[k] for k in ("format", "entries", "skipped", "dropped", "max_entries", "url", "s3_url")} == {
        "format": "sophos",
        "entries": 5,
        "skipped": 1,
        "dropped": 0,
        "max_entries": 100_000,
        "url": "/api/v1/feeds/all?format=sophos",
        "s3_url": None,
    }
    assert body["data"][0]["access"] == "api"
