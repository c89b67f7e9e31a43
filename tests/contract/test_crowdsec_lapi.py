"""The CrowdSec Local API's bouncer routes, as an unchanged CrowdSec bouncer calls them.

What a bouncer parses (go-cs-bouncer's `models.DecisionsStreamResponse`, lua-cs-bouncer's stream): an object with
`new` and `deleted`, each `null` or a list of decisions with `duration` (Go syntax), integer `id`, `origin`,
`scenario`, `scope` (`Ip` or `Range`), `type`, `value` and `uuid`. The bouncer authenticates with `X-Api-Key`
and gets 403 `{"message": ...}` when the key is missing or wrong. Bans are made through Vigil's own API and
through detection; the bouncer's view is read through the LAPI routes only.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from tests.support.client import ApiClient
from tests.support.identity import token_for
from tests.support.logs import ingest, sshd_failure

DECISION_KEYS = {"duration", "id", "origin", "scenario", "scope", "type", "value", "uuid", "until"}
GO_DURATION = re.compile(r"^(\d+h)?(\d+m)?\d+(\.\d+)?s$")


class Bouncer:
    """A bouncer holding one API key, calling the LAPI routes with it."""

    def __init__(self, client: ApiClient, key: str) -> None:
        self.client = client
        self.key = key

    def get(self, path: str, **query: Any) -> Any:
        response = self.client.request("GET", path, query=query or None, headers={"X-Api-Key": self.key}, token="")
        assert response.status == 200, response.body
        assert response.header("Content-Type") == "application/json"
        return response.json()

    def stream(self, **query: Any) -> dict[str, Any]:
        return self.get("/v1/decisions/stream", **query)

    def startup(self, **query: Any) -> dict[str, Any]:
        return self.stream(startup="true", **query)

    def decisions(self, **query: Any) -> Any:
        return self.get("/v1/decisions", **query)


@pytest.fixture
def make_bouncer(admin_api: ApiClient, api: ApiClient):
    def make(name: str = "fw-bouncer", sensor: str | None = None, scopes: tuple[str, ...] = ("READ",)) -> Bouncer:
        body: dict[str, Any] = {"name": name, "scopes": list(scopes)}
        if sensor:
            body["sensor"] = sensor
        created = admin_api.post("/api/v1/api-keys", json=body)
        assert created.status == 201, created.body
        return Bouncer(api, created.json()["data"]["key"])

    return make


@pytest.fixture
def refresh(admin_api: ApiClient, container, admin):
    def renew() -> None:
        admin_api.token = token_for(container, admin)

    return renew


def ban(client: ApiClient, ip: str, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/bans", json={"ip": ip, **body})
    assert response.status == 201, response.body
    return response.json()["data"]


def by_value(items: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {d["value"]: d for d in items or []}


def test_startup_returns_everything_in_force_in_the_lapi_shape(admin_api: ApiClient, make_bouncer, clock) -> None:
    single = ban(admin_api, "203.0.113.7", duration="4h", reason="manual")
    network = ban(admin_api, "192.0.2.0/24", duration_days=1)
    forever = ban(admin_api, "2001:db8::/48", permanent=True)
    now = clock.now() - timedelta(minutes=1)
    detected = ingest(admin_api, "web01", "sshd", [sshd_failure(now, "203.0.113.66") for _ in range(5)])
    assert [d["scenario"] for d in detected["decisions"]] == ["ssh-bruteforce"]
    clock.advance(5)

    answer = make_bouncer().startup()
    assert set(answer) == {"new", "deleted"} and answer["deleted"] is None
    new = by_value(answer["new"])
    assert set(new) == {"203.0.113.7", "192.0.2.0/24", "2001:db8::/48", "203.0.113.66"}
    for decision in answer["new"]:
        assert set(decision) == DECISION_KEYS
        assert isinstance(decision["id"], int) and not isinstance(decision["id"], bool) and 0 < decision["id"] < 2**63
        assert GO_DURATION.match(decision["duration"]), decision["duration"]
        assert decision["type"] == "ban"
    assert len({d["id"] for d in answer["new"]}) == 4, "ids are distinct"
    assert new["203.0.113.7"] == {
        "duration": "3h59m55s",
        "id": new["203.0.113.7"]["id"],
        "origin": "vigil-manual",
        "scenario": "vigil/manual",
        "scope": "Ip",
        "type": "ban",
        "value": "203.0.113.7",
        "uuid": single["id"],
        "until": "2026-11-24T14:00:00Z",
    }
    assert new["192.0.2.0/24"]["scope"] == "Range" and new["192.0.2.0/24"]["uuid"] == network["id"]
    assert new["2001:db8::/48"]["scope"] == "Range" and new["2001:db8::/48"]["uuid"] == forever["id"]
    assert new["2001:db8::/48"]["duration"] == "87600h0m0s", "a permanent ban is ten years to a bouncer"
    assert new["203.0.113.66"]["origin"] == "vigil-scenario" and new["203.0.113.66"]["scenario"] == "ssh-bruteforce"
    assert new["203.0.113.66"]["duration"] == "0h59m55s"

    again = make_bouncer("second").startup()
    assert {d["id"] for d in again["new"]} == {d["id"] for d in answer["new"]}, "ids are stable across calls"


def test_an_empty_platform_answers_nulls(make_bouncer) -> None:
    bouncer = make_bouncer()
    assert bouncer.startup() == {"new": None, "deleted": None}
    assert bouncer.stream() == {"new": None, "deleted": None}
    assert bouncer.decisions() is None


def test_later_pulls_carry_only_what_changed(admin_api: ApiClient, make_bouncer, container, clock, refresh) -> None:
    kept = ban(admin_api, "203.0.113.10", duration="1d")
    lifted = ban(admin_api, "203.0.113.11", duration="1d")
    short = ban(admin_api, "203.0.113.12", duration="10m")
    clock.advance(5)
    bouncer = make_bouncer()
    assert len(bouncer.startup()["new"]) == 3

    clock.advance(10)
    assert bouncer.stream() == {"new": None, "deleted": None}, "nothing changed"
    assert bouncer.stream(startup="false") == {"new": None, "deleted": None}, "as go-cs-bouncer asks"

    clock.advance(10)
    fresh = ban(admin_api, "198.51.100.128/25", duration="2h")
    assert admin_api.delete("/api/v1/bans/203.0.113.11", json={"reason": "false positive"}).status == 200
    clock.advance(10)
    delta = bouncer.stream()
    assert [d["uuid"] for d in delta["new"]] == [fresh["id"]]
    assert delta["new"][0]["scope"] == "Range" and delta["new"][0]["duration"] == "1h59m50s"
    assert [(d["uuid"], d["value"]) for d in delta["deleted"]] == [(lifted["id"], "203.0.113.11")]
    assert set(delta["deleted"][0]) == DECISION_KEYS and delta["deleted"][0]["scope"] == "Ip"

    clock.advance(minutes=11)  # the ten-minute ban expires; the minute schedule ends it
    refresh()
    container.decisions.sweep_expired()
    clock.advance(10)
    expired = bouncer.stream()
    assert expired["new"] is None
    assert [(d["uuid"], d["value"]) for d in expired["deleted"]] == [(short["id"], "203.0.113.12")]
    clock.advance(10)
    assert bouncer.stream() == {"new": None, "deleted": None}
    everything = {d["uuid"] for d in make_bouncer("late").startup()["new"]}
    assert everything == {kept["id"], fresh["id"]}


def test_a_bouncer_back_after_days_gets_everything_and_what_ended_meanwhile(
    admin_api: ApiClient, make_bouncer, container, clock, refresh
) -> None:
    lifted = ban(admin_api, "203.0.113.13", permanent=True)
    expired = ban(admin_api, "203.0.113.14", duration="1d")
    kept = ban(admin_api, "203.0.113.15", permanent=True)
    clock.advance(5)
    bouncer = make_bouncer()
    assert len(bouncer.startup()["new"]) == 3
    clock.advance(days=1, hours=1)  # the day-long ban expired; the minute schedule ended it
    container.decisions.sweep_expired()
    clock.advance(days=2)  # longer than the change log is read for
    refresh()
    assert admin_api.delete("/api/v1/bans/203.0.113.13").status == 200
    fresh = ban(admin_api, "203.0.113.16", duration="1h")
    clock.advance(10)
    answer = bouncer.stream()
    assert sorted(d["uuid"] for d in answer["new"]) == sorted([kept["id"], fresh["id"]])
    assert sorted(d["uuid"] for d in answer["deleted"]) == sorted([lifted["id"], expired["id"]]), (
        "a permanent ban lifted while the bouncer was away must leave its firewall"
    )
    clock.advance(10)
    assert bouncer.stream() == {"new": None, "deleted": None}


def test_each_bouncer_has_its_own_cursor(admin_api: ApiClient, make_bouncer, clock) -> None:
    first, second = make_bouncer("edge-1"), make_bouncer("edge-2")
    first.startup()
    second.startup()
    clock.advance(10)
    ban(admin_api, "203.0.113.20", duration="1h")
    clock.advance(10)
    assert [d["value"] for d in first.stream()["new"]] == ["203.0.113.20"]
    clock.advance(10)
    assert first.stream()["new"] is None
    assert [d["value"] for d in second.stream()["new"]] == ["203.0.113.20"], "the other bouncer had not pulled yet"


def test_a_decision_made_and_lifted_between_pulls_is_only_deleted(admin_api: ApiClient, make_bouncer, clock) -> None:
    bouncer = make_bouncer()
    bouncer.startup()
    clock.advance(10)
    gone = ban(admin_api, "203.0.113.21", duration="1h")
    clock.advance(10)
    admin_api.delete("/api/v1/bans/203.0.113.21")
    clock.advance(10)
    delta = bouncer.stream()
    assert delta["new"] is None and [d["uuid"] for d in delta["deleted"]] == [gone["id"]]
    assert delta["deleted"][0]["duration"].startswith("-"), "a deleted decision has no time left"


def test_scopes_filter(admin_api: ApiClient, make_bouncer, clock) -> None:
    ban(admin_api, "203.0.113.30", duration="1h")
    ban(admin_api, "192.0.2.0/24", duration="1h")
    clock.advance(5)
    bouncer = make_bouncer()
    assert [d["value"] for d in bouncer.startup(scopes="ip")["new"]] == ["203.0.113.30"]
    assert [d["value"] for d in bouncer.startup(scopes="range")["new"]] == ["192.0.2.0/24"]
    assert len(bouncer.startup(scopes="Ip,Range")["new"]) == 2, "scope names in any case"
    assert bouncer.startup(scopes="country")["new"] is None
    clock.advance(10)
    ban(admin_api, "192.0.2.128/25", duration="1h", force=True)
    ban(admin_api, "203.0.113.31", duration="1h")
    clock.advance(10)
    assert [d["value"] for d in bouncer.stream(scopes="ip")["new"]] == ["203.0.113.31"], "deltas are filtered too"


def test_scenario_and_origin_filters(admin_api: ApiClient, make_bouncer, clock) -> None:
    ban(admin_api, "203.0.113.40", duration="1h")
    now = clock.now() - timedelta(minutes=1)
    ingest(admin_api, "web01", "sshd", [sshd_failure(now, "203.0.113.41") for _ in range(5)])
    clock.advance(5)
    bouncer = make_bouncer()

    def values(**query: Any) -> list[str]:
        return sorted(d["value"] for d in bouncer.startup(**query)["new"] or [])

    assert values(scenarios_containing="ssh") == ["203.0.113.41"]
    assert values(scenarios_containing="SSH-Brute") == ["203.0.113.41"], "the LAPI matches scenarios without case"
    assert values(scenarios_containing="ftp,bruteforce") == ["203.0.113.41"], "any of a list"
    assert values(scenarios_not_containing="ssh") == ["203.0.113.40"]
    assert values(scenarios_not_containing="MANUAL") == ["203.0.113.41"]
    assert values(scenarios_containing="http") == []
    assert values(origins="vigil-scenario") == ["203.0.113.41"]
    assert values(origins="manual") == ["203.0.113.40"]
    assert values(origins="Vigil-Manual,vigil-scenario") == ["203.0.113.40", "203.0.113.41"]
    assert values(origins="CAPI") == []


def test_a_key_bound_to_a_sensor_also_gets_its_per_vm_blocks(admin_api: ApiClient, make_bouncer, clock) -> None:
    global_ban = ban(admin_api, "203.0.113.50", duration="1h")
    blocked = admin_api.post(
        "/api/v1/block/per-vm",
        json={"ip_address": "203.0.113.51", "vm_id": "vm-001", "reason": "ssh on vm-001", "duration_minutes": 120},
    )
    assert blocked.status == 200
    admin_api.post("/api/v1/block/per-vm", json={"ip_address": "203.0.113.52", "vm_id": "vm-002"})
    clock.advance(5)
    vm1, vm2, plain = make_bouncer("vm1", sensor="vm-001"), make_bouncer("vm2", sensor="vm-002"), make_bouncer()

    assert sorted(by_value(vm1.startup()["new"])) == ["203.0.113.50", "203.0.113.51"]
    assert sorted(by_value(vm2.startup()["new"])) == ["203.0.113.50", "203.0.113.52"]
    assert [d["uuid"] for d in plain.startup()["new"]] == [global_ban["id"]]
    per_vm = by_value(vm1.startup()["new"])["203.0.113.51"]
    assert per_vm["scope"] == "Ip" and per_vm["type"] == "ban" and per_vm["duration"] == "1h59m55s"

    clock.advance(10)
    admin_api.post("/api/v1/block/per-vm", json={"ip_address": "203.0.113.53", "vm_id": "vm-001"})
    clock.advance(10)
    assert [d["value"] for d in vm1.stream()["new"]] == ["203.0.113.53"]
    assert vm2.stream()["new"] is None and plain.stream()["new"] is None
    assert [d["value"] for d in vm1.decisions(ip="203.0.113.51")] == ["203.0.113.51"]
    assert plain.decisions(ip="203.0.113.51") is None and vm2.decisions(ip="203.0.113.51") is None


def test_decisions_for_an_address(admin_api: ApiClient, make_bouncer, clock) -> None:
    network = ban(admin_api, "192.0.2.0/24", duration="2h")
    single = ban(admin_api, "192.0.2.77", duration="1h")
    ban(admin_api, "203.0.113.60", duration="1h")
    bouncer = make_bouncer()
    inside = bouncer.decisions(ip="192.0.2.77")
    assert sorted(d["uuid"] for d in inside) == sorted([network["id"], single["id"]])
    assert all(set(d) == DECISION_KEYS for d in inside)
    assert [d["uuid"] for d in bouncer.decisions(ip="192.0.2.5")] == [network["id"]], "an address inside the range"
    assert bouncer.decisions(ip="198.51.100.1") is None, "no decision: null, as the LAPI answers"
    assert bouncer.decisions(ip="2001:db8::1") is None
    assert [d["value"] for d in bouncer.decisions(range="192.0.2.0/25")] == ["192.0.2.0/24"], "ranges containing it"
    assert sorted(d["value"] for d in bouncer.decisions(range="192.0.2.0/24", contains="false")) == [
        "192.0.2.0/24",
        "192.0.2.77",
    ], "contains=false: the decisions inside the range"
    assert [d["value"] for d in bouncer.decisions(ip="192.0.2.77", scope="range")] == ["192.0.2.0/24"]
    assert bouncer.decisions(ip="192.0.2.77", type="captcha") is None
    assert len(bouncer.decisions()) == 3, "no filter: every decision in force"
    clock.advance(hours=1, seconds=1)
    assert [d["uuid"] for d in bouncer.decisions(ip="192.0.2.77")] == [network["id"]], "an expired one is gone"


def test_a_bad_address_is_refused_in_the_lapi_error_shape(make_bouncer) -> None:
    bouncer = make_bouncer()
    response = bouncer.client.request(
        "GET", "/v1/decisions", query={"ip": "not-an-ip"}, headers={"X-Api-Key": bouncer.key}, token=""
    )
    assert response.status == 400 and set(response.json()) == {"message"}


@pytest.mark.parametrize("path", ["/v1/decisions/stream", "/v1/decisions"])
def test_missing_or_wrong_keys_get_403(api: ApiClient, admin_api: ApiClient, make_bouncer, path: str) -> None:
    missing = api.get(path, query={"startup": "true"})
    assert missing.status == 403 and set(missing.json()) == {"message"} and missing.json()["message"]
    wrong = api.get(path, headers={"X-Api-Key": "vgl_0123456789abcdef_not-the-secret"})
    assert wrong.status == 403 and set(wrong.json()) == {"message"}
    foreign = api.get(path, headers={"X-Api-Key": "837be58e22a28738066de1be8f53636b"})  # a LAPI-style key
    assert foreign.status == 403 and set(foreign.json()) == {"message"}
    ingest_only = make_bouncer("agent", scopes=("INGEST",))
    refused = api.get(path, headers={"X-Api-Key": ingest_only.key})
    assert refused.status == 403 and set(refused.json()) == {"message"}, "a key without READ"
    revoked_key = admin_api.post("/api/v1/api-keys", json={"name": "old", "scopes": ["READ"]}).json()["data"]
    assert api.get(path, headers={"X-Api-Key": revoked_key["key"]}).status == 200
    assert admin_api.delete(f"/api/v1/api-keys/{revoked_key['id']}").status == 200
    revoked = api.get(path, headers={"X-Api-Key": revoked_key["key"]})
    assert revoked.status == 403 and set(revoked.json()) == {"message"}
