"""Ingest end to end: `POST /api/v1/ingest` (and seed 002's `POST /api/v1/events`) through the wired container.

Raw lines of every format become stored events (with the sensor and GeoIP fields), statistics and an S3 archive;
a retried batch id is a no-op; a storage failure after acceptance goes to the retry queue and is stored when the
queue is delivered; unknown sensors, trusted networks and size limits behave as configured; and detection acts
on what was ingested (bans, whitelist, alerts, the engine switch, the geo-zone policy, pending bans).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib.core.clock import iso
from chalicelib.core.deps import Container, set_container
from devstack.bootstrap import create_tables, names_from
from tests.support.aws import count_requests
from tests.support.client import ApiClient
from tests.support.identity import token_for
from tests.support.queue import deliver

US = "8.8.8.8"  # United States in the embedded 2018 GeoLite2
US_2 = "8.8.4.4"
CN = "114.114.114.114"  # China, Nanjing
RU = "77.88.8.8"  # Russia
PRIVATE = "10.20.30.40"
DOC = "203.0.113.66"  # documentation range: not global, so no geography either


def sshd_failure(when: datetime, ip: str, user: str = "root", port: int = 50000) -> str:
    """An OpenSSH `Failed password` line as auth.log writes it (classic syslog stamp, no year)."""
    stamp = f"{when:%b} {when.day:>2} {when:%H:%M:%S}"
    return f"{stamp} web01 sshd[4242]: Failed password for {user} from {ip} port {port} ssh2"


def sshd_pam_echo(when: datetime, ip: str, user: str = "root") -> str:
    """pam_unix's line for the same attempt (one attempt, two lines)."""
    return (
        f"{when:%b} {when.day:>2} {when:%H:%M:%S} web01 sshd[4242]: pam_unix(sshd:auth): authentication failure; "
        f"logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={user}"
    )


def failures(clock, ip: str, count: int, *, spacing: int = 30, user: str = "root") -> list[str]:
    """`count` sshd failures from `ip`, `spacing` seconds apart, the last one now."""
    return [sshd_failure(clock.now() - timedelta(seconds=spacing * (count - 1 - i)), ip, user) for i in range(count)]


def ingest(api: ApiClient, lines: list, *, sensor: str = "web01", fmt: str = "sshd", **body: Any):
    return api.post("/api/v1/ingest", json={"sensor": sensor, "format": fmt, "lines": lines, **body})


def events_of(api: ApiClient, **query: Any) -> list[dict[str, Any]]:
    response = api.get("/api/v1/events", query={"limit": 1000, **query})
    assert response.status == 200, response.text
    return response.json()["data"]


@pytest.fixture
def rebuild(settings, clock, aws) -> Callable[..., Container]:
    """Install a container built like conftest's, with some settings changed."""

    def build(**changes: Any) -> Container:
        container = Container(settings.model_copy(update=changes), clock=clock, aws=aws)
        set_container(container)
        return container

    return build


