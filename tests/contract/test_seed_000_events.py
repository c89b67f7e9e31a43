"""Seed 000's events, statistics, status, forensic and parser routes under /api/v1, fed through the ingest door.

Every event here arrives as a raw log line posted to `POST /api/v1/ingest` (sshd auth.log lines and Sophos XGS
records), as a sensor would send it; the fixed clock decides which window, bucket and day each one falls in.
Addresses come from the documentation ranges (never the test client's own address, which a ban would lock out).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.intel.geoip import GeoLocator
from tests.support.client import ApiClient
from tests.support.geodb import write_asn_db, write_city_db
from tests.support.identity import make_user, token_for
from tests.support.logs import (
    ingest,
    sshd_failure,
    xgs_atp,
    xgs_firewall,
    xgs_firewall_legacy,
    xgs_ips,
    xgs_waf,
)

A, B, C, D, E = "203.0.113.10", "203.0.113.20", "203.0.113.30", "203.0.113.40", "203.0.113.50"


@pytest.fixture
def fresh(admin_api: ApiClient, container, admin):
    """Call after moving the clock: an admin token lives 30 minutes of clock time."""

    def renew() -> ApiClient:
        admin_api.token = token_for(container, admin)
        return admin_api

    return renew


def data(response) -> Any:
    assert response.status == 200, response.body
    return response.json()["data"]


def fields_of(response) -> list[str]:
    return [d["field"] for d in response.json()["error"]["details"]]


def five_kinds(admin_api: ApiClient, clock) -> dict[str, str]:
    """One event of each log type, ten seconds apart (A oldest, E newest); returns ip → event id."""
    now = clock.now()
    ingest(admin_api, "web01", "sshd", [sshd_failure(now - timedelta(seconds=50), A, user="root")])
    ingest(
        admin_api,
        "fw-1",
        "sophos-xgs",
        [
            xgs_waf(now - timedelta(seconds=40), B),
            xgs_firewall(now - timedelta(seconds=30), C, "WAN", "DMZ"),
            xgs_ips(now - timedelta(seconds=20), D, severity="Critical"),
            xgs_atp(now - timedelta(seconds=10), E),
        ],
    )
    events = data(admin_api.get("/api/v1/events"))
    return {e["source_ip"]: e["id"] for e in events}


# the ingest door
def test_ingest_reports_each_line_and_refuses_what_it_cannot_read(admin_api: ApiClient, clock) -> None:
    now = clock.now() - timedelta(seconds=5)
    result = ingest(
        admin_api, "web01", "sshd", [sshd_failure(now, A), "not a log line", 42], hostname="web01.example.com"
    )
    assert (result["accepted"], result["ignored"]) == (1, 1)
    assert result["rejected"] == [{"index": 2, "error": "a line must be a string"}]
    assert result["duplicate"] is False and result["queued"] is False

    unknown = admin_api.post("/api/v1/ingest", json={"sensor": "web01", "format": "qradar", "lines": ["x"]})
    assert unknown.status == 400 and unknown.json()["error"]["details"]["formats"][0] == "sshd"
    no_sensor = admin_api.post("/api/v1/ingest", json={"format": "sshd", "lines": [sshd_failure(now, A)]})
    assert no_sensor.status == 400 and fields_of(no_sensor) == ["sensor"]
    no_format = admin_api.post("/api/v1/ingest", json={"sensor": "web01", "lines": [sshd_failure(now, A)]})
    assert no_format.status == 400
    empty = admin_api.post("/api/v1/ingest", json={"sensor": "web01", "format": "sshd", "lines": []})
    assert empty.status == 400

    first = ingest(admin_api, "web01", "sshd", [sshd_failure(now, B)], batch_id="agent-7:0001")
    again = ingest(admin_api, "web01", "sshd", [sshd_failure(now, B)], batch_id="agent-7:0001")
    assert again["duplicate"] is True and again["batch_id"] == first["batch_id"] == "agent-7:0001"
    assert len(data(admin_api.get("/api/v1/events", query={"src_ip": B}))) == 1, "a retried batch is stored once"


def test_ingest_needs_the_ingest_permission(api: ApiClient, container, clock) -> None:
    line = sshd_failure(clock.now(), A)
    body = {"sensor": "web01", "format": "sshd", "lines": [line]}
    assert api.post("/api/v1/ingest", json=body).status == 401
    viewer = token_for(container, make_user(container, "viewer"))
    assert api.post("/api/v1/ingest", json=body, token=viewer).status == 403
    agent = token_for(container, make_user(container, "agent"))
    assert api.post("/api/v1/ingest", json=body, token=agent).status == 200
    assert api.get("/api/v1/events", token=agent).status == 403, "an agent posts events but does not read them"
    assert api.get("/api/v1/events", token=viewer).status == 200


# /events
def test_events_are_listed_newest_first_with_pagination_meta(admin_api: ApiClient, clock) -> None:
    ids = five_kinds(admin_api, clock)
    listed = admin_api.get("/api/v1/events").json()
    assert [e["source_ip"] for e in listed["data"]] == [E, D, C, B, A]
    assert {k: v for k, v in listed["meta"].items() if k != "request_id"} == {"total": 5, "limit": 50, "offset": 0}
    page = admin_api.get("/api/v1/events", query={"limit": 2, "offset": 1}).json()
    assert [e["source_ip"] for e in page["data"]] == [D, C]
    assert page["meta"]["total"] == 5 and page["meta"]["limit"] == 2 and page["meta"]["offset"] == 1
    last = admin_api.get("/api/v1/events", query={"limit": 2, "offset": 4}).json()
    assert [e["id"] for e in last["data"]] == [ids[A]] and last["meta"]["total"] == 5
    beyond = admin_api.get("/api/v1/events", query={"offset": 10}).json()
    assert beyond["data"] == [] and beyond["meta"]["total"] == 5

    sshd = next(e for e in listed["data"] if e["source_ip"] == A)
    assert sshd["kind"] == "auth_failure" and sshd["log_type"] == "AUTH" and sshd["severity"] == "medium"
    assert sshd["username"] == "root" and sshd["sensor"] == "web01" and sshd["hostname"] == "web01"
    assert sshd["time"] == "2026-11-24T09:59:10Z" and sshd["raw"].startswith("Nov 24 09:59:10 web01 sshd")


def test_each_documented_filter(admin_api: ApiClient, clock) -> None:
    five_kinds(admin_api, clock)

    def ips(**query: Any) -> list[str]:
        return [e["source_ip"] for e in data(admin_api.get("/api/v1/events", query=query))]

    assert ips(log_type="AUTH") == [A]
    assert ips(log_type="WAF") == [B]
    assert ips(log_type="FIREWALL") == [C]
    assert ips(log_type="IPS") == [D]
    assert ips(log_type="ATP") == [E]
    assert ips(severity="critical") == [D]
    assert ips(severity="low") == [E]
    assert ips(severity="medium") == [A]
    assert ips(severity="info") == [C, B]
    assert ips(severity="high") == []
    assert ips(src_ip=C) == [C]
    assert ips(src_ip="198.51.100.99") == []
    assert ips(hostname="shop.example.com") == [B]
    assert ips(hostname="web01") == [A]
    assert ips(search="SQLMAP") == [B], "search is case-insensitive over the raw line"
    assert ips(search="root") == [A], "and over the user name"
    assert ips(search="58722") == [D], "and over the rule id"
    assert ips(log_type="AUTH", src_ip=B) == [], "filters combine"
    assert ips(log_type="FIREWALL", severity="info", search="203.0.113.30") == [C]


def test_filter_values_are_validated(admin_api: ApiClient) -> None:
    for query, field in (
        ({"log_type": "SIEM"}, "log_type"),
        ({"severity": "urgent"}, "severity"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"offset": -1}, "offset"),
        ({"start_time": "yesterday"}, "start_time"),
        ({"colour": "red"}, "colour"),
    ):
        response = admin_api.get("/api/v1/events", query=query)
        assert response.status == 400 and field in fields_of(response), (query, response.body)
    bad_ip = admin_api.get("/api/v1/events", query={"src_ip": "999.1.1.1"})
    assert bad_ip.status == 400 and bad_ip.json()["error"]["code"] == "VALIDATION_ERROR"


def test_time_window(admin_api: ApiClient, clock, fresh) -> None:
    ingest(admin_api, "web01", "sshd", [sshd_failure(clock.now() - timedelta(minutes=5), A)])  # 09:55
    clock.advance(hours=2)
    fresh()
    ingest(admin_api, "web01", "sshd", [sshd_failure(clock.now() - timedelta(minutes=5), B)])  # 11:55

    def ips(**query: Any) -> list[str]:
        return [e["source_ip"] for e in data(admin_api.get("/api/v1/events", query=query))]

    assert ips() == [B, A], "the default window is the last 24 hours"
    assert ips(start_time="2026-11-24T11:00:00Z") == [B]
    assert ips(end_time="2026-11-24T11:00:00Z") == [A]
    assert ips(start_time="2026-11-24T09:00:00Z", end_time="2026-11-24T09:55:00Z") == [A], "bounds are inclusive"
    assert ips(start_time="2026-11-24T09:00:00Z", end_time="2026-11-24T09:54:59Z") == []
    assert ips(start_time="2026-11-24T12:55:00+01:00", end_time="2026-11-24T13:00:00+01:00") == [B], "offsets honoured"
    assert ips(end_time="2026-11-24") == [B, A], "a bare date as end covers that whole day"
    assert ips(start_time="2026-11-23T00:00:00Z", end_time="2026-11-23T23:59:59Z") == []
    assert ips(src_ip=A, start_time="2026-11-24T11:00:00Z") == [], "the window applies to an address's events too"


def test_src_ip_is_compared_as_an_address_not_as_text(admin_api: ApiClient, clock) -> None:
    """IPv6 has many spellings of one address; the events are stored under the canonical one."""
    now = clock.now() - timedelta(seconds=5)
    ingest(admin_api, "web01", "sshd", [sshd_failure(now, "2001:db8::10")])
    for spelling in ("2001:db8::10", "2001:DB8::10", "2001:0db8:0000:0000:0000:0000:0000:0010"):
        found = data(admin_api.get("/api/v1/events", query={"src_ip": spelling}))
        assert [e["source_ip"] for e in found] == ["2001:db8::10"], spelling


def test_event_detail(admin_api: ApiClient, clock) -> None:
    ids = five_kinds(admin_api, clock)
    response = admin_api.get(f"/api/v1/events/{ids[B]}")
    event = data(response)
    assert event["id"] == ids[B] and event["source_ip"] == B and event["kind"] == "waf_block"
    assert event["uri"] == "/products.php?id=1" and event["rule_id"] == "942100" and event["mitre"] == ["T1190"]
    assert event["fields"]["user_agent"] == "sqlmap/1.8"
    assert event == next(e for e in data(admin_api.get("/api/v1/events")) if e["id"] == ids[B])
    for unknown in (ids[B].replace(B, "203.0.113.99"), "1795514400000-000000000000~203.0.113.20", "nothing-here"):
        missing = admin_api.get(f"/api/v1/events/{unknown}")
        assert missing.status == 404 and missing.json()["error"]["code"] == "NOT_FOUND", unknown


# /events/timeline
def test_timeline_by_minute(admin_api: ApiClient, clock, fresh) -> None:
    clock.advance(minutes=5)  # 10:05
    fresh()
    base = clock.now().replace(minute=0, second=0)
    ingest(
        admin_api,
        "web01",
        "sshd",
        [sshd_failure(base + timedelta(seconds=5), A), sshd_failure(base + timedelta(seconds=35), B)],
    )
    ingest(admin_api, "fw-1", "sophos-xgs", [xgs_waf(base + timedelta(minutes=1, seconds=10), C)])
    answer = admin_api.get("/api/v1/events/timeline", query={"interval": "minute"}).json()
    assert answer["meta"]["interval"] == "minute"
    assert answer["data"] == [
        {"time": "2026-11-24T10:00:00Z", "count": 2, "by_log_type": {"AUTH": 2}, "by_severity": {"medium": 2}},
        {"time": "2026-11-24T10:01:00Z", "count": 1, "by_log_type": {"WAF": 1}, "by_severity": {"info": 1}},
    ]
    only_waf = data(admin_api.get("/api/v1/events/timeline", query={"interval": "minute", "log_type": "WAF"}))
    assert [(b["time"], b["count"]) for b in only_waf] == [("2026-11-24T10:01:00Z", 1)], "filters apply"


def test_timeline_by_hour_is_the_default(admin_api: ApiClient, clock) -> None:
    now = clock.now()  # 10:00
    ingest(
        admin_api,
        "fw-1",
        "sophos-xgs",
        [
            xgs_ips(now - timedelta(minutes=110), D, severity="Error"),  # 08:10
            xgs_ips(now - timedelta(minutes=70), D, severity="Critical"),  # 08:50
            xgs_firewall(now - timedelta(minutes=30), C, "WAN", "LAN"),  # 09:30
        ],
    )
    answer = admin_api.get("/api/v1/events/timeline").json()
    assert answer["meta"]["interval"] == "hour"
    assert answer["data"] == [
        {
            "time": "2026-11-24T08:00:00Z",
            "count": 2,
            "by_log_type": {"IPS": 2},
            "by_severity": {"high": 1, "critical": 1},
        },
        {"time": "2026-11-24T09:00:00Z", "count": 1, "by_log_type": {"FIREWALL": 1}, "by_severity": {"info": 1}},
    ]


def test_timeline_by_day(admin_api: ApiClient, clock, fresh) -> None:
    ingest(admin_api, "web01", "sshd", [sshd_failure(clock.now() - timedelta(minutes=1), A)])  # 24th
    clock.advance(days=1)
    fresh()
    ingest(admin_api, "web01", "sshd", [sshd_failure(clock.now() - timedelta(minutes=m), B) for m in (1, 2)])  # 25th
    clock.advance(days=1)
    fresh()
    ingest(admin_api, "fw-1", "sophos-xgs", [xgs_waf(clock.now() - timedelta(minutes=1), C)])  # 26th
    found = data(
        admin_api.get("/api/v1/events/timeline", query={"interval": "day", "start_time": "2026-11-23T00:00:00Z"})
    )
    assert [(b["time"], b["count"]) for b in found] == [
        ("2026-11-24T00:00:00Z", 1),
        ("2026-11-25T00:00:00Z", 2),
        ("2026-11-26T00:00:00Z", 1),
    ]
    assert found[2]["by_log_type"] == {"WAF": 1}
    default_window = data(admin_api.get("/api/v1/events/timeline", query={"interval": "day"}))
    assert [(b["time"], b["count"]) for b in default_window] == [("2026-11-26T00:00:00Z", 1)], (
        "without start_time: the last 24 hours (the 25th's events came at 09:58 and 09:59)"
    )
    assert admin_api.get("/api/v1/events/timeline", query={"interval": "week"}).status == 400


# /events/hostnames
def test_hostnames_with_counts(admin_api: ApiClient, clock, fresh) -> None:
    ingest(admin_api, "fw-1", "sophos-xgs", [xgs_waf(clock.now() - timedelta(minutes=1), B, host="old.example.com")])
    clock.advance(days=3)
    fresh()
    now = clock.now() - timedelta(seconds=30)
    ingest(admin_api, "web01", "sshd", [sshd_failure(now, A, host="web01") for _ in range(3)])
    ingest(admin_api, "web02", "sshd", [sshd_failure(now, A, host="web02")])
    ingest(admin_api, "fw-1", "sophos-xgs", [xgs_waf(now, B), xgs_waf(now, C)])
    answer = admin_api.get("/api/v1/events/hostnames").json()
    assert answer["data"] == [
        {"hostname": "web01", "count": 3},
        {"hostname": "shop.example.com", "count": 2},
        {"hostname": "web02", "count": 1},
    ]
    assert answer["meta"]["total"] == 3
    week = data(admin_api.get("/api/v1/events/hostnames", query={"days": 7}))
    assert {"hostname": "old.example.com", "count": 1} in week
    assert admin_api.get("/api/v1/events/hostnames", query={"days": 0}).status == 400


# /stats
def test_overview(admin_api: ApiClient, clock, fresh) -> None:
    ingest(admin_api, "web01", "sshd", [sshd_failure(clock.now() - timedelta(minutes=1), E)])  # three days ago
    clock.advance(days=3)
    fresh()
    now = clock.now() - timedelta(seconds=30)
    ingest(
        admin_api, "web01", "sshd", [sshd_failure(now, A, user=u) for u in ("root", "admin", "root")]
    )  # three failed logins, under the ssh scenario's five
    ingest(
        admin_api,
        "fw-1",
        "sophos-xgs",
        [
            xgs_waf(now, B),
            xgs_firewall(now, C, "WAN", "DMZ"),
            xgs_firewall(now, "192.0.2.20", "LAN", "WAN", allowed=True),  # allowed traffic is no attack
            xgs_ips(now, D, severity="Critical"),
        ],
    )
    assert admin_api.post("/api/v1/bans", json={"ip": A, "duration": "1h"}).status == 201
    overview = data(admin_api.get("/api/v1/stats/overview"))
    assert overview["events_24h"] == 7 and overview["attacks_24h"] == 6 and overview["failed_logins_24h"] == 3
    assert overview["unique_attackers_24h"] == 4, "A, B, C and D"
    assert overview["events_7d"] == 8 and overview["attacks_7d"] == 7
    assert overview["by_log_type"] == {"AUTH": 3, "WAF": 1, "FIREWALL": 2, "IPS": 1}
    assert overview["by_severity"] == {"medium": 3, "info": 3, "critical": 1}
    assert overview["by_kind"] == {
        "auth_failure": 3,
        "waf_block": 1,
        "firewall_drop": 1,
        "firewall_allow": 1,
        "ips_alert": 1,
    }
    assert overview["active_bans"] == 1 and overview["active_sensors"] == 2
    hours = overview["events_per_hour"]
    assert len(hours) == 24 and hours[-1] == {"hour": "10:00", "time": "2026-11-27T10:00:00Z", "count": 0}
    assert hours[-2] == {"hour": "09:00", "time": "2026-11-27T09:00:00Z", "count": 7}
    assert sum(h["count"] for h in hours) == 7


@pytest.fixture
def geo(container, tmp_path: Path) -> None:
    city, asn = write_city_db(tmp_path / "city.mmdb"), write_asn_db(tmp_path / "asn.mmdb")
    container.geoip = GeoLocator(str(city), str(asn))


def test_top_attackers_with_country_and_ban_status(admin_api: ApiClient, clock, geo, fresh) -> None:
    london, changchun = "81.2.69.10", "175.16.199.20"
    ingest(admin_api, "web01", "sshd", [sshd_failure(clock.now(), C)])  # older than a day below
    clock.advance(days=2)
    fresh()
    now = clock.now() - timedelta(seconds=30)
    ingest(admin_api, "web01", "sshd", [sshd_failure(now, london) for _ in range(4)])
    ingest(admin_api, "fw-1", "sophos-xgs", [xgs_waf(now, changchun), xgs_waf(now, changchun), xgs_ips(now, A)])
    ingest(admin_api, "fw-1", "sophos-xgs", [xgs_firewall(now, "192.0.2.20", "LAN", "WAN", allowed=True)])
    admin_api.post("/api/v1/bans", json={"ip": changchun, "duration": "1h"})
    answer = admin_api.get("/api/v1/stats/top-attackers").json()
    assert answer["data"] == [
        {"ip": london, "count": 4, "country": "GB", "banned": False},
        {"ip": changchun, "count": 2, "country": "CN", "banned": True},
        {"ip": A, "count": 1, "country": None, "banned": False},
    ], "allowed traffic is not an attacker; documentation addresses have no country"
    assert answer["meta"]["days"] == 1
    assert [r["ip"] for r in data(admin_api.get("/api/v1/stats/top-attackers", query={"limit": 1}))] == [london]
    week = data(admin_api.get("/api/v1/stats/top-attackers", query={"days": 7}))
    assert {"ip": C, "count": 1, "country": None, "banned": False} in week
    assert data(admin_api.get("/api/v1/stats/overview"))["by_country"] == {"GB": 4, "CN": 2}
    for bad in ({"days": 0}, {"days": 31}, {"limit": 101}):
        assert admin_api.get("/api/v1/stats/top-attackers", query=bad).status == 400, bad


def test_top_targets(admin_api: ApiClient, clock) -> None:
    now = clock.now() - timedelta(seconds=30)
    ingest(
        admin_api,
        "web01",
        "sshd",
        [sshd_failure(now, A, user=u) for u in ("root", "root", "oracle", "root", "admin")][:4],
    )
    ingest(admin_api, "web02", "sshd", [sshd_failure(now, B, user="admin", host="web02")])
    ingest(admin_api, "fw-1", "sophos-xgs", [xgs_waf(now, C), xgs_waf(now, D)])
    targets = data(admin_api.get("/api/v1/stats/top-targets"))
    assert targets["hostnames"] == [
        {"hostname": "web01", "count": 4},
        {"hostname": "shop.example.com", "count": 2},
        {"hostname": "web02", "count": 1},
    ]
    assert targets["usernames"] == [
        {"username": "root", "count": 3},
        {"username": "oracle", "count": 1},
        {"username": "admin", "count": 1},
    ]
    assert targets["sensors"] == [
        {"sensor": "web01", "count": 4},
        {"sensor": "fw-1", "count": 2},
        {"sensor": "web02", "count": 1},
    ]
    limited = data(admin_api.get("/api/v1/stats/top-targets", query={"limit": 1}))
    assert limited["hostnames"] == [{"hostname": "web01", "count": 4}] and len(limited["usernames"]) == 1


def test_zone_traffic_from_sophos_records(admin_api: ApiClient, clock, fresh) -> None:
    ingest(admin_api, "fw-1", "sophos-xgs", [xgs_firewall(clock.now(), C, "WAN", "VPN")])  # three days ago
    clock.advance(days=3)
    fresh()
    now = clock.now() - timedelta(seconds=30)
    lines = [
        xgs_firewall(now, C, "WAN", "DMZ"),
        xgs_firewall(now, D, "WAN", "DMZ"),
        xgs_firewall_legacy(now, E, "WAN", "DMZ"),  # SFOS 18.5 names its zones srczone/dstzone
        xgs_firewall(now, "192.0.2.20", "LAN", "WAN", allowed=True),
        xgs_firewall(now, "192.0.2.21", "LAN", "WAN", allowed=True),
        xgs_firewall(now, B, "WAN", "LAN"),
    ]
    ingest(admin_api, "fw-1", "sophos-xgs", lines)
    ingest(admin_api, "web01", "sshd", [sshd_failure(now, A)])  # no zones: not counted
    answer = admin_api.get("/api/v1/stats/zone-traffic").json()
    assert answer["data"] == [
        {"src_zone": "WAN", "dst_zone": "DMZ", "count": 3},
        {"src_zone": "LAN", "dst_zone": "WAN", "count": 2},
        {"src_zone": "WAN", "dst_zone": "LAN", "count": 1},
    ]
    assert answer["meta"]["days"] == 1
    week = data(admin_api.get("/api/v1/stats/zone-traffic", query={"days": 7}))
    assert {"src_zone": "WAN", "dst_zone": "VPN", "count": 1} in week


# /status/syslog and /alerts/critical
def test_syslog_status_follows_each_sensor(admin_api: ApiClient, clock, fresh) -> None:
    empty = data(admin_api.get("/api/v1/status/syslog"))
    assert empty == {"sensors": [], "active": 0, "total": 0, "last_event_at": None}
    ingest(admin_api, "fw-1", "sophos-xgs", [xgs_waf(clock.now(), B), xgs_waf(clock.now(), C)])  # 10:00
    clock.advance(minutes=10)
    fresh()
    ingest(admin_api, "web01", "sshd", [sshd_failure(clock.now(), A)], hostname="web01.example.com")  # 10:10
    status = data(admin_api.get("/api/v1/status/syslog"))
    assert [s["vm_id"] for s in status["sensors"]] == ["web01", "fw-1"], "most recent first"
    assert status["active"] == 2 and status["total"] == 2 and status["last_event_at"] == "2026-11-24T10:10:00Z"
    web01 = status["sensors"][0]
    assert web01["hostname"] == "web01.example.com" and web01["events_received"] == 1
    assert status["sensors"][1]["events_received"] == 2
    clock.advance(minutes=6)  # fw-1 silent for 16 minutes, web01 for 6
    fresh()
    later = data(admin_api.get("/api/v1/status/syslog"))
    assert {s["vm_id"]: s["status"] for s in later["sensors"]} == {"web01": "active", "fw-1": "inactive"}
    assert later["active"] == 1 and later["total"] == 2


def test_critical_alerts(admin_api: ApiClient, clock) -> None:
    # A monitor whitelist entry turns what the scenarios decide about this address into alerts.
    created = admin_api.post("/api/v1/whitelist", json={"ip": A, "type": "monitor", "reason": "partner scanner"})
    assert created.status == 201
    assert data(admin_api.get("/api/v1/alerts/critical")) == []
    now = clock.now() - timedelta(minutes=1)
    result = ingest(
        admin_api, "web01", "sshd", [sshd_failure(now + timedelta(seconds=i), A, user=f"u{i}") for i in range(10)]
    )
    assert result["decisions"] == [] and result["alerts"] >= 2
    assert data(admin_api.get("/api/v1/bans")) == [], "monitored: nothing banned"
    answer = admin_api.get("/api/v1/alerts/critical").json()
    alerts = answer["data"]
    # Three scenarios spoke: ssh-bruteforce and user-enumeration (high), login-failures-threshold (medium).
    assert sorted(a["scenario"] for a in alerts) == ["ssh-bruteforce", "user-enumeration"], "medium is not critical"
    ssh = next(a for a in alerts if a["scenario"] == "ssh-bruteforce")
    assert set(ssh) == {"id", "ip", "scenario", "reason", "severity", "count", "at"}
    assert ssh["ip"] == A and ssh["severity"] == "high" and ssh["count"] == 10 and ssh["at"] == "2026-11-24T10:00:00Z"
    assert ssh["reason"] == f"10 failed logins in 10m from {A} (sshd)"
    assert answer["meta"]["total"] == 2
    assert admin_api.get("/api/v1/alerts/critical", query={"days": 31}).status == 400


# /track-ip
def test_track_an_address(admin_api: ApiClient, clock, fresh) -> None:
    ingest(admin_api, "web01", "sshd", [sshd_failure(clock.now() - timedelta(minutes=1), A, user="root")])
    clock.advance(days=2)
    fresh()
    now = clock.now() - timedelta(minutes=1)
    ingest(admin_api, "web02", "sshd", [sshd_failure(now, A, user="oracle", host="web02")])
    ingest(admin_api, "fw-1", "sophos-xgs", [xgs_waf(now, A)])
    ingest(admin_api, "web01", "sshd", [sshd_failure(now, B)])  # someone else
    admin_api.post("/api/v1/bans", json={"ip": A, "duration": "2h", "reason": "forensics"})
    answer = admin_api.get("/api/v1/track-ip", query={"query": A}).json()["data"]
    assert (answer["query"], answer["type"], answer["days"]) == (A, "ip", 30)
    [found] = answer["results"]
    assert found["ip"] == A and found["event_count"] == 3 and len(found["events"]) == 3
    assert {e["source_ip"] for e in found["events"]} == {A}
    assert found["first_seen"] == "2026-11-24T09:59:00Z" and found["last_seen"] == "2026-11-26T09:59:00Z"
    assert found["sensors"] == ["fw-1", "web01", "web02"] and found["usernames"] == ["oracle", "root"]
    assert found["by_kind"] == {"auth_failure": 2, "waf_block": 1}
    assert found["timeline"] == [{"date": "2026-11-24", "count": 1}, {"date": "2026-11-26", "count": 2}]
    assert found["decisions"]["banned"] is True
    assert found["decisions"]["bans"][0]["network"] == f"{A}/32" and found["decisions"]["bans"][0]["until"] == (
        "2026-11-26T12:00:00Z"
    )
    assert [h["action"] for h in found["history"]] == ["issued"]
    assert found["geo"] is None, "documentation addresses are not located"
    recent = admin_api.get("/api/v1/track-ip", query={"query": A, "days": 1}).json()["data"]["results"][0]
    assert recent["event_count"] == 2 and recent["first_seen"] == "2026-11-26T09:59:00Z"


def test_track_an_address_of_several_spellings(admin_api: ApiClient, clock) -> None:
    ingest(admin_api, "web01", "sshd", [sshd_failure(clock.now() - timedelta(seconds=5), "2001:db8::10")])
    found = data(admin_api.get("/api/v1/track-ip", query={"query": "2001:DB8:0::10"}))["results"][0]
    assert found["event_count"] == 1 and found["ip"] == "2001:db8::10"


def test_track_a_hostname(admin_api: ApiClient, clock) -> None:
    # `localhost` resolves without a network (the hosts file); a sensor's own loopback traffic is an event too.
    ingest(admin_api, "web01", "sshd", [sshd_failure(clock.now() - timedelta(seconds=s), "127.0.0.1") for s in (5, 6)])
    answer = data(admin_api.get("/api/v1/track-ip", query={"query": "localhost", "type": "hostname"}))
    assert answer["query"] == "localhost" and answer["type"] == "hostname"
    loopback = next(r for r in answer["results"] if r["ip"] == "127.0.0.1")
    assert loopback["event_count"] == 2 and loopback["sensors"] == ["web01"]
    # `.invalid` is reserved never to resolve (RFC 6761).
    missing = admin_api.get("/api/v1/track-ip", query={"query": "no-such-host.invalid", "type": "hostname"})
    assert missing.status == 404 and "does not resolve" in missing.json()["error"]["message"]


def test_track_refusals(admin_api: ApiClient) -> None:
    assert admin_api.get("/api/v1/track-ip", query={"query": "not-an-ip"}).status == 400
    assert admin_api.get("/api/v1/track-ip").status == 400
    assert admin_api.get("/api/v1/track-ip", query={"query": A, "type": "asn"}).status == 400
    assert admin_api.get("/api/v1/track-ip", query={"query": A, "days": 91}).status == 400
    bad_name = admin_api.get("/api/v1/track-ip", query={"query": "ex..ample.com", "type": "hostname"})
    assert bad_name.status == 400, "a name IDNA refuses is the caller's mistake, not a server error"


# /parser
def test_parser_stats(admin_api: ApiClient, clock) -> None:
    now = clock.now() - timedelta(seconds=30)
    ingest(admin_api, "web01", "sshd", [sshd_failure(now, A), sshd_failure(now, B)])
    ingest(admin_api, "fw-1", "sophos-xgs", [xgs_waf(now, C)])
    stats = data(admin_api.get("/api/v1/parser/stats"))
    assert stats["formats"] == ["sshd", "windows-4625", "sophos-xgs", "modsecurity", "nginx", "apache", "syslog"]
    assert stats["events_24h"] == 3
    assert stats["by_log_type"] == {"AUTH": 2, "WAF": 1}
    assert stats["by_kind"] == {"auth_failure": 2, "waf_block": 1}


def test_parser_fields_rules_and_mitre(admin_api: ApiClient) -> None:
    fields = data(admin_api.get("/api/v1/parser/fields"))
    assert set(fields) == {"sshd", "windows-4625", "sophos-xgs", "modsecurity", "nginx", "apache", "syslog"}
    assert {"source_ip", "username"} <= set(fields["sshd"])
    assert {"fields.src_zone", "fields.dst_zone"} <= set(fields["sophos-xgs"])
    rules = admin_api.get("/api/v1/parser/rules").json()
    assert rules["meta"]["total"] == len(rules["data"]) > 0
    assert {r["format"] for r in rules["data"]} <= set(fields)
    for rule in rules["data"]:
        assert set(rule) == {"format", "name", "pattern", "kind", "mitre"}
    invalid_user = next(r for r in rules["data"] if r["format"] == "sshd" and r["name"] == "invalid-user")
    assert invalid_user["kind"] == "invalid_user" and "T1110" in invalid_user["mitre"]
    mitre = admin_api.get("/api/v1/parser/mitre").json()
    by_id = {m["technique"]: m for m in mitre["data"]}
    assert mitre["meta"]["total"] == len(by_id)
    assert by_id["T1110"]["name"] == "Brute Force" and "sshd" in by_id["T1110"]["formats"]
    assert "sophos-xgs" in by_id["T1190"]["formats"] and "waf_block" in by_id["T1190"]["kinds"]
    assert by_id["T1110.003"]["source"] == "detection" and by_id["T1110"]["source"] == "parser"


def test_parser_test_shows_what_each_line_becomes(admin_api: ApiClient, clock) -> None:
    when = clock.now() - timedelta(seconds=30)
    response = admin_api.post(
        "/api/v1/parser/test", json={"format": "sshd", "lines": [sshd_failure(when, A, user="oracle"), "hello"]}
    )
    answer = response.json()
    assert response.status == 200
    assert answer["meta"]["matched"] == 1 and answer["meta"]["total"] == 2
    matched, unmatched = answer["data"]
    assert matched["matched"] is True and matched["line"].endswith("ssh2")
    assert matched["event"]["source_ip"] == A and matched["event"]["username"] == "oracle"
    assert matched["event"]["kind"] == "auth_failure" and matched["event"]["time"] == "2026-11-24T09:59:30Z"
    assert unmatched == {"line": "hello", "matched": False, "event": None}
    zones = data(
        admin_api.post(
            "/api/v1/parser/test", json={"format": "sophos-xgs", "lines": [xgs_firewall(when, C, "WAN", "DMZ")]}
        )
    )
    assert zones[0]["event"]["fields"]["src_zone"] == "WAN" and zones[0]["event"]["fields"]["dst_zone"] == "DMZ"
    year = data(
        admin_api.post("/api/v1/parser/test", json={"format": "sshd", "lines": [sshd_failure(when, A)], "year": 2024})
    )
    assert year[0]["event"]["time"] == "2024-11-24T09:59:30Z", "classic syslog stamps take the given year"
    paris = {"format": "sshd", "lines": [sshd_failure(when, A)], "timezone": "Europe/Paris"}
    local = data(admin_api.post("/api/v1/parser/test", json=paris))
    assert local[0]["event"]["time"] == "2026-11-24T08:59:30Z", "and the given timezone (09:59:30 in Paris)"
    assert data(admin_api.get("/api/v1/events")) == [], "nothing is stored"


def test_parser_test_refusals(admin_api: ApiClient, container) -> None:
    unknown = admin_api.post("/api/v1/parser/test", json={"format": "qradar", "lines": ["x"]})
    assert unknown.status == 400 and "qradar" in unknown.json()["error"]["message"]
    assert admin_api.post("/api/v1/parser/test", json={"format": "sshd", "lines": []}).status == 400
    assert admin_api.post("/api/v1/parser/test", json={"format": "sshd"}).status == 400
    assert admin_api.post("/api/v1/parser/test", json={"format": "sshd", "lines": ["x"] * 201}).status == 400
    mars = admin_api.post("/api/v1/parser/test", json={"format": "sshd", "lines": ["x"], "timezone": "Mars/Olympus"})
    assert mars.status == 400 and "Mars/Olympus" in mars.text
    viewer = token_for(container, make_user(container, "viewer"))
    ok = admin_api.post("/api/v1/parser/test", json={"format": "sshd", "lines": ["x"]}, token=viewer)
    assert ok.status == 200, "a viewer may try the parsers"


def test_reading_routes_need_a_login(api: ApiClient) -> None:
    for path in (
        "/api/v1/events",
        "/api/v1/events/timeline",
        "/api/v1/events/hostnames",
        "/api/v1/stats/overview",
        "/api/v1/stats/top-attackers",
        "/api/v1/stats/top-targets",
        "/api/v1/stats/zone-traffic",
        "/api/v1/status/syslog",
        "/api/v1/alerts/critical",
        "/api/v1/parser/stats",
        "/api/v1/parser/fields",
        "/api/v1/parser/rules",
        "/api/v1/parser/mitre",
    ):
        response = api.get(path)
        assert response.status == 401 and response.json()["error"]["code"], path


def test_a_window_in_the_past_finds_events_that_arrived_late(admin_api: ApiClient, clock) -> None:
    ingest(admin_api, "web01", "sshd", [sshd_failure(clock.now() - timedelta(hours=3), A)])  # 07:00, shipped at 10:00
    assert len(data(admin_api.get("/api/v1/events", query={"src_ip": A}))) == 1, "the address's partition has it"
    window = {"start_time": "2026-11-24T06:00:00Z", "end_time": "2026-11-24T08:00:00Z"}
    assert [e["source_ip"] for e in data(admin_api.get("/api/v1/events", query=window))] == [A]
