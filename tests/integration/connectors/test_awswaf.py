"""The AWS WAF connector on moto's wafv2: sets per family, sharding at 10,000, optimistic locking.

moto implements `UpdateIPSet` with lock tokens (a stale token raises `WAFOptimisticLockException`) but does not
enforce the 10,000-addresses limit, so the tests assert that the connector never writes a bigger set.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any

import pytest

from chalicelib.distribution.connectors.awswaf import CAPACITY, AwsWafConnector
from chalicelib.distribution.connectors.base import Delta, Entry, Target, TargetError

pytestmark = pytest.mark.integration


def target(**settings: Any) -> Target:
    return Target("waf-1", "public-alb", "aws-waf", "", {"scope": "REGIONAL", "region": "us-east-1", **settings}, {})


def vigil_sets(client: Any, scope: str = "REGIONAL") -> dict[str, list[str]]:
    found = {}
    for summary in client.list_ip_sets(Scope=scope, Limit=100)["IPSets"]:
        if summary["Name"].startswith("vigil-"):
            answer = client.get_ip_set(Name=summary["Name"], Scope=scope, Id=summary["Id"])
            found[summary["Name"]] = answer["IPSet"]["Addresses"]
    return found


class Recording:
    """The wafv2 client, recording every call (operation, region) on the way through."""

    def __init__(self, client: Any, region: str | None = None) -> None:
        self.client = client
        self.region = region
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(**params: Any) -> Any:
            self.calls.append(name)
            return method(**params)

        return call


def test_each_family_gets_its_own_set_in_cidr_notation(waf: Any) -> None:
    connector = AwsWafConnector(lambda region: waf)
    delta = Delta(add=(Entry("203.0.113.7/32"), Entry("198.51.100.0/24"), Entry("2001:db8::1/128")))

    result = connector.apply(target(), delta)

    assert (result.added, result.removed, result.unchanged) == (3, 0, 0)
    sets = vigil_sets(waf)
    assert sorted(sets["vigil-v4-1"]) == ["198.51.100.0/24", "203.0.113.7/32"]
    assert sets["vigil-v6-1"] == ["2001:db8::1/128"]
    assert connector.current(target()) == {"203.0.113.7/32", "198.51.100.0/24", "2001:db8::1/128"}


def test_the_same_delta_twice_writes_nothing_the_second_time(waf: Any) -> None:
    recording = Recording(waf)
    connector = AwsWafConnector(lambda region: recording)
    delta = Delta(add=(Entry("203.0.113.7/32"),), remove=(Entry("192.0.2.1/32"),))
    connector.apply(target(), delta)
    recording.calls.clear()

    again = connector.apply(target(), delta)

    assert (again.added, again.removed, again.unchanged) == (0, 0, 2)
    assert "update_ip_set" not in recording.calls and "create_ip_set" not in recording.calls
    assert vigil_sets(waf) == {"vigil-v4-1": ["203.0.113.7/32"]}


def test_removals_and_additions_in_one_update(waf: Any) -> None:
    recording = Recording(waf)
    connector = AwsWafConnector(lambda region: recording)
    connector.apply(target(), Delta(add=(Entry("203.0.113.7/32"), Entry("203.0.113.8/32"))))
    recording.calls.clear()

    result = connector.apply(target(), Delta(add=(Entry("192.0.2.1/32"),), remove=(Entry("203.0.113.7/32"),)))

    assert (result.added, result.removed) == (1, 1)
    assert recording.calls.count("update_ip_set") == 1
    assert sorted(vigil_sets(waf)["vigil-v4-1"]) == ["192.0.2.1/32", "203.0.113.8/32"]


def test_sets_are_sharded_at_ten_thousand_and_packed_again_when_bans_go(waf: Any) -> None:
    connector = AwsWafConnector(lambda region: waf)
    addresses = [str(ipaddress.IPv4Address(0x0A000000 + i)) + "/32" for i in range(25_000)]

    connector.apply(target(), Delta(add=tuple(Entry(a) for a in addresses)))

    sets = vigil_sets(waf)
    assert sorted(sets) == ["vigil-v4-1", "vigil-v4-2", "vigil-v4-3"]
    assert all(len(held) <= CAPACITY for held in sets.values())
    assert connector.current(target()) == set(addresses)

    connector.apply(target(), Delta(remove=tuple(Entry(a) for a in addresses[:15_001])))

    sets = vigil_sets(waf)
    in_use = [name for name, held in sets.items() if held]
    assert len(in_use) == math.ceil(9_999 / CAPACITY) == 1
    assert all(len(held) <= CAPACITY for held in sets.values())
    assert connector.current(target()) == set(addresses[15_001:])


def test_a_lock_conflict_is_retried_on_the_fresh_set(waf: Any) -> None:
    """Another writer updates the set between our read and our write; both changes must survive."""
    connector = AwsWafConnector(lambda region: waf)
    connector.apply(target(), Delta(add=(Entry("203.0.113.7/32"),)))
    slept: list[float] = []

    class Interloper(Recording):
        def __getattr__(self, name: str) -> Any:
            if name == "update_ip_set" and "interloped" not in self.calls:
                self.calls.append("interloped")
                summary = waf.list_ip_sets(Scope="REGIONAL", Limit=100)["IPSets"][0]
                current = waf.get_ip_set(Name=summary["Name"], Scope="REGIONAL", Id=summary["Id"])
                waf.update_ip_set(
                    Name=summary["Name"],
                    Scope="REGIONAL",
                    Id=summary["Id"],
                    Addresses=[*current["IPSet"]["Addresses"], "192.0.2.200/32"],
                    LockToken=current["LockToken"],
                )
            return super().__getattr__(name)

    interloper = Interloper(waf)
    racing = AwsWafConnector(lambda region: interloper, sleep=slept.append, base_delay=0.25)

    result = racing.apply(target(), Delta(add=(Entry("198.51.100.1/32"),)))

    assert result.added == 1
    assert slept == [0.25]
    assert interloper.calls.count("update_ip_set") == 2
    assert sorted(vigil_sets(waf)["vigil-v4-1"]) == ["192.0.2.200/32", "198.51.100.1/32", "203.0.113.7/32"]


def test_a_set_that_keeps_changing_gives_up_with_a_retryable_error(waf: Any) -> None:
    AwsWafConnector(lambda region: waf).apply(target(), Delta(add=(Entry("203.0.113.7/32"),)))

    class AlwaysStale(Recording):
        def __getattr__(self, name: str) -> Any:
            method = getattr(self.client, name)
            if name != "update_ip_set":
                return method

            def stale(**params: Any) -> Any:
                return method(**{**params, "LockToken": "00000000-0000-0000-0000-000000000000"})

            return stale

    slept: list[float] = []
    connector = AwsWafConnector(lambda region: AlwaysStale(waf), sleep=slept.append, attempts=3, base_delay=1)

    with pytest.raises(TargetError, match="kept changing"):
        connector.apply(target(), Delta(add=(Entry("198.51.100.1/32"),)))
    assert slept == [1, 2, 4]


def test_cloudfront_sets_are_always_managed_in_us_east_1(waf: Any) -> None:
    regions: list[str | None] = []

    def client_for(region: str | None) -> Any:
        regions.append(region)
        return waf

    connector = AwsWafConnector(client_for)
    connector.apply(target(scope="CLOUDFRONT", region="eu-west-1"), Delta(add=(Entry("203.0.113.7/32"),)))

    assert regions == ["us-east-1"]
    assert vigil_sets(waf, "CLOUDFRONT") == {"vigil-v4-1": ["203.0.113.7/32"]}


def test_connection_test_lists_the_sets_to_reference(waf: Any) -> None:
    connector = AwsWafConnector(lambda region: waf)
    connector.apply(target(prefix="edge"), Delta(add=(Entry("203.0.113.7/32"), Entry("2001:db8::/32"))))

    result = connector.test(target(prefix="edge"))

    assert result.ok
    assert result.details == {"sets": {"edge-v4-1": 1, "edge-v6-1": 1}}