# formats
SAMPLES: dict[str, tuple[list[str], dict[str, str]]] = {
    # format: (lines: one security event and one line that is none, what the event is)
    "sshd": (
        [
            "Nov 24 09:58:01 web01 sshd[1234]: Failed password for root from 61.177.172.10 port 51234 ssh2",
            "Nov 24 09:58:03 web01 sshd[1234]: Server listening on 0.0.0.0 port 22.",
        ],
        {"source_ip": "61.177.172.10", "kind": "auth_failure", "log_type": "AUTH", "username": "root"},
    ),
    "windows-4625": (
        [
            json.dumps(
                {
                    "EventID": 4625,
                    "TimeCreated": "2026-11-24T09:58:00Z",
                    "IpAddress": RU,
                    "TargetUserName": "Administrator",
                    "LogonType": 10,
                    "Status": "0xc000006d",
                    "SubStatus": "0xc000006a",
                    "Computer": "WIN-VM01",
                }
            ),
            json.dumps({"EventID": 4688, "TimeCreated": "2026-11-24T09:58:00Z", "NewProcessName": "notepad.exe"}),
        ],
        {"source_ip": RU, "kind": "auth_failure", "log_type": "AUTH", "service": "rdp", "username": "Administrator"},
    ),
    "sophos-xgs": (
        [
            'device="SFW" date=2026-11-24 time=09:58:00 timezone="UTC" device_name="XGS2100" log_id=010102600002 '
            'log_type="Firewall" log_component="Firewall Rule" log_subtype="Denied" status="Deny" fw_rule_id=5 '
            'src_ip=5.45.0.1 dst_ip=192.0.2.10 protocol="TCP" src_port=51515 dst_port=3389 srczone="WAN" dstzone="DMZ"',
            'device="SFW" date=2026-11-24 time=09:58:01 timezone="UTC" device_name="XGS2100" log_id=062910617701 '
            'log_type="Event" log_component="GUI" log_subtype="Admin" status="Successful" '
            'message="User admin logged in"',
        ],
        {"source_ip": "5.45.0.1", "kind": "firewall_drop", "log_type": "FIREWALL", "hostname": "XGS2100"},
    ),
    "modsecurity": (
        [
            json.dumps(
                {
                    "transaction": {
                        "client_ip": "195.154.1.1",
                        "time_stamp": "Tue Nov 24 09:58:00 2026",
                        "client_port": 51000,
                        "host_port": 443,
                        "unique_id": "abc.1",
                        "request": {"method": "GET", "uri": "/item.php?id=1'+or+1=1--", "headers": {"Host": "shop"}},
                        "response": {"http_code": 403},
                        "messages": [
                            {
                                "message": "SQL Injection Attack Detected via libinjection",
                                "details": {"ruleId": "942100", "severity": "2", "tags": ["attack-sqli"]},
                            }
                        ],
                    }
                }
            ),
            "ModSecurity: not a JSON audit record",
        ],
        {"source_ip": "195.154.1.1", "kind": "waf_block", "log_type": "WAF", "rule_id": "942100"},
    ),
    "nginx": (
        ['46.4.1.1 - - [24/Nov/2026:09:58:00 +0000] "GET /.env HTTP/1.1" 404 153 "-" "curl/8.5.0"', "-- garbage --"],
        {"source_ip": "46.4.1.1", "kind": "http_request", "log_type": "HTTP", "uri": "/.env"},
    ),
    "apache": (
        [
            '200.160.2.3 - - [24/Nov/2026:09:58:00 +0000] "GET /phpmyadmin/index.php HTTP/1.1" 404 196 "-" "zgrab/0.x"',
            "[Tue Nov 24 09:58:00 2026] [notice] Apache configured -- resuming normal operations",
        ],
        {"source_ip": "200.160.2.3", "kind": "http_request", "log_type": "HTTP", "uri": "/phpmyadmin/index.php"},
    ),
    "syslog": (
        [
            "Nov 24 09:58:01 mx1 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<info>, "
            "method=PLAIN, rip=89.160.20.112, lip=192.0.2.25, TLS, session=<AbCdEf>",
            "Nov 24 09:58:02 mx1 CRON[999]: (root) CMD (run-parts /etc/cron.hourly)",
        ],
        {"source_ip": "89.160.20.112", "kind": "auth_failure", "log_type": "AUTH", "service": "dovecot"},
    ),
}


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_each_format_becomes_stored_events(admin_api: ApiClient, fmt: str) -> None:
    lines, expected = SAMPLES[fmt]
    response = ingest(admin_api, lines, sensor=f"sensor-{fmt}", fmt=fmt)
    assert response.status == 200, response.text
    result = response.json()["data"]
    assert (result["accepted"], result["ignored"], result["rejected"]) == (1, 1, [])
    assert result["duplicate"] is False and result["queued"] is False
    stored = events_of(admin_api, sensor=f"sensor-{fmt}")
    assert len(stored) == 1
    assert {k: stored[0].get(k) for k in expected} == expected
    assert stored[0]["sensor"] == f"sensor-{fmt}" and stored[0]["time"] == "2026-11-24T09:58:0" + stored[0]["time"][-2:]
    assert stored[0]["raw"] == lines[0]
    assert admin_api.get(f"/api/v1/events/{stored[0]['id']}").json()["data"]["id"] == stored[0]["id"]


def test_ignored_and_rejected_items_are_counted_and_reported_by_index(admin_api: ApiClient, clock) -> None:
    lines = [
        sshd_failure(clock.now(), US),
        "Nov 24 09:59:00 web01 sshd[1]: Connection closed by authenticating user root 192.0.2.9 port 1 [preauth]x",
        42,
        sshd_failure(clock.now() + timedelta(hours=2), US),  # two hours in the future: a broken clock
        None,
        "",
        sshd_failure(clock.now(), US, "admin"),
    ]
    result = ingest(admin_api, lines).json()["data"]
    assert result["accepted"] == 2
    assert [r["index"] for r in result["rejected"]] == [2, 3, 4]
    assert result["ignored"] == len(lines) - 2 - 3
    assert "future" in result["rejected"][1]["error"]
    assert sorted(e["username"] for e in events_of(admin_api, sensor="web01")) == ["admin", "root"]


