"""The ipset connector over real SSH: one restore per delta, timeouts, idempotency, limits."""

from __future__ import annotations

from datetime import timedelta

import paramiko
import pytest

from chalicelib.core.clock import FixedClock
from chalicelib.distribution.connectors.base import Delta, Entry, TargetConfigurationError
from chalicelib.distribution.connectors.ssh import IpsetConnector, allowed
from tests.integration.connectors.conftest import ssh_target
from tests.peers.ssh_firewall import COMMANDS, SshFirewallPeer

pytestmark = pytest.mark.integration

KIND = "ssh-ipset"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock("2026-11-24T10:00:00Z")


def saved(peer: SshFirewallPeer, name: str = "vigil4") -> dict[str, int]:
    """`ipset save` as {entry: timeout} straight from the host."""
    match = COMMANDS["ipset-save"].fullmatch(f"ipset save {name}")
    assert match
    status, out, _ = peer.backend.run("ipset-save", match, "")
    assert status == 0
    return {line.split()[2]: int(line.split()[4]) for line in out.splitlines() if line.startswith("add ")}


def test_a_delta_is_one_restore_with_timed_and_permanent_entries(
    ssh_peer: SshFirewallPeer, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    target = ssh_target(ssh_peer, KIND, vigil_key[0])
    connector = IpsetConnector(clock=clock)
    delta = Delta(
        add=(
            Entry("203.0.113.7/32", clock.now() + timedelta(hours=1)),
            Entry("198.51.100.0/24"),
            Entry("2001:db8::/48", clock.now() + timedelta(days=90)),
        ),
        remove=(Entry("192.0.2.1/32"),),
    )

    result = connector.apply(target, delta)

    assert len(ssh_peer.commands("ipset-restore")) == 1
    assert (result.added, result.removed, result.unchanged) == (3, 0, 1)
    v4 = saved(ssh_peer)
    assert v4["198.51.100.0/24"] == 0  # permanent
    assert 3590 <= v4["203.0.113.7"] <= 3600
    assert 2_147_400 <= saved(ssh_peer, "vigil6")["2001:db8::/48"] <= 2_147_483  # capped at ipset's maximum
    assert connector.current(target) == {"203.0.113.7/32", "198.51.100.0/24", "2001:db8::/48"}

    mixed = connector.apply(target, Delta(add=(Entry("192.0.2.1/32"),), remove=(Entry("203.0.113.7/32"),)))

    assert len(ssh_peer.commands("ipset-restore")) == 2
    assert (mixed.added, mixed.removed) == (1, 1)
    assert connector.current(target) == {"192.0.2.1/32", "198.51.100.0/24", "2001:db8::/48"}


def test_the_same_delta_twice_leaves_the_same_state_and_refreshes_timeouts(
    ssh_peer: SshFirewallPeer, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    target = ssh_target(ssh_peer, KIND, vigil_key[0])
    connector = IpsetConnector(clock=clock)
    delta = Delta(add=(Entry("203.0.113.7/32", clock.now() + timedelta(minutes=5)),), remove=(Entry("192.0.2.9/32"),))
    connector.apply(target, delta)
    clock.advance(minutes=-5)  # the same ban, now ten minutes long: re-adding refreshes the timeout

    again = connector.apply(target, delta)

    assert (again.added, again.removed, again.unchanged) == (0, 0, 2)
    assert 590 <= saved(ssh_peer)["203.0.113.7"] <= 600
    assert connector.current(target) == {"203.0.113.7/32"}


def test_entries_the_set_cannot_hold_are_reported_not_sent(
    ssh_peer: SshFirewallPeer, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    target = ssh_target(ssh_peer, KIND, vigil_key[0])
    expired = Entry("192.0.2.5/32", clock.now() - timedelta(seconds=1))

    result = IpsetConnector(clock=clock).apply(target, Delta(add=(Entry("0.0.0.0/0"), expired, Entry("192.0.2.6/32"))))

    assert result.skipped == ("0.0.0.0/0", "192.0.2.5/32")
    assert saved(ssh_peer) == {"192.0.2.6": 0}


def test_a_full_set_is_a_configuration_error(
    ssh_peer: SshFirewallPeer, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    target = ssh_target(ssh_peer, KIND, vigil_key[0], maxelem=2)
    entries = tuple(Entry(f"192.0.2.{i}/32") for i in range(1, 4))

    with pytest.raises(TargetConfigurationError, match="full"):
        IpsetConnector(clock=clock).apply(target, Delta(add=entries))


def test_only_allow_listed_commands_reach_the_host(
    ssh_peer: SshFirewallPeer, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    target = ssh_target(ssh_peer, KIND, vigil_key[0])
    connector = IpsetConnector(clock=clock)
    connector.setup(target)
    assert connector.test(target).ok
    connector.apply(target, Delta(add=(Entry("2001:db8::1/128"),), remove=(Entry("203.0.113.8/32"),)))
    connector.current(target)

    assert ssh_peer.refused == []
    assert all(allowed(e.command) for e in ssh_peer.executed)
    assert {c.split()[1] for c in ssh_peer.commands()} == {"restore", "save"}
