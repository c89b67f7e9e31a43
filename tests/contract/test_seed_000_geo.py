"""Seed 000's GeoZone (D2B v2) and Geoblocking sections under /api/v1: bodies, codes, validation, permissions.

GeoIP answers come from small databases written at test time (`tests.support.geodb`), so they are exact.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from chalicelib.intel.geoip import GeoLocator
from tests.support.client import ApiClient
from tests.support.geodb import write_asn_db, write_city_db
from tests.support.identity import make_user, token_for

DEFAULT_CONFIG = {
    "enabled": True,
    "authorized": [],
    "hostile": [],
    "default": "neutral",
    "pending_for_authorized": True,
    "ban_hostile_immediately": True,
    "updated_at": None,
    "updated_by": None,
}
LONDON = {
    "country_code": "GB",
    "country_name": "United Kingdom",
    "city": "London",
    "latitude": 51.5142,
    "longitude": -0.0931,
    "asn": 20712,
    "as_org": "Andrews & Arnold Ltd",
    "network": "81.2.69.0/25",
}


@pytest.fixture
def geo_api(admin_api: ApiClient, container, tmp_path: Path) -> ApiClient:
    """An admin's client, with the platform's GeoIP reading the test databases."""
    city, asn = write_city_db(tmp_path / "city.mmdb"), write_asn_db(tmp_path / "asn.mmdb")
    container.geoip = GeoLocator(str(city), str(asn))
    return admin_api


def errors_of(response) -> list[str]:
    return [d["field"] for d in response.json()["error"]["details"]]


# GeoZone
def test_config_starts_with_the_defaults(geo_api: ApiClient) -> None:
    response = geo_api.get("/api/v1/geozone/config")
    assert response.status == 200 and response.json()["data"] == DEFAULT_CONFIG


def test_put_config_changes_the_fields_given(geo_api: ApiClient, admin) -> None:
    response = geo_api.put(
        "/api/v1/geozone/config", json={"authorized": ["fr", "BE"], "hostile": ["KP"], "pending_for_authorized": False}
    )
    assert response.status == 200
    assert response.json()["data"] == {
        **DEFAULT_CONFIG,
        "authorized": ["BE", "FR"],
        "hostile": ["KP"],
        "pending_for_authorized": False,
        "updated_at": "2026-11-24T10:00:00Z",
        "updated_by": f"user:{admin['id']}",
    }
    again = geo_api.put("/api/v1/geozone/config", json={"enabled": False, "default": "hostile"}).json()["data"]
    assert again["authorized"] == ["BE", "FR"] and again["enabled"] is False and again["default"] == "hostile"
    assert geo_api.get("/api/v1/geozone/config").json()["data"] == again


def test_put_config_validation(geo_api: ApiClient) -> None:
    bad_code = geo_api.put("/api/v1/geozone/config", json={"authorized": ["FR", "UK"]})
    assert bad_code.status == 400 and bad_code.json()["error"]["code"] == "VALIDATION_ERROR"
    assert errors_of(bad_code) == ["authorized.1"] and "GB" in bad_code.json()["error"]["details"][0]["message"]
    both = geo_api.put("/api/v1/geozone/config", json={"authorized": ["FR"], "hostile": ["FR"]})
    assert both.status == 400 and errors_of(both) == ["hostile"]
    assert errors_of(geo_api.put("/api/v1/geozone/config", json={"default": "friendly"})) == ["default"]
    assert errors_of(geo_api.put("/api/v1/geozone/config", json={"colour": "red"})) == ["colour"]
    assert geo_api.put("/api/v1/geozone/config").status == 400, "a body is required"
    assert geo_api.get("/api/v1/geozone/config").json()["data"] == DEFAULT_CONFIG, "nothing was saved"


def test_classify_a_country(geo_api: ApiClient) -> None:
    geo_api.post("/api/v1/geozone/countries/hostile", json={"countries": ["RU", "KP"]})
    geo_api.post("/api/v1/geozone/countries/authorized", json={"country": "FR"})
    russia = geo_api.get("/api/v1/geozone/classify", query={"country": "ru"}).json()["data"]
    assert russia == {
        "country": "RU",
        "country_name": "Russia",
        "zone": "hostile",
        "enabled": True,
        "effects": {"ban": "ban", "pending": "ban", "alert": "ban"},
    }
    france = geo_api.get("/api/v1/geozone/classify", query={"country": "FR"}).json()["data"]
    assert france["zone"] == "authorized" and france["effects"] == {
        "ban": "pending",
        "pending": "pending",
        "alert": "alert",
    }
    usa = geo_api.get("/api/v1/geozone/classify", query={"country": "US"}).json()["data"]
    assert usa["zone"] == "neutral" and usa["effects"] == {"ban": "ban", "pending": "pending", "alert": "alert"}


def test_classify_an_address(geo_api: ApiClient) -> None:
    geo_api.post("/api/v1/geozone/countries/hostile", json={"country": "CN"})
    china = geo_api.get("/api/v1/geozone/classify", query={"ip": "175.16.199.20"}).json()["data"]
    assert china["ip"] == "175.16.199.20" and china["country"] == "CN" and china["zone"] == "hostile"
    assert china["geo"]["city"] == "Changchun" and china["geo"]["asn"] == 4837
    private = geo_api.get("/api/v1/geozone/classify", query={"ip": "10.0.0.1"}).json()["data"]
    assert private["country"] is None and private["zone"] == "neutral" and private["geo"]["country_code"] is None


def test_classify_validation(geo_api: ApiClient) -> None:
    for query in ({}, {"country": "FR", "ip": "81.2.69.1"}, {"country": "XX"}, {"ip": "not-an-ip"}, {"zone": "x"}):
        response = geo_api.get("/api/v1/geozone/classify", query=query)
        assert response.status == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR", query


def test_countries_lists_every_iso_country_with_its_zone(geo_api: ApiClient) -> None:
    geo_api.post("/api/v1/geozone/countries/hostile", json={"country": "KP"})
    response = geo_api.get("/api/v1/geozone/countries")
    body = response.json()
    assert response.status == 200 and body["meta"]["total"] == 250 == len(body["data"])
    assert body["data"][0] == {"code": "AD", "name": "Andorra", "zone": "neutral"}
    assert {"code": "KP", "name": "North Korea", "zone": "hostile"} in body["data"]
    hostile = geo_api.get("/api/v1/geozone/countries", query={"zone": "hostile"}).json()
    assert hostile["data"] == [{"code": "KP", "name": "North Korea", "zone": "hostile"}]
    assert geo_api.get("/api/v1/geozone/countries", query={"zone": "friendly"}).status == 400


def test_authorized_countries_are_added_and_removed(geo_api: ApiClient) -> None:
    geo_api.post("/api/v1/geozone/countries/hostile", json={"countries": ["CN", "RU"]})
    added = geo_api.post("/api/v1/geozone/countries/authorized", json={"countries": ["fr", "CN"]})
    assert added.status == 200
    data = added.json()["data"]
    assert data["added"] == ["CN", "FR"] and data["authorized"] == ["CN", "FR"] and data["hostile"] == ["RU"]
    again = geo_api.post("/api/v1/geozone/countries/authorized", json={"country": "FR"}).json()["data"]
    assert again["added"] == [] and again["authorized"] == ["CN", "FR"], "adding twice changes nothing"
    removed = geo_api.delete("/api/v1/geozone/countries/authorized", json={"countries": ["CN", "DE"]})
    assert removed.status == 200 and removed.json()["data"]["removed"] == ["CN"]
    assert removed.json()["data"]["authorized"] == ["FR"]


def test_hostile_countries_are_added_and_removed(geo_api: ApiClient) -> None:
    geo_api.post("/api/v1/geozone/countries/authorized", json={"country": "BR"})
    data = geo_api.post("/api/v1/geozone/countries/hostile", json={"countries": ["BR", "KP"]}).json()["data"]
    assert data["hostile"] == ["BR", "KP"] and data["authorized"] == [] and data["added"] == ["BR", "KP"]
    data = geo_api.delete("/api/v1/geozone/countries/hostile", json={"country": "BR"}).json()["data"]
    assert data["hostile"] == ["KP"] and data["removed"] == ["BR"]


def test_country_bodies_are_validated(geo_api: ApiClient) -> None:
    for path in ("/api/v1/geozone/countries/authorized", "/api/v1/geozone/countries/hostile"):
        for method in ("POST", "DELETE"):
            missing = geo_api.request(method, path, json={})
            assert missing.status == 400 and missing.json()["error"]["code"] == "VALIDATION_ERROR"
            bad = geo_api.request(method, path, json={"countries": ["FR", "ZZ"]})
            assert bad.status == 400 and errors_of(bad) == ["countries.1"]
            assert errors_of(geo_api.request(method, path, json={"country": "France"})) == ["country"]
            assert geo_api.request(method, path, json={"countries": []}).status == 400


# Geoblocking
def test_rules_crud(geo_api: ApiClient, admin, clock) -> None:
    created = geo_api.post(
        "/api/v1/geoblocking/rules", json={"type": "country", "value": "cn", "action": "block", "reason": "policy"}
    )
    assert created.status == 201
    rule = created.json()["data"]
    assert rule == {
        "id": rule["id"],
        "type": "country",
        "value": "CN",
        "name": "China",
        "action": "block",
        "reason": "policy",
        "enabled": True,
        "created_at": "2026-11-24T10:00:00Z",
        "created_by": f"user:{admin['id']}",
        "updated_at": None,
    }
    clock.advance(1)
    asn = geo_api.post("/api/v1/geoblocking/rules", json={"type": "asn", "value": 4134, "action": "watch"}).json()
    assert asn["data"]["value"] == "AS4134" and asn["data"]["name"] is None and asn["data"]["reason"] == ""

    listed = geo_api.get("/api/v1/geoblocking/rules").json()
    assert [r["value"] for r in listed["data"]] == ["CN", "AS4134"] and listed["meta"]["total"] == 2
    assert [r["value"] for r in geo_api.get("/api/v1/geoblocking/rules", query={"type": "asn"}).json()["data"]] == [
        "AS4134"
    ]
    page = geo_api.get("/api/v1/geoblocking/rules", query={"action": "watch", "limit": 1, "offset": 0}).json()
    assert page["data"][0]["value"] == "AS4134"
    assert {k: page["meta"][k] for k in ("total", "limit", "offset")} == {"total": 1, "limit": 1, "offset": 0}

    path = f"/api/v1/geoblocking/rules/{rule['id']}"
    changed = geo_api.put(path, json={"action": "watch", "enabled": False})
    assert changed.status == 200
    assert changed.json()["data"]["action"] == "watch" and changed.json()["data"]["enabled"] is False
    assert changed.json()["data"]["updated_at"] == "2026-11-24T10:00:01Z"
    assert geo_api.get("/api/v1/geoblocking/rules", query={"enabled": "false"}).json()["meta"]["total"] == 1

    deleted = geo_api.delete(path)
    assert deleted.status == 200 and deleted.json()["data"]["id"] == rule["id"]
    assert geo_api.delete(path).status == 404
    missing = geo_api.put(path, json={"reason": "x"})
    assert missing.status == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


def test_rule_refusals(geo_api: ApiClient) -> None:
    geo_api.post("/api/v1/geoblocking/rules", json={"type": "country", "value": "RU"})
    duplicate = geo_api.post("/api/v1/geoblocking/rules", json={"type": "country", "value": "ru", "action": "watch"})
    assert duplicate.status == 409 and duplicate.json()["error"]["code"] == "CONFLICT"
    for body, field in (
        ({"type": "country", "value": "UK"}, "value"),
        ({"type": "asn", "value": "AS-FOO"}, "value"),
        ({"type": "asn", "value": 0}, "value"),
        ({"type": "city", "value": "Paris"}, "type"),
        ({"type": "country", "value": "FR", "action": "allow"}, "action"),
        ({"type": "country"}, "value"),
        ({"type": "country", "value": "FR", "colour": "red"}, "colour"),
    ):
        response = geo_api.post("/api/v1/geoblocking/rules", json=body)
        assert response.status == 400 and errors_of(response) == [field], body
    rule = geo_api.get("/api/v1/geoblocking/rules").json()["data"][0]
    retyped = geo_api.put(f"/api/v1/geoblocking/rules/{rule['id']}", json={"type": "asn"})
    assert retyped.status == 400 and errors_of(retyped) == ["value"], "RU is not an AS number"


def test_check_says_which_rule_would_apply(geo_api: ApiClient) -> None:
    block = geo_api.post("/api/v1/geoblocking/rules", json={"type": "country", "value": "CN"}).json()["data"]
    watch = geo_api.post("/api/v1/geoblocking/rules", json={"type": "asn", "value": "4837", "action": "watch"})
    response = geo_api.get("/api/v1/geoblocking/check/175.16.199.9")
    assert response.status == 200
    data = response.json()["data"]
    assert data["ip"] == "175.16.199.9" and data["reserved"] is False and data["action"] == "block"
    assert data["rule"]["id"] == block["id"] and [r["id"] for r in data["shadowed"]] == [watch.json()["data"]["id"]]
    assert data["geo"]["country_code"] == "CN" and data["geo"]["network"] == "175.16.199.0/24"

    london = geo_api.get("/api/v1/geoblocking/check/81.2.69.10").json()["data"]
    assert (
        london["action"] == "allow" and london["rule"] is None and london["shadowed"] == [] and london["geo"] == LONDON
    )
    private = geo_api.get("/api/v1/geoblocking/check/192.168.1.100").json()["data"]
    assert private["reserved"] is True and private["action"] == "allow" and private["geo"]["country_code"] is None
    tokyo = geo_api.get("/api/v1/geoblocking/check/" + quote("2001:218::7", safe="")).json()["data"]
    assert tokyo["geo"]["country_code"] == "JP" and tokyo["action"] == "allow"
    bad = geo_api.get("/api/v1/geoblocking/check/999.1.1.1")
    assert bad.status == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"


def test_lookup_is_geography_only(geo_api: ApiClient) -> None:
    geo_api.post("/api/v1/geoblocking/rules", json={"type": "country", "value": "GB"})
    response = geo_api.get("/api/v1/geoblocking/lookup/81.2.69.10")
    assert response.status == 200
    assert response.json()["data"] == {"ip": "81.2.69.10", "found": True, "reserved": False, **LONDON}
    unknown = geo_api.get("/api/v1/geoblocking/lookup/8.8.8.8").json()["data"]
    assert unknown["found"] is False and unknown["reserved"] is False and unknown["country_code"] is None
    private = geo_api.get("/api/v1/geoblocking/lookup/10.1.2.3").json()["data"]
    assert private["found"] is False and private["reserved"] is True
    assert geo_api.get("/api/v1/geoblocking/lookup/nope").status == 400


def test_blocked_and_watched_countries(geo_api: ApiClient) -> None:
    geo_api.post("/api/v1/geoblocking/rules", json={"type": "country", "value": "RU", "reason": "policy"})
    geo_api.post("/api/v1/geoblocking/rules", json={"type": "country", "value": "BR", "action": "watch"})
    geo_api.post("/api/v1/geoblocking/rules", json={"type": "country", "value": "KP", "enabled": False})
    geo_api.post("/api/v1/geoblocking/rules", json={"type": "asn", "value": "AS4134"})
    blocked = geo_api.get("/api/v1/geoblocking/countries/blocked").json()
    assert blocked["meta"]["total"] == 1
    (russia,) = blocked["data"]
    assert (russia["code"], russia["name"], russia["reason"]) == ("RU", "Russia", "policy") and russia["rule_id"]
    watched = geo_api.get("/api/v1/geoblocking/countries/watched").json()["data"]
    assert [c["code"] for c in watched] == ["BR"]


def test_stats(geo_api: ApiClient, container) -> None:
    geo_api.post("/api/v1/geoblocking/rules", json={"type": "country", "value": "CN"})
    geo_api.post("/api/v1/geoblocking/rules", json={"type": "asn", "value": "AS20712", "action": "watch"})
    blocking = container.geoblocking
    blocking.record_matches(blocking.evaluate(container.geoip.lookup(ip)) for ip in ("175.16.199.1", "81.2.69.1"))
    stats = geo_api.get("/api/v1/geoblocking/stats").json()["data"]
    assert stats["rules"] == {
        "total": 2,
        "enabled": 2,
        "by_type": {"country": 1, "asn": 1},
        "by_action": {"block": 1, "watch": 1},
    }
    assert stats["matches"]["today"] == 2 and stats["matches"]["by_action"] == {"block": 1, "watch": 1}
    assert [d["kind"] for d in stats["databases"]] == ["city", "asn"]
    assert stats["databases"][0]["database_type"] == "GeoLite2-City"


# Permissions
READS = [
    "/api/v1/geozone/config",
    "/api/v1/geozone/classify?country=FR",
    "/api/v1/geozone/countries",
    "/api/v1/geoblocking/rules",
    "/api/v1/geoblocking/stats",
    "/api/v1/geoblocking/check/81.2.69.10",
    "/api/v1/geoblocking/lookup/81.2.69.10",
    "/api/v1/geoblocking/countries/blocked",
    "/api/v1/geoblocking/countries/watched",
]
WRITES = [
    ("PUT", "/api/v1/geozone/config", {"enabled": False}),
    ("POST", "/api/v1/geozone/countries/authorized", {"country": "FR"}),
    ("DELETE", "/api/v1/geozone/countries/authorized", {"country": "FR"}),
    ("POST", "/api/v1/geozone/countries/hostile", {"country": "KP"}),
    ("DELETE", "/api/v1/geozone/countries/hostile", {"country": "KP"}),
    ("POST", "/api/v1/geoblocking/rules", {"type": "country", "value": "CN"}),
    ("PUT", "/api/v1/geoblocking/rules/{id}", {"reason": "x"}),
    ("DELETE", "/api/v1/geoblocking/rules/{id}", None),
]


def test_viewers_and_analysts_read_but_only_config_write_changes(geo_api: ApiClient, api: ApiClient, container) -> None:
    rule = geo_api.post("/api/v1/geoblocking/rules", json={"type": "country", "value": "RU"}).json()["data"]
    for role in ("viewer", "analyst"):
        token = token_for(container, make_user(container, role))
        for path in READS:
            assert api.get(path, token=token).status == 200, (role, path)
        for method, path, body in WRITES:
            response = api.request(method, path.format(id=rule["id"]), json=body, token=token)
            assert response.status == 403 and response.json()["error"]["code"] == "AUTHORIZATION_ERROR", (role, path)
    for method, path, body in WRITES:
        response = geo_api.request(method, path.format(id=rule["id"]), json=body)
        assert response.status in (200, 201), (method, path, response.body)
    assert api.get("/api/v1/geozone/config").status == 401