def test_decembers_lines_posted_in_january_are_last_years(admin_api: ApiClient, clock, container, admin) -> None:
    """An agent catching up on New Year's night: the stamps say no year, and December's are not the future."""
    clock.set("2027-01-01T00:00:05+00:00")
    admin_api.token = token_for(container, admin)  # a token of the new year's night
    lines = [sshd_failure(datetime(2026, 12, 31, 23, 59, 58), US), sshd_failure(datetime(2027, 1, 1, 0, 0, 1), US)]
    result = ingest(admin_api, lines).json()["data"]
    assert result["accepted"] == 2 and result["rejected"] == []
    times = sorted(event["time"] for event in events_of(admin_api, sensor="web01"))
    assert times == ["2026-12-31T23:59:58Z", "2027-01-01T00:00:01Z"]


def test_lines_in_the_sensors_local_time_are_read_in_its_timezone(admin_api: ApiClient, clock) -> None:
    """rsyslog writes the host's local time without a zone; the agent says which (`timezone`)."""
    paris = "Nov 24 11:00:00 web01 sshd[1]: Failed password for root from 8.8.8.8 port 1 ssh2"  # 10:00 UTC
    refused = ingest(admin_api, [paris]).json()["data"]  # read as UTC, it is an hour ahead
    assert refused["accepted"] == 0 and "future" in refused["rejected"][0]["error"]
    for zone, sensor in (("Europe/Paris", "paris"), ("+01:00", "offset")):
        result = ingest(admin_api, [paris], timezone=zone, sensor=sensor).json()["data"]
        assert result["accepted"] == 1, result
        assert [event["time"] for event in events_of(admin_api, sensor=sensor)] == ["2026-11-24T10:00:00Z"]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "+25:00", "../../etc/passwd", ""])
def test_an_unknown_timezone_is_refused_and_nothing_is_stored(admin_api: ApiClient, clock, zone: str) -> None:
    response = ingest(admin_api, failures(clock, US, 1), timezone=zone, sensor="tz-test")
    assert response.status == 400, response.text
    assert "timezone" in response.text
    assert events_of(admin_api, sensor="tz-test") == []


def test_structured_events_are_checked_one_by_one(admin_api: ApiClient, clock) -> None:
    good = {
        "time": iso(clock.now()),
        "source_ip": US,
        "kind": "waf_block",
        "service": "sophos-waf",
        "log_type": "WAF",
        "severity": "high",
        "uri": "/admin",
    }
    events = [good, {**good, "kind": "teleport"}, "nope", {**good, "time": "yesterday"}, {**good, "uri": "/x"}]
    response = admin_api.post("/api/v1/ingest", json={"sensor": "waf01", "events": events})
    result = response.json()["data"]
    assert result["accepted"] == 2 and [r["index"] for r in result["rejected"]] == [1, 2, 3]
    assert "teleport" in result["rejected"][0]["error"]
    assert sorted(e["uri"] for e in events_of(admin_api, sensor="waf01")) == ["/admin", "/x"]


def test_whole_batch_errors(admin_api: ApiClient, clock) -> None:
    line = sshd_failure(clock.now(), US)
    no_format = admin_api.post("/api/v1/ingest", json={"sensor": "web01", "lines": [line]})
    assert no_format.status == 400 and "format" in no_format.json()["error"]["message"]
    unknown = ingest(admin_api, [line], fmt="cobol")
    assert unknown.status == 400 and "cobol" in unknown.json()["error"]["message"]
    assert admin_api.post("/api/v1/ingest", json={"sensor": "web01", "format": "sshd"}).status == 400, "empty"
    assert admin_api.post("/api/v1/ingest", json={"format": "sshd", "lines": [line]}).status == 400, "no sensor"
    assert ingest(admin_api, [line], sensor="bad sensor!").status == 400
    assert ingest(admin_api, [line], colour="blue").status == 400, "unknown fields are refused"
    assert events_of(admin_api) == []


def test_a_batch_refused_as_a_whole_leaves_its_batch_id_free(admin_api: ApiClient, clock) -> None:
    """The agent fixes its format and sends the same batch id again: it must run, not be held as in progress."""
    line = sshd_failure(clock.now(), US)
    assert ingest(admin_api, [line], fmt="ssh", batch_id="b-1").status == 400
    fixed = ingest(admin_api, [line], batch_id="b-1")
    assert fixed.status == 200, fixed.text
    assert fixed.json()["data"]["accepted"] == 1 and fixed.json()["data"]["duplicate"] is False


