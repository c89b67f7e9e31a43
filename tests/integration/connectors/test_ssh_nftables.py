"""The nftables connector over real SSH: one transaction per delta, idempotency, trust, and the allow-list.

Every test runs against the model backend and, where the machine allows it, real nft in a network namespace.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import paramiko
import pytest

from chalicelib.core.clock import FixedClock
from chalicelib.core.errors import InternalError
from chalicelib.distribution.connectors.base import Delta, Entry, TargetConfigurationError, TargetError
from chalicelib.distribution.connectors.ssh import NftablesConnector, allowed
from tests.integration.connectors.conftest import ssh_target
from tests.peers.ssh_firewall import ModelBackend, SshFirewallPeer, new_key, public_line

pytestmark = pytest.mark.integration

KIND = "ssh-nftables"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock("2026-11-24T10:00:00Z")


def listed(peer: SshFirewallPeer, name: str = "vigil4") -> list:
    status, out, _ = peer.backend.run("nft-list", _match(name), "")
    assert status == 0
    return json.loads(out)["nftables"][1]["set"].get("elem", [])


def scripts_succeeded(peer: SshFirewallPeer) -> bool:
    """Every `nft -f -` exited 0 (reads of a set not created yet exit 1, as nft does)."""
    return all(e.status == 0 for e in peer.executed if e.command.endswith("nft -f -"))


def _match(name: str):
    from tests.peers.ssh_firewall import COMMANDS  # noqa: PLC0415

    found = COMMANDS["nft-list"].fullmatch(f"nft -j list set inet vigil {name}")
    assert found
    return found


def test_a_delta_is_one_nft_transaction_with_timed_and_permanent_elements(
    ssh_peer: SshFirewallPeer, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    target = ssh_target(ssh_peer, KIND, vigil_key[0])
    connector = NftablesConnector(clock=clock)
    timed = Entry("203.0.113.7/32", clock.now() + timedelta(hours=1), "d1", "ssh")
    delta = Delta(add=(timed, Entry("198.51.100.0/24"), Entry("2001:db8::/48")))

    result = connector.apply(target, delta)

    scripts = ssh_peer.commands("nft-script")
    assert len(scripts) == 1
    assert (result.added, result.removed, result.unchanged) == (3, 0, 0)
    elements = listed(ssh_peer)
    assert {"prefix": {"addr": "198.51.100.0", "len": 24}} in elements  # permanent: no timeout
    [timed_element] = [e for e in elements if isinstance(e, dict) and "elem" in e]
    assert timed_element["elem"]["val"] == "203.0.113.7" and timed_element["elem"]["timeout"] == 3600
    assert connector.current(target) == {"203.0.113.7/32", "198.51.100.0/24", "2001:db8::/48"}

    mixed = connector.apply(target, Delta(add=(Entry("192.0.2.1/32"),), remove=(Entry("203.0.113.7/32"),)))

    assert len(ssh_peer.commands("nft-script")) == 2
    assert (mixed.added, mixed.removed) == (1, 1)
    assert connector.current(target) == {"192.0.2.1/32", "198.51.100.0/24", "2001:db8::/48"}


def test_the_same_delta_twice_leaves_the_same_state(
    ssh_peer: SshFirewallPeer, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    target = ssh_target(ssh_peer, KIND, vigil_key[0])
    connector = NftablesConnector(clock=clock)
    delta = Delta(
        add=(Entry("203.0.113.7/32", clock.now() + timedelta(minutes=5)), Entry("2001:db8::1/128")),
        remove=(Entry("192.0.2.99/32"),),
    )
    connector.apply(target, delta)
    before = connector.current(target)

    again = connector.apply(target, delta)

    assert (again.added, again.removed, again.unchanged) == (0, 0, 3)
    assert connector.current(target) == before
    assert scripts_succeeded(ssh_peer)


def test_removing_what_is_gone_or_inside_a_wider_ban_does_not_fail_the_transaction(
    ssh_peer: SshFirewallPeer, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    target = ssh_target(ssh_peer, KIND, vigil_key[0])
    connector = NftablesConnector(clock=clock)
    connector.apply(target, Delta(add=(Entry("198.51.100.0/24"),)))

    result = connector.apply(
        target,
        Delta(add=(Entry("203.0.113.7/32"),), remove=(Entry("198.51.100.7/32"), Entry("192.0.2.1/32"))),
    )

    assert (result.added, result.removed, result.unchanged) == (1, 0, 2)
    assert connector.current(target) == {"198.51.100.0/24", "203.0.113.7/32"}  # the /24 still blocks .7
    assert scripts_succeeded(ssh_peer)


def test_a_ban_inside_a_wider_one_counts_as_unchanged(
    ssh_peer: SshFirewallPeer, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    target = ssh_target(ssh_peer, KIND, vigil_key[0])
    connector = NftablesConnector(clock=clock)
    connector.apply(target, Delta(add=(Entry("198.51.100.0/24"),)))

    result = connector.apply(target, Delta(add=(Entry("198.51.100.7/32"),)))

    assert (result.added, result.unchanged) == (0, 1)


def test_only_allow_listed_commands_reach_the_host(
    ssh_peer: SshFirewallPeer, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    target = ssh_target(ssh_peer, KIND, vigil_key[0])
    connector = NftablesConnector(clock=clock)
    connector.test(target)
    connector.apply(target, Delta(add=(Entry("203.0.113.7/32"),), remove=(Entry("203.0.113.8/32"),)))
    connector.current(target)
    connector.setup(target)

    assert ssh_peer.refused == []
    assert ssh_peer.executed and all(allowed(e.command) for e in ssh_peer.executed)
    with connector.shell(target) as shell, pytest.raises(InternalError):
        shell.run("nft flush ruleset")
    assert "nft flush ruleset" not in ssh_peer.commands() and ssh_peer.refused == []


def test_names_that_are_not_plain_identifiers_are_refused_before_connecting(
    ssh_peer: SshFirewallPeer, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    target = ssh_target(ssh_peer, KIND, vigil_key[0], table="vigil; nft flush ruleset")

    with pytest.raises(TargetConfigurationError, match=r"settings\.table"):
        NftablesConnector(clock=clock).apply(target, Delta(add=(Entry("203.0.113.7/32"),)))
    assert ssh_peer.auth_attempts == 0 and ssh_peer.executed == []


def test_a_host_key_mismatch_is_refused_before_anything_is_sent(
    ssh_peer: SshFirewallPeer, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    target = ssh_target(ssh_peer, KIND, vigil_key[0], host_key=public_line(new_key()))

    with pytest.raises(TargetConfigurationError, match="host key mismatch") as raised:
        NftablesConnector(clock=clock).apply(target, Delta(add=(Entry("203.0.113.7/32"),)))
    tested = NftablesConnector(clock=clock).test(target)

    assert "SHA256:" in raised.value.message
    assert not tested.ok and "host key mismatch" in tested.message
    assert ssh_peer.auth_attempts == 0  # Vigil hung up before offering its key
    assert ssh_peer.executed == []


@pytest.mark.parametrize("make", [paramiko.ECDSAKey.generate, lambda: paramiko.RSAKey.generate(2048)])
def test_ecdsa_and_rsa_host_keys_are_pinned_too(
    make: Any, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    backend = ModelBackend()
    with SshFirewallPeer(backend, vigil_key[1], host_key=make()) as peer:
        connector = NftablesConnector(clock=clock)
        assert connector.test(ssh_target(peer, KIND, vigil_key[0])).ok
        other = ssh_target(peer, KIND, vigil_key[0], host_key=public_line(make()))
        assert "host key mismatch" in connector.test(other).message


def test_a_key_the_host_does_not_accept_is_a_configuration_error(ssh_peer: SshFirewallPeer, clock: FixedClock) -> None:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    target = ssh_target(ssh_peer, KIND, other.decode())

    with pytest.raises(TargetConfigurationError, match="refused Vigil's key"):
        NftablesConnector(clock=clock).current(target)
    assert ssh_peer.auth_attempts >= 1 and ssh_peer.executed == []


def test_a_host_that_is_down_is_a_retryable_error(
    ssh_peer: SshFirewallPeer, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    target = ssh_target(ssh_peer, KIND, vigil_key[0])
    ssh_peer.stop()

    with pytest.raises(TargetError):
        NftablesConnector(clock=clock, connect_timeout=2).apply(target, Delta(add=(Entry("203.0.113.7/32"),)))
    assert not NftablesConnector(clock=clock, connect_timeout=2).test(target).ok


def test_setup_installs_drop_rules_and_can_run_again(
    ssh_peer: SshFirewallPeer, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    target = ssh_target(ssh_peer, KIND, vigil_key[0], hooks=["input", "forward"])
    connector = NftablesConnector(clock=clock)

    connector.setup(target)
    connector.setup(target)
    connector.apply(target, Delta(add=(Entry("203.0.113.7/32"),)))

    assert scripts_succeeded(ssh_peer)
    if isinstance(ssh_peer.backend, ModelBackend):
        chains = ssh_peer.backend.nft.tables["vigil"].chains
        assert chains == {h: ["ip saddr @vigil4 drop", "ip6 saddr @vigil6 drop"] for h in ("input", "forward")}


def test_sudo_prefixes_every_command(
    ssh_peer: SshFirewallPeer, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    target = ssh_target(ssh_peer, KIND, vigil_key[0], sudo=True)

    NftablesConnector(clock=clock).apply(target, Delta(add=(Entry("203.0.113.7/32"),)))

    assert ssh_peer.commands() and all(c.startswith("sudo -n ") for c in ssh_peer.commands())


def test_a_timed_ban_expires_on_the_host(
    ssh_backend: object, vigil_key: tuple[str, paramiko.PKey], clock: FixedClock
) -> None:
    if not isinstance(ssh_backend, ModelBackend):
        pytest.skip("expiry is checked on the model, whose clock a test can move")
    with SshFirewallPeer(ssh_backend, vigil_key[1]) as peer:
        target = ssh_target(peer, KIND, vigil_key[0])
        connector = NftablesConnector(clock=clock)
        connector.apply(
            target, Delta(add=(Entry("203.0.113.7/32", clock.now() + timedelta(minutes=10)), Entry("192.0.2.1/32")))
        )
        ssh_backend.clock.advance(601)

        assert connector.current(target) == {"192.0.2.1/32"}
