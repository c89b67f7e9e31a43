"""The responder through ingest and the minute sweep (moto, the wired container): a batch's bans are issued
together when it ends, and what each trigger decides is what it decided when every ban was issued at once.

One decisions write however many addresses a batch bans; one ban when two scenarios ban the same address; a
refused ban (reserved space) is an alert and the rest of the batch is banned; a pending ban is dropped when a
ban of its address came earlier in the batch (a geoblocking one too), kept when the ban comes later or is
refused. The minute sweep's bans go together too.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.clock import iso
from tests.support.aws import count_requests
from tests.support.client import ApiClient
from tests.support.logs import ingest, sshd_failure

CN = "114.114.114.114"  # China in the embedded 2018 GeoLite2
RU = "77.88.8.8"  # Russia
US = "8.8.8.8"  # United States
LOOPBACK = "127.0.0.1"  # reserved space: a ban of it is always refused

BAN_WRITES = ("dynamodb.TransactWriteItems", "sqs.SendMessageBatch")


def sshd_attacks(clock, addresses: list[str], per_address: int = 5, *, users: bool = False) -> list[str]:
    """`per_address` refused passwords from each address in turn, a second apart, the last one now: each address
    reaches its thresholds after the one before it, so the triggers come in the addresses' order. With `users`,
    each attempt names another account (user enumeration)."""
    total = per_address * len(addresses)
    start = clock.now() - timedelta(seconds=total - 1)
    return [
        sshd_failure(start + timedelta(seconds=n * per_address + i), ip, f"user{i}" if users else "root")
        for n, ip in enumerate(addresses)
        for i in range(per_address)
    ]


def windows_failure(when: datetime, ip: str, user: str, logon_type: int) -> str:
    """A failed Windows logon (event 4625): logon type 8 (IIS basic auth) is only user enumeration's to count,
    type 10 (RDP) is windows-bruteforce's too."""
    return json.dumps(
        {
            "EventID": 4625,
            "TimeCreated": iso(when),
            "IpAddress": ip,
            "TargetUserName": user,
            "LogonType": logon_type,
            "Status": "0xc000006d",
        }
    )


def banned(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(d["action"], d["ip"], d["scenario"]) for d in result["decisions"]]


def ban_writes(api: ApiClient, aws, lines: list[str]) -> tuple[dict[str, Any], Counter[str]]:
    """Ingest a batch; its result and the transactions and change-stream sends it made."""
    with count_requests(aws.client("dynamodb"), aws.client("sqs")) as counts:
        result = ingest(api, "web01", "sshd", lines)
    return result, Counter({op: counts[op] for op in BAN_WRITES})


def test_a_batch_issues_all_its_bans_in_one_decisions_write(admin_api: ApiClient, aws, clock) -> None:
    """Two bans or thirteen (twelve scenario bans and a geoblocking one): the same transactions and one
    change-stream send, and the answer lists them in the order the rules and triggers produced them."""
    two = ["203.0.113.1", "203.0.113.2"]
    few, few_writes = ban_writes(admin_api, aws, sshd_attacks(clock, two))
    assert banned(few) == [("ban", ip, "ssh-bruteforce") for ip in two]

    rule = {"type": "country", "value": "CN", "action": "block", "reason": "policy"}
    assert admin_api.post("/api/v1/geoblocking/rules", json=rule).status == 201
    twelve = [f"192.0.2.{i}" for i in range(1, 13)]  # not 198.51.100.10: the test client's own
    clock.advance(seconds=60)
    many, many_writes = ban_writes(admin_api, aws, [sshd_failure(clock.now(), CN), *sshd_attacks(clock, twelve)])
    assert banned(many) == [("ban", CN, "geoblocking")] + [("ban", ip, "ssh-bruteforce") for ip in twelve]

    assert many_writes == few_writes, "the decisions write does not grow with the number of bans"
    assert many_writes["sqs.SendMessageBatch"] == 1, "one change-stream send for the whole batch"
    for ip in [*two, CN, *twelve]:
        assert admin_api.get(f"/api/v1/bans/{ip}").json()["data"]["status"] == "active", ip


def test_two_scenarios_banning_one_address_in_one_batch_give_one_ban(admin_api: ApiClient, clock) -> None:
    """Twelve refused passwords trip ssh-bruteforce (at five) and login-failures-threshold (at ten): one ban,
    issued once. The monitored twin, sending the same lines, shows both scenarios tripped."""
    twin = "203.0.113.9"
    assert admin_api.post("/api/v1/whitelist", json={"ip": twin, "type": "monitor"}).status == 201
    result = ingest(admin_api, "web01", "sshd", sshd_attacks(clock, [CN, twin], 12))
    assert result["alerts"] == 2, "the twin's alerts: both scenarios"
    assert banned(result) == [("ban", CN, "ssh-bruteforce")]
    history = admin_api.get(f"/api/v1/bans/{CN}/history").json()["data"]
    assert [entry["action"] for entry in history] == ["issued"]