# idempotency
def test_a_retried_batch_id_answers_the_first_answer_and_stores_nothing_twice(admin_api: ApiClient, clock) -> None:
    lines = [*failures(clock, US, 3), "not a log line", 7]
    first = ingest(admin_api, lines, batch_id="web01-000123")
    assert first.status == 200
    again = ingest(admin_api, lines, batch_id="web01-000123")
    assert again.status == 200
    one, two = first.json()["data"], again.json()["data"]
    assert one["duplicate"] is False and two["duplicate"] is True
    assert {**two, "duplicate": False} == one, "the first answer, as it was"
    assert len(events_of(admin_api, sensor="web01")) == 3
    overview = admin_api.get("/api/v1/stats/overview").json()["data"]
    assert overview["failed_logins_24h"] == 3 and overview["events_24h"] == 3
    assert admin_api.get("/api/v1/statistics").json()["data"]["total_failed_attempts"] == 3
    sensor = next(s for s in admin_api.get("/api/v1/vms").json()["data"] if s["vm_id"] == "web01")
    assert sensor["events_received"] == 3
    other_sensor = ingest(admin_api, lines, sensor="web02", batch_id="web01-000123").json()["data"]
    assert other_sensor["duplicate"] is False, "batch ids are per sensor"


# enrichment
def test_events_carry_the_sensor_and_geography_of_public_addresses(admin_api: ApiClient, clock) -> None:
    lines = [sshd_failure(clock.now(), ip) for ip in (US, CN, PRIVATE, DOC)]
    ingest(admin_api, lines, sensor="edge-1", hostname="bastion")
    stored = {e["source_ip"]: e for e in events_of(admin_api, sensor="edge-1")}
    assert stored[US]["country"] == "US" and stored[US]["country_name"] == "United States"
    assert stored[US]["lat"] == pytest.approx(37.751) and stored[US]["lng"] == pytest.approx(-97.822)
    assert stored[CN]["country"] == "CN" and stored[CN]["city"] == "Nanjing"
    for private in (PRIVATE, DOC):
        assert not {"country", "country_name", "city", "lat", "lng"} & set(stored[private]), private
    assert {e["sensor"] for e in stored.values()} == {"edge-1"}
    assert {e["hostname"] for e in stored.values()} == {"web01"}, "the line's own host name wins over the batch's"
    by_country = admin_api.get("/api/v1/stats/overview").json()["data"]["by_country"]
    assert by_country == {"US": 1, "CN": 1}


def test_the_raw_archive_is_gzip_json_lines_partitioned_by_day_and_sensor(
    admin_api: ApiClient, aws, settings, clock
) -> None:
    lines = [*failures(clock, US, 2), sshd_failure(clock.now() - timedelta(days=1), CN)]
    ingest(admin_api, lines, sensor="web01", batch_id="arch-1")
    s3 = aws.client("s3")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=settings.bucket, Prefix="archive/")["Contents"])
    assert keys == [
        "archive/events/dt=2026-11-23/sensor=web01/arch-1.jsonl.gz",
        "archive/events/dt=2026-11-24/sensor=web01/arch-1.jsonl.gz",
    ]
    body = s3.get_object(Bucket=settings.bucket, Key=keys[1])["Body"].read()
    rows = [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
    assert [r["source_ip"] for r in rows] == [US, US]
    assert all(r["sensor"] == "web01" and r["batch"] == "arch-1" and r["raw"].startswith("Nov 24") for r in rows)
    assert rows[0]["time"] == iso(clock.now() - timedelta(seconds=30)) and rows[0]["country"] == "US"


# storage failure and the retry queue
def test_a_storage_failure_after_acceptance_is_queued_then_stored_once(
    admin_api: ApiClient, aws, settings, clock
) -> None:
    lines = [*failures(clock, US, 3), sshd_pam_echo(clock.now(), US)]
    aws.client("dynamodb").delete_table(TableName=settings.events_table)
    response = ingest(admin_api, lines, batch_id="q-1")
    assert response.status == 202, response.text
    result = response.json()["data"]
    assert result["queued"] is True and result["accepted"] == 4
    retried = ingest(admin_api, lines, batch_id="q-1")
    assert retried.json()["data"]["queued"] is True and retried.json()["data"]["duplicate"] is True

    create_tables(aws, names_from(settings))
    assert deliver(aws, settings.ingest_retry_queue, "retry_ingest") == 1
    stored = events_of(admin_api, sensor="web01")
    assert len(stored) == 4
    assert sorted(e.get("attempt") for e in stored if e.get("fields", {}).get("source") != "pam") == [1, 2, 3]
    assert admin_api.get("/api/v1/statistics").json()["data"]["total_failed_attempts"] == 3, "counted once"
    assert admin_api.get("/api/v1/stats/overview").json()["data"]["events_24h"] == 4
    assert deliver(aws, settings.ingest_retry_queue, "retry_ingest") == 0, "the message is gone"
    sensor = next(s for s in admin_api.get("/api/v1/vms").json()["data"] if s["vm_id"] == "web01")
    assert sensor["events_received"] == 4


def test_seed_002_events_are_queued_too(admin_api: ApiClient, aws, settings, clock) -> None:
    aws.client("dynamodb").delete_table(TableName=settings.events_table)
    record = {"timestamp": iso(clock.now()), "ip_address": US, "username": "admin", "logon_type": "10"}
    response = admin_api.post("/api/v1/events", json={"vm_id": "vm-001", "events": [record]})
    assert response.status == 200 and response.json()["queued"] is True and response.json()["events_received"] == 1
    create_tables(aws, names_from(settings))
    deliver(aws, settings.ingest_retry_queue, "retry_ingest")
    assert [e["username"] for e in events_of(admin_api, sensor="vm-001")] == ["admin"]


def test_when_the_retry_queue_fails_too_the_batch_is_refused_and_its_id_released(
    admin_api: ApiClient, aws, settings, clock
) -> None:
    lines = failures(clock, US, 2)
    aws.client("dynamodb").delete_table(TableName=settings.events_table)
    sqs = aws.client("sqs")
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=settings.ingest_retry_queue)["QueueUrl"])
    refused = ingest(admin_api, lines, batch_id="lost-1")
    assert refused.status == 503, refused.text
    create_tables(aws, names_from(settings))
    again = ingest(admin_api, lines, batch_id="lost-1")
    assert again.status == 200 and again.json()["data"]["duplicate"] is False, "the agent's retry runs"
    assert len(events_of(admin_api, sensor="web01")) == 2


