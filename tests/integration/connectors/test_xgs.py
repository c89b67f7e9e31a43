"""The Sophos XGS connector against the HTTPS XML API peer: batching, idempotency, reading back, failures."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from chalicelib.core.clock import FixedClock
from chalicelib.distribution.connectors.base import Delta, Entry, TargetConfigurationError, TargetError
from chalicelib.distribution.connectors.xgs import XgsConnector
from tests.integration.connectors.conftest import XGS_PASSWORD, xgs_target
from tests.peers.sophos_xgs import Host, SophosXgsPeer
from tests.peers.tls import Certificates

pytestmark = pytest.mark.integration

GROUP = "VIGIL-BLOCK"


def test_a_delta_costs_one_group_update_and_hosts_leave_before_they_are_deleted(
    xgs_peer: SophosXgsPeer, certificates: Certificates
) -> None:
    target = xgs_target(xgs_peer, certificates)
    connector = XgsConnector()

    first = connector.apply(
        target, Delta(add=(Entry("203.0.113.7/32"), Entry("198.51.100.0/24"), Entry("2001:db8::1/128")))
    )
    assert (first.added, first.removed, first.skipped) == (2, 0, ("2001:db8::1/128",))
    assert xgs_peer.members(GROUP) == ["vigil-198.51.100.0-24", "vigil-203.0.113.7"]
    assert xgs_peer.hosts["vigil-198.51.100.0-24"].subnet == "255.255.255.0"
    assert xgs_peer.group_writes() == 1

    second = connector.apply(target, Delta(add=(Entry("192.0.2.10/32"),), remove=(Entry("203.0.113.7/32"),)))
    assert (second.added, second.removed, second.unchanged) == (1, 1, 0)
    assert xgs_peer.group_writes() == 2  # one membership rewrite for the whole delta
    assert xgs_peer.members(GROUP) == ["vigil-198.51.100.0-24", "vigil-192.0.2.10"]
    assert "vigil-203.0.113.7" not in xgs_peer.hosts  # deleted after it left the group (the peer refuses otherwise)
    assert second.requests == 4  # get group, add hosts, update group, remove hosts


def test_many_hosts_travel_in_few_requests(xgs_peer: SophosXgsPeer, certificates: Certificates) -> None:
    target = xgs_target(xgs_peer, certificates)
    entries = tuple(Entry(f"198.51.100.{i}/32") for i in range(120))

    result = XgsConnector(batch_size=50).apply(target, Delta(add=entries))

    adds_per_request = [
        sum(1 for op in r.operations if op[0] == "set-add" and op[1] == "IPHost") for r in xgs_peer.requests
    ]
    assert sorted(n for n in adds_per_request if n) == [20, 50, 50]
    assert xgs_peer.group_writes() == 1
    assert result.added == 120 and result.requests == 5
    assert len(xgs_peer.members(GROUP)) == 120


def test_the_same_delta_twice_changes_nothing_the_second_time(
    xgs_peer: SophosXgsPeer, certificates: Certificates
) -> None:
    target = xgs_target(xgs_peer, certificates)
    connector = XgsConnector()
    delta = Delta(add=(Entry("203.0.113.7/32"), Entry("198.51.100.0/24")), remove=(Entry("192.0.2.1/32"),))
    connector.apply(target, delta)
    members, writes = xgs_peer.members(GROUP), xgs_peer.group_writes()

    again = connector.apply(target, delta)

    assert (again.added, again.removed, again.unchanged) == (0, 0, 3)
    assert xgs_peer.members(GROUP) == members
    assert xgs_peer.group_writes() == writes  # nothing to write: no request beyond the read
    assert again.requests == 1


def test_timed_bans_are_pushed_as_plain_hosts(xgs_peer: SophosXgsPeer, certificates: Certificates) -> None:
    """IP hosts have no expiry: a timed ban is a host until the push removes it when the decision ends."""
    until = FixedClock("2026-11-24T10:00:00Z").now() + timedelta(hours=1)
    target = xgs_target(xgs_peer, certificates)

    result = XgsConnector().apply(target, Delta(add=(Entry("203.0.113.7/32", until, "d1", "ssh brute force"),)))

    assert result.added == 1
    assert xgs_peer.hosts["vigil-203.0.113.7"].description == "vigil ssh brute force"


def test_current_reads_the_group_back_including_hosts_vigil_did_not_name(
    xgs_peer: SophosXgsPeer, certificates: Certificates
) -> None:
    target = xgs_target(xgs_peer, certificates)
    connector = XgsConnector()
    connector.apply(target, Delta(add=(Entry("203.0.113.7/32"), Entry("198.51.100.0/25"))))
    xgs_peer.hosts["office-net"] = Host("office-net", "IPv4", "Network", "192.0.2.0", "255.255.255.0")
    xgs_peer.groups[GROUP].hosts.append("office-net")

    assert connector.current(target) == {"203.0.113.7/32", "198.51.100.0/25", "192.0.2.0/24"}


def test_an_administrators_host_with_the_same_address_joins_and_is_never_deleted(
    xgs_peer: SophosXgsPeer, certificates: Certificates
) -> None:
    xgs_peer.hosts["scanner"] = Host("scanner", "IPv4", "IP", "203.0.113.9")
    target = xgs_target(xgs_peer, certificates)
    connector = XgsConnector()

    added = connector.apply(target, Delta(add=(Entry("203.0.113.9/32"),)))
    assert added.added == 1
    assert xgs_peer.members(GROUP) == ["scanner"]  # the firewall answered 503: same details exist
    assert connector.current(target) == {"203.0.113.9/32"}

    removed = connector.apply(target, Delta(remove=(Entry("203.0.113.9/32"),)))
    assert removed.removed == 1
    assert xgs_peer.members(GROUP) == []
    assert "scanner" in xgs_peer.hosts
    assert xgs_peer.operations("remove") == []


def test_a_host_left_over_by_an_interrupted_push_is_reused(xgs_peer: SophosXgsPeer, certificates: Certificates) -> None:
    xgs_peer.hosts["vigil-192.0.2.50"] = Host("vigil-192.0.2.50", "IPv4", "IP", "192.0.2.50")
    target = xgs_target(xgs_peer, certificates)

    result = XgsConnector().apply(target, Delta(add=(Entry("192.0.2.50/32"),)))

    assert result.added == 1  # 502 (name exists) counts as present, and the host joins
    assert xgs_peer.members(GROUP) == ["vigil-192.0.2.50"]


def test_statuses_are_matched_by_position_when_the_firewall_echoes_no_transaction_id(
    xgs_peer: SophosXgsPeer, certificates: Certificates
) -> None:
    xgs_peer.echo_transaction_ids = False
    xgs_peer.hosts["vigil-192.0.2.2"] = Host("vigil-192.0.2.2", "IPv4", "IP", "192.0.2.2")
    target = xgs_target(xgs_peer, certificates)

    result = XgsConnector().apply(target, Delta(add=(Entry("192.0.2.1/32"), Entry("192.0.2.2/32"))))

    assert result.added == 2
    assert xgs_peer.members(GROUP) == ["vigil-192.0.2.1", "vigil-192.0.2.2"]


def test_connection_test_passes_and_changes_nothing(xgs_peer: SophosXgsPeer, certificates: Certificates) -> None:
    target = xgs_target(xgs_peer, certificates)

    result = XgsConnector().test(target)

    assert result.ok, result.message
    assert xgs_peer.operations("set-add") == [] and GROUP not in xgs_peer.groups


def test_a_wrong_password_is_a_configuration_error_that_does_not_repeat_the_password(
    xgs_peer: SophosXgsPeer, certificates: Certificates
) -> None:
    target = xgs_target(xgs_peer, certificates, password="wrong-password-123")

    with pytest.raises(TargetConfigurationError) as raised:
        XgsConnector().apply(target, Delta(add=(Entry("203.0.113.7/32"),)))
    tested = XgsConnector().test(target)

    assert "password" in raised.value.message and "wrong-password-123" not in str(raised.value)
    assert not tested.ok and tested.details == {"retryable": False}
    assert xgs_peer.hosts == {}


@pytest.mark.parametrize(("switch", "code"), [("caller_allowed", "534"), ("api_enabled", "532")])
def test_api_refusals_are_configuration_errors(
    xgs_peer: SophosXgsPeer, certificates: Certificates, switch: str, code: str
) -> None:
    setattr(xgs_peer, switch, False)

    with pytest.raises(TargetConfigurationError, match=code):
        XgsConnector().apply(xgs_target(xgs_peer, certificates), Delta(add=(Entry("203.0.113.7/32"),)))


def test_a_firewall_that_is_down_is_a_retryable_error(xgs_peer: SophosXgsPeer, certificates: Certificates) -> None:
    target = xgs_target(xgs_peer, certificates)
    xgs_peer.stop()

    with pytest.raises(TargetError, match="unreachable"):
        XgsConnector().apply(target, Delta(add=(Entry("203.0.113.7/32"),)))

    xgs_peer.start()
    assert XgsConnector().apply(target, Delta(add=(Entry("203.0.113.7/32"),))).added == 1


def test_a_firewall_slower_than_the_timeout_is_a_retryable_error(
    xgs_peer: SophosXgsPeer, certificates: Certificates
) -> None:
    xgs_peer.delay = 1.5

    with pytest.raises(TargetError, match="ReadTimeout"):
        XgsConnector(timeout=httpx.Timeout(0.5)).apply(
            xgs_target(xgs_peer, certificates), Delta(add=(Entry("203.0.113.7/32"),))
        )


def test_tls_trust_is_pinned_to_the_target_certificate(xgs_peer: SophosXgsPeer, certificates: Certificates) -> None:
    connector = XgsConnector()
    unpinned = xgs_target(xgs_peer, certificates, ca_pem="")
    leaf_pinned = xgs_target(xgs_peer, certificates, ca_pem=certificates.cert_pem)
    unverified = xgs_target(xgs_peer, certificates, ca_pem="", verify_tls=False)

    with pytest.raises(TargetConfigurationError, match="certificate"):
        connector.current(unpinned)
    assert connector.test(leaf_pinned).ok
    assert connector.test(unverified).ok
    assert XGS_PASSWORD not in repr(connector.test(unpinned))