def test_a_refused_ban_is_an_alert_and_the_rest_of_the_batch_is_banned(admin_api: ApiClient, clock) -> None:
    """Among four attacking addresses, the loopback one cannot be banned: it becomes a high alert, the
    hard-whitelisted one is passed over as ever, and the other two are banned."""
    assert admin_api.post("/api/v1/whitelist", json={"ip": US, "type": "hard", "reason": "partner"}).status == 201
    first, last = "203.0.113.1", "203.0.113.2"
    result = ingest(admin_api, "web01", "sshd", sshd_attacks(clock, [first, LOOPBACK, US, last]))
    assert banned(result) == [("ban", first, "ssh-bruteforce"), ("ban", last, "ssh-bruteforce")]
    assert result["alerts"] == 1
    (alert,) = admin_api.get("/api/v1/alerts/critical").json()["data"]
    assert (alert["ip"], alert["scenario"], alert["severity"]) == (LOOPBACK, "ssh-bruteforce", "high")
    assert alert["reason"].startswith("ban refused: ") and "loopback" in alert["reason"]
    for ip in (LOOPBACK, US):
        assert admin_api.get(f"/api/v1/bans/{ip}").status == 404, ip
    for ip in (first, last):
        assert admin_api.get(f"/api/v1/bans/{ip}").json()["data"]["status"] == "active", ip


def test_a_refused_ban_leaves_the_same_batch_s_repeats_and_pending_ban_their_own_outcome(
    admin_api: ApiClient, clock
) -> None:
    """Twelve attempts from loopback with twelve names: both ban scenarios are refused, each with its alert, and
    user enumeration's pending ban is proposed (a refused ban does not stand in for it)."""
    result = ingest(admin_api, "web01", "sshd", sshd_attacks(clock, [LOOPBACK], 12, users=True))
    assert banned(result) == [("pending", LOOPBACK, "user-enumeration")]
    assert result["alerts"] == 2
    alerts = admin_api.get("/api/v1/alerts/critical").json()["data"]
    assert sorted(a["scenario"] for a in alerts) == ["login-failures-threshold", "ssh-bruteforce"]
    assert all(a["reason"].startswith("ban refused: ") for a in alerts)
    assert [p["ip"] for p in admin_api.get("/api/v1/pending-bans").json()["data"]] == [LOOPBACK]


def test_a_pending_ban_after_a_ban_of_its_address_in_the_batch_is_dropped(admin_api: ApiClient, clock) -> None:
    """A geoblocking ban comes first in a batch; user enumeration then trips on the same address: banned, it
    leaves nothing to review."""
    assert admin_api.delete("/api/v1/detect2ban/scenarios/login-failures-threshold").status == 200
    rule = {"type": "country", "value": "CN", "action": "block", "reason": "policy"}
    assert admin_api.post("/api/v1/geoblocking/rules", json=rule).status == 201
    lines = [windows_failure(clock.now() - timedelta(seconds=10 * (9 - i)), CN, f"user{i}", 8) for i in range(10)]
    result = ingest(admin_api, "iis1", "windows-4625", lines)
    assert banned(result) == [("ban", CN, "geoblocking")]
    assert admin_api.get("/api/v1/pending-bans").json()["data"] == []


def test_a_pending_ban_before_a_ban_of_its_address_in_the_batch_stays(admin_api: ApiClient, clock) -> None:
    """User enumeration trips at the tenth name; ten RDP failures later windows-bruteforce bans the address:
    the pending ban is proposed, then the ban issued, in that order."""
    assert admin_api.delete("/api/v1/detect2ban/scenarios/login-failures-threshold").status == 200
    start = clock.now() - timedelta(seconds=190)
    names = [windows_failure(start + timedelta(seconds=10 * i), RU, f"user{i}", 8) for i in range(10)]
    rdp = [windows_failure(start + timedelta(seconds=10 * (10 + i)), RU, "administrator", 10) for i in range(10)]
    result = ingest(admin_api, "iis1", "windows-4625", names + rdp)
    assert banned(result) == [("pending", RU, "user-enumeration"), ("ban", RU, "windows-bruteforce")]
    assert [p["ip"] for p in admin_api.get("/api/v1/pending-bans").json()["data"]] == [RU]
    assert admin_api.get(f"/api/v1/bans/{RU}").json()["data"]["status"] == "active"


def test_the_minute_sweep_issues_its_bans_in_one_decisions_write(admin_api: ApiClient, container, aws, clock) -> None:
    """distributed-bruteforce (scheduled): one failure from each address on each of three sensors, then the
    minute schedule bans both addresses in one write."""
    attackers = ["203.0.113.1", "203.0.113.2"]
    for sensor in ("web01", "web02", "web03"):
        ingest(admin_api, sensor, "sshd", [sshd_failure(clock.now(), ip, host=sensor) for ip in attackers])
    clock.advance(seconds=60)
    with count_requests(aws.client("dynamodb"), aws.client("sqs")) as counts:
        result = container.responder.sweep()
    assert banned(result) == [("ban", ip, "distributed-bruteforce") for ip in attackers]
    assert counts["sqs.SendMessageBatch"] == 1, "one change-stream send for both bans"
    for ip in attackers:
        assert admin_api.get(f"/api/v1/bans/{ip}").json()["data"]["status"] == "active", ip