# sensors
def test_unknown_sensors_are_registered_on_first_batch(admin_api: ApiClient, clock) -> None:
    ingest(admin_api, failures(clock, US, 1), sensor="new-box", hostname="new-box.example.com")
    sensor = next(s for s in admin_api.get("/api/v1/vms").json()["data"] if s["vm_id"] == "new-box")
    assert sensor["status"] == "active" and sensor["hostname"] == "new-box.example.com"
    assert sensor["events_received"] == 1 and sensor["collection_method"] == "agent"


def test_unknown_sensors_are_refused_when_auto_registration_is_off(admin_api: ApiClient, rebuild, clock) -> None:
    rebuild(ingest_auto_register=False)
    refused = ingest(admin_api, failures(clock, US, 1), sensor="stranger")
    assert refused.status == 400 and refused.json()["error"]["code"] == "UNKNOWN_SENSOR"
    assert admin_api.post("/api/v1/vms", json={"vm_id": "stranger", "hostname": "s1"}).status == 200
    assert ingest(admin_api, failures(clock, US, 1), sensor="stranger").json()["data"]["accepted"] == 1
    assert [e["sensor"] for e in events_of(admin_api)] == ["stranger"]


# authentication
def test_trusted_networks_may_post_events_without_credentials_and_nothing_else(api: ApiClient, rebuild, clock) -> None:
    rebuild(ingest_trusted_cidrs=["198.51.100.0/24"])
    record = {"timestamp": iso(clock.now()), "ip_address": US, "username": "admin"}
    body = {"vm_id": "vm-001", "events": [record]}
    trusted = api.post("/api/v1/events", json=body, source_ip="198.51.100.7")
    assert trusted.status == 200 and trusted.json()["events_received"] == 1
    raw = {"sensor": "web01", "format": "sshd", "lines": failures(clock, US, 1)}
    assert api.post("/api/v1/ingest", json=raw, source_ip="198.51.100.7").status == 200
    for path in ("/api/v1/events", "/api/v1/statistics", "/api/v1/vms", "/api/v1/feed", "/api/v1/bans"):
        assert api.get(path, source_ip="198.51.100.7").status == 401, path
    assert api.post("/api/v1/block", json={"ip_address": US}, source_ip="198.51.100.7").status == 401
    assert api.post("/api/v1/vms", json={"vm_id": "x1"}, source_ip="198.51.100.7").status == 401
    elsewhere = api.post("/api/v1/events", json=body, source_ip="192.0.2.7")
    assert elsewhere.status == 401 and elsewhere.json()["success"] is False
    assert api.post("/api/v1/ingest", json=raw, source_ip="2001:db8::7").status == 401


def test_a_key_bound_to_a_sensor_posts_as_that_sensor_only(admin_api: ApiClient, api: ApiClient, clock) -> None:
    created = admin_api.post("/api/v1/api-keys", json={"name": "web01", "scopes": ["INGEST"], "sensor": "web01"})
    key = {"X-API-Key": created.json()["data"]["key"]}
    implicit = api.post("/api/v1/ingest", json={"format": "sshd", "lines": failures(clock, US, 1)}, headers=key)
    assert implicit.status == 200 and implicit.json()["data"]["accepted"] == 1
    named = api.post("/api/v1/ingest", json={"sensor": "web01", "format": "sshd", "lines": ["x"]}, headers=key)
    assert named.status == 200
    other = api.post("/api/v1/ingest", json={"sensor": "web02", "format": "sshd", "lines": ["x"]}, headers=key)
    assert other.status == 403 and other.json()["error"]["code"] == "AUTHORIZATION_ERROR"
    assert [e["sensor"] for e in events_of(admin_api)] == ["web01"]
    assert api.get("/api/v1/events", headers=key).status == 403


def test_without_trusted_networks_every_caller_needs_credentials(api: ApiClient, clock) -> None:
    raw = {"sensor": "web01", "format": "sshd", "lines": failures(clock, US, 1)}
    assert api.post("/api/v1/ingest", json=raw, source_ip="198.51.100.7").status == 401


# limits
def test_batch_and_body_size_limits(admin_api: ApiClient, rebuild, clock) -> None:
    rebuild(ingest_max_events=10, max_body_bytes=20_000)
    assert ingest(admin_api, failures(clock, US, 10, spacing=200)).status == 200
    over = ingest(admin_api, failures(clock, US, 11, spacing=200))
    assert over.status == 400 and "at most 10" in over.json()["error"]["message"]
    seed_002 = [{"timestamp": iso(clock.now()), "ip_address": US, "username": "a"}] * 11
    over_002 = admin_api.post("/api/v1/events", json={"vm_id": "vm-001", "events": seed_002})
    assert over_002.status == 400 and over_002.json()["success"] is False
    huge = ingest(admin_api, ["x" * 25_000])
    assert huge.status == 413
    assert len(events_of(admin_api)) == 10


# detection
def test_five_sshd_failures_in_ten_minutes_ban_the_address(admin_api: ApiClient, clock) -> None:
    four = ingest(admin_api, failures(clock, CN, 4, spacing=120)).json()["data"]
    assert four["decisions"] == []
    assert admin_api.get(f"/api/v1/bans/{CN}").status == 404
    clock.advance(seconds=60)
    fifth = ingest(admin_api, failures(clock, CN, 1)).json()["data"]
    assert [(d["action"], d["ip"], d["scenario"]) for d in fifth["decisions"]] == [("ban", CN, "ssh-bruteforce")]
    ban = admin_api.get(f"/api/v1/bans/{CN}").json()["data"]
    assert ban["source"] == "scenario" and ban["scenario"] == "ssh-bruteforce" and ban["status"] == "active"
    assert ban["expires_at"] == iso(clock.now() + timedelta(hours=1)) and ban["created_by"] == "detection"


def test_four_failures_or_five_spread_over_more_than_ten_minutes_do_not_ban(admin_api: ApiClient, clock) -> None:
    ingest(admin_api, failures(clock, US, 4, spacing=60))
    clock.advance(minutes=12)
    result = ingest(admin_api, failures(clock, US, 1)).json()["data"]
    assert result["decisions"] == []
    assert admin_api.get(f"/api/v1/bans/{US}").status == 404
    assert len(events_of(admin_api)) == 5


def test_echo_lines_are_not_counted_twice_by_detection(admin_api: ApiClient, clock) -> None:
    lines = []
    for i in range(4):
        when = clock.now() - timedelta(seconds=10 * (3 - i))
        lines += [sshd_failure(when, US), sshd_pam_echo(when, US)]
    assert ingest(admin_api, lines).json()["data"]["decisions"] == [], "four attempts, eight lines"


def test_a_hard_whitelisted_address_is_never_banned(admin_api: ApiClient, clock) -> None:
    assert admin_api.post("/api/v1/whitelist", json={"ip": US, "type": "hard", "reason": "partner"}).status == 201
    result = ingest(admin_api, failures(clock, US, 12)).json()["data"]
    assert result["decisions"] == [] and result["alerts"] == 0
    assert admin_api.get(f"/api/v1/bans/{US}").status == 404
    assert len(events_of(admin_api)) == 12, "its events are still stored"


def test_a_monitored_address_raises_alerts_instead_of_bans(admin_api: ApiClient, clock) -> None:
    assert admin_api.post("/api/v1/whitelist", json={"ip": US, "type": "monitor"}).status == 201
    result = ingest(admin_api, failures(clock, US, 5)).json()["data"]
    assert result["decisions"] == [] and result["alerts"] == 1
    assert admin_api.get(f"/api/v1/bans/{US}").status == 404
    alerts = admin_api.get("/api/v1/alerts/critical").json()["data"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert["ip"], alert["scenario"], alert["severity"], alert["count"]) == (US, "ssh-bruteforce", "high", 5)
    assert alert["country"] == "US"


def test_only_high_and_critical_alerts_are_critical(admin_api: ApiClient, clock) -> None:
    """A monitored address tripping a medium-severity scenario raises an alert that the critical list leaves out."""
    admin_api.post("/api/v1/whitelist", json={"ip": "89.160.20.112", "type": "monitor"})
    dovecot = [
        f"Nov 24 09:5{i}:00 mx1 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<info>, "
        f"method=PLAIN, rip=89.160.20.112, lip=192.0.2.25, TLS, session=<s{i}>"
        for i in range(10)
    ]
    result = ingest(admin_api, dovecot, sensor="mx1", fmt="syslog").json()["data"]
    assert result["accepted"] == 10 and result["alerts"] == 1, "login-failures-threshold (medium), as an alert"
    assert admin_api.get("/api/v1/alerts/critical").json()["data"] == []


def test_an_address_banned_already_is_not_queued_for_review(admin_api: ApiClient, clock) -> None:
    """A dictionary attack trips ssh-bruteforce (ban) and user-enumeration (pending) in the same batch: the ban
    stands, and no pending ban asks a person about an address that is banned anyway."""
    lines = [sshd_failure(clock.now() - timedelta(seconds=12 - i), CN, f"user{i}") for i in range(12)]
    result = ingest(admin_api, lines).json()["data"]
    assert [(d["action"], d["scenario"]) for d in result["decisions"]] == [("ban", "ssh-bruteforce")]
    assert admin_api.get("/api/v1/pending-bans").json()["data"] == []
    admin_api.post("/api/v1/block", json={"ip_address": RU, "duration_minutes": 600})
    clock.advance(seconds=1)
    windows = ingest(admin_api, user_enumeration(clock, RU), sensor="iis1", fmt="windows-4625").json()["data"]
    assert windows["decisions"] == [] and admin_api.get("/api/v1/pending-bans").json()["data"] == []


def test_with_detect2ban_off_events_are_stored_and_nothing_is_decided(admin_api: ApiClient, clock) -> None:
    assert admin_api.post("/api/v1/detect2ban/disable").json()["data"]["enabled"] is False
    result = ingest(admin_api, failures(clock, CN, 12)).json()["data"]
    assert result["accepted"] == 12 and result["decisions"] == [] and result["alerts"] == 0
    assert admin_api.get(f"/api/v1/bans/{CN}").status == 404
    assert len(events_of(admin_api)) == 12
    assert admin_api.get("/api/v1/statistics").json()["data"]["total_failed_attempts"] == 12
    admin_api.post("/api/v1/detect2ban/enable")
    clock.advance(seconds=30)
    assert ingest(admin_api, failures(clock, RU, 5)).json()["data"]["decisions"][0]["action"] == "ban"


# the geo-zone policy and pending bans
def user_enumeration(clock, ip: str) -> list[str]:
    """Ten failed Windows network-cleartext logons (IIS basic auth) from one address, each with another name:
    only `user-enumeration` (pending) counts them once `login-failures-threshold` is out of the way."""
    return [
        json.dumps(
            {
                "EventID": 4625,
                "TimeCreated": iso(clock.now() - timedelta(seconds=10 * (9 - i))),
                "IpAddress": ip,
                "TargetUserName": f"user{i}",
                "LogonType": 8,
                "Status": "0xc000006d",
            }
        )
        for i in range(10)
    ]


def test_a_pending_scenario_bans_at_once_from_a_hostile_country(admin_api: ApiClient, clock) -> None:
    assert admin_api.delete("/api/v1/detect2ban/scenarios/login-failures-threshold").status == 200
    neutral = ingest(admin_api, user_enumeration(clock, RU), sensor="iis1", fmt="windows-4625").json()["data"]
    assert [(d["action"], d["scenario"]) for d in neutral["decisions"]] == [("pending", "user-enumeration")]

    config = admin_api.put("/api/v1/geozone/config", json={"hostile": ["CN"]})
    assert config.status == 200 and config.json()["data"]["hostile"] == ["CN"]
    hostile = ingest(admin_api, user_enumeration(clock, CN), sensor="iis1", fmt="windows-4625").json()["data"]
    assert [(d["action"], d["scenario"]) for d in hostile["decisions"]] == [("ban", "user-enumeration")]
    ban = admin_api.get(f"/api/v1/bans/{CN}").json()["data"]
    assert ban["source"] == "scenario" and ban["scenario"] == "user-enumeration"
    pending = admin_api.get("/api/v1/pending-bans").json()["data"]
    assert [p["ip"] for p in pending] == [RU]


def test_an_authorized_country_turns_bans_into_pending_bans_for_review(admin_api: ApiClient, admin, clock) -> None:
    added = admin_api.post("/api/v1/geozone/countries/authorized", json={"countries": ["US"]})
    assert added.status == 200, added.text
    first = ingest(admin_api, failures(clock, US, 5)).json()["data"]
    second = ingest(admin_api, failures(clock, US_2, 5)).json()["data"]
    assert [d["action"] for d in first["decisions"] + second["decisions"]] == ["pending", "pending"]
    assert admin_api.get(f"/api/v1/bans/{US}").status == 404
    waiting = {p["ip"]: p for p in admin_api.get("/api/v1/pending-bans").json()["data"]}
    assert set(waiting) == {US, US_2}
    assert waiting[US]["scenario"] == "ssh-bruteforce" and waiting[US]["zone"] == "authorized"
    assert waiting[US]["country"] == "US" and waiting[US]["status"] == "pending"

    approved = admin_api.post(f"/api/v1/pending-bans/{waiting[US]['id']}/approve", json={"reason": "confirmed"})
    assert approved.status == 200, approved.text
    ban = admin_api.get(f"/api/v1/bans/{US}").json()["data"]
    assert ban["status"] == "active" and ban["scenario"] == "ssh-bruteforce"
    approver = f"user:{admin['id']}"
    history = admin_api.get(f"/api/v1/bans/{US}/history").json()["data"]
    assert any(entry.get("actor") == approver for entry in history), history
    assert approver in ban["reason"] or ban["created_by"] == approver

    rejected = admin_api.post(
        f"/api/v1/pending-bans/{waiting[US_2]['id']}/reject", json={"reason": "our VPN", "whitelist": True}
    )
    assert rejected.status == 200 and rejected.json()["data"]["whitelisted"] is True
    check = admin_api.get(f"/api/v1/whitelist/check/{US_2}").json()["data"]
    assert check["whitelisted"] is True and check["whitelist"][0]["kind"] == "allow:soft"
    assert admin_api.get(f"/api/v1/bans/{US_2}").status == 404
    assert admin_api.get("/api/v1/pending-bans").json()["data"] == []
    decided = {p["ip"]: p for p in admin_api.get("/api/v1/pending-bans", query={"status": "decided"}).json()["data"]}
    assert decided[US]["status"] == "approved" and decided[US_2]["status"] == "rejected"
    assert decided[US]["decided_by"] == approver


# cost
def realistic_sshd_batch(clock) -> list[str]:
    """1,000 auth.log lines over two minutes: three dictionary attackers (a hundred attempts each, every refused
    password echoed by pam_unix, a new user name each time) and 200 scanners that try two invalid user names."""
    start = clock.now() - timedelta(minutes=2)
    lines: list[tuple[datetime, str]] = []
    for attacker in range(3):
        ip = f"45.155.205.{10 + attacker}"
        for attempt in range(100):
            when = start + timedelta(seconds=attempt + attacker * 0.3)
            lines += [
                (when, sshd_failure(when, ip, f"user{attempt}")),
                (when, sshd_pam_echo(when, ip, f"user{attempt}")),
            ]
    for scanner in range(200):
        ip = f"185.{100 + scanner // 100}.{scanner % 100}.7"
        when = start + timedelta(seconds=scanner * 0.5)
        stamp = f"{when:%b} {when.day:>2} {when:%H:%M:%S}"
        lines.append((when, f"{stamp} web01 sshd[7]: Invalid user oracle from {ip} port {40000 + scanner}"))
        lines.append((when, sshd_failure(when, ip, "invalid user oracle", 40000 + scanner)))
    return [line for _, line in sorted(lines, key=lambda pair: pair[0])]


def test_requests_per_thousand_events(admin_api: ApiClient, aws, clock, capsys) -> None:
    ingest(admin_api, failures(clock, "198.18.0.1", 1), sensor="web01")  # warm: indexes, scenarios, GeoIP
    lines = realistic_sshd_batch(clock)
    assert len(lines) == 1000
    clients = (aws.client("dynamodb"), aws.client("sqs"), aws.client("s3"))
    with count_requests(*clients) as counts:
        response = ingest(admin_api, lines, sensor="web01", batch_id="bench-1")
    result = response.json()["data"]
    assert response.status == 200 and result["accepted"] == 1000
    banned = sorted(d["ip"] for d in result["decisions"] if d["action"] == "ban")
    assert banned == ["45.155.205.10", "45.155.205.11", "45.155.205.12"]
    total = sum(counts.values())
    with capsys.disabled():
        print(f"\nrequests for 1,000 sshd lines ({len(banned)} bans): {total} {dict(counts.most_common())}")
    assert total <= 150
