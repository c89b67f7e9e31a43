"""Benchmark: pushing 10,000 new bans to each kind of firewall peer on loopback.

Why it exists: a push must cost few round trips whatever its size (the firewall recompiles its policy on each
write, SSH commands and AWS calls are slow and rate-limited). The goals: one nftables transaction and one ipset
restore per batch, one Sophos group update per batch, at most ceil(N / 10,000) AWS WAF IP sets per family.
Prints a markdown table: requests (API calls or SSH commands, reads included), writes (what changed the target)
and wall time, per connector.

    .venv/bin/python -m bench.push_bench                # 10,000 bans
    .venv/bin/python -m bench.push_bench --bans 2000    # smaller

Peers are the test peers (tests/peers): the Sophos XML API over HTTPS, an SSH server running real nft and ipset
in a private network namespace when this machine allows it (root) and the in-memory model otherwise (both rows
are printed when both exist), moto's in-process wafv2, and a webhook receiver. Times include the peer's own
work, all on this machine, so they compare connectors, not real firewalls.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import boto3
from cryptography.hazmat.primitives.asymmetric import ed25519
from moto import mock_aws

from chalicelib.core.clock import FixedClock
from chalicelib.distribution.connectors.awswaf import CAPACITY, AwsWafConnector
from chalicelib.distribution.connectors.base import ApplyResult, Delta, Entry, Target
from chalicelib.distribution.connectors.ssh import IpsetConnector, NftablesConnector, load_private_key
from chalicelib.distribution.connectors.webhook import WebhookConnector
from chalicelib.distribution.connectors.xgs import XgsConnector
from tests.peers.sophos_xgs import SophosXgsPeer
from tests.peers.ssh_firewall import KernelBackend, ModelBackend, SshFirewallPeer, openssh_private_text
from tests.peers.tls import make_certificates
from tests.peers.webhook_receiver import WebhookReceiver

Row = tuple[str, str, int, str, str, float]


def bans(count: int, version: int = 4, start: int = 0) -> tuple[Entry, ...]:
    """`count` hosts, every other address from 10.0.0.0 (IPv4) or 2001:db8:: (IPv6), one in four timed.

    Every other address, because nftables' auto-merge would fold neighbours into one interval element.
    """
    clock = FixedClock("2026-11-24T10:00:00Z")
    base = int(ipaddress.ip_address("10.0.0.0" if version == 4 else "2001:db8::"))
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    suffix = 32 if version == 4 else 128
    return tuple(
        Entry(f"{make(base + 2 * (start + i))}/{suffix}", clock.now().replace(hour=12) if i % 4 == 0 else None, f"d{i}")
        for i in range(count)
    )


def timed(push: Callable[[], ApplyResult]) -> tuple[ApplyResult, float]:
    started = time.perf_counter()
    result = push()
    return result, time.perf_counter() - started


def bench_xgs(count: int, folder: Path) -> Row:
    certificates = make_certificates(folder / "xgs")
    with SophosXgsPeer(certificates, password="bench-password") as peer:
        target = Target(
            "b",
            "xgs",
            "sophos-xgs",
            peer.address,
            {"ca_pem": certificates.ca_pem},
            {"username": "vigil-api", "password": "bench-password"},
        )
        result, seconds = timed(lambda: XgsConnector().apply(target, Delta(add=bans(count))))
        adds = sum(1 for r in peer.requests if any(op[0] == "set-add" and op[1] == "IPHost" for op in r.operations))
        writes = f"{adds} host batches + {peer.group_writes()} group update"
        assert len(peer.members("VIGIL-BLOCK")) == count
    return (
        "Sophos XGS (XML API, 500 hosts/request)",
        "HTTPS",
        result.requests,
        writes,
        f"{result.added} hosts",
        seconds,
    )


def bench_ssh(count: int, kind: str, backend_name: str) -> Row:
    text = openssh_private_text(ed25519.Ed25519PrivateKey.generate())
    backend = KernelBackend() if backend_name == "kernel" else ModelBackend()
    connector_type = NftablesConnector if kind == "ssh-nftables" else IpsetConnector
    try:
        with SshFirewallPeer(backend, load_private_key(text)) as peer:
            target = Target(
                "b",
                "host",
                kind,
                peer.address,
                {"host_key": peer.host_key_line, "username": "vigil"},
                {"private_key": text},
            )
            connector = connector_type(clock=FixedClock("2026-11-24T10:00:00Z"))
            result, seconds = timed(lambda: connector.apply(target, Delta(add=bans(count))))
            writes = len(peer.commands("nft-script" if kind == "ssh-nftables" else "ipset-restore"))
            held = len(connector.current(target))
            assert held == count, held
    finally:
        backend.close()
    tool = "nftables" if kind == "ssh-nftables" else "ipset"
    noun = "nft -f - transaction" if kind == "ssh-nftables" else "ipset restore"
    return (
        f"{tool} over SSH ({backend_name})",
        "SSH",
        result.requests,
        f"{writes} {noun}",
        f"{result.added} elements",
        seconds,
    )


def bench_waf(count: int, v6: int = 0) -> Row:
    with mock_aws():
        client = boto3.client("wafv2", region_name="us-east-1")
        target = Target("b", "waf", "aws-waf", "", {"scope": "REGIONAL", "region": "us-east-1"}, {})
        delta = Delta(add=bans(count) + bans(v6, version=6))
        result, seconds = timed(lambda: AwsWafConnector(lambda region: client).apply(target, delta))
        sets = client.list_ip_sets(Scope="REGIONAL", Limit=100)["IPSets"]
        sizes = {
            s["Name"]: len(client.get_ip_set(Name=s["Name"], Scope="REGIONAL", Id=s["Id"])["IPSet"]["Addresses"])
            for s in sets
        }
    v4_sets = sum(1 for name in sizes if "-v4-" in name)
    v6_sets = sum(1 for name in sizes if "-v6-" in name)
    assert v4_sets <= math.ceil(count / CAPACITY) and v6_sets <= math.ceil(v6 / CAPACITY)
    assert max(sizes.values()) <= CAPACITY
    label = f"AWS WAF ({count:,} v4" + (f" + {v6:,} v6)" if v6 else ")")
    writes = f"{v4_sets} v4 + {v6_sets} v6 sets (largest {max(sizes.values()):,})"
    return (label, "moto wafv2", result.requests, writes, f"{result.added} addresses", seconds)


def bench_webhook(count: int) -> Row:
    secret = "bench-secret-0123456789"
    with WebhookReceiver(secret) as receiver:
        target = Target("b", "hook", "webhook", receiver.url(), {"allow_private": True}, {"secret": secret})
        connector = WebhookConnector(allow_loopback=True)
        result, seconds = timed(lambda: connector.apply(target, Delta(add=bans(count))))
        assert receiver.deliveries[-1].verified
        size = len(receiver.deliveries[-1].body)
    return ("Webhook (signed JSON)", "HTTP", result.requests, "1 POST", f"{size / 1e6:.1f} MB body", seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bans", type=int, default=10_000, help="new bans per push (default 10,000)")
    parser.add_argument("--no-kernel", action="store_true", help="skip real nft/ipset even when available")
    args = parser.parse_args(argv)
    count = args.bans
    backends = ["model"] + (["kernel"] if not args.no_kernel and KernelBackend.available() else [])
    with tempfile.TemporaryDirectory() as folder:
        rows = [bench_xgs(count, Path(folder))]
    for backend in backends:
        rows += [bench_ssh(count, "ssh-nftables", backend), bench_ssh(count, "ssh-ipset", backend)]
    rows += [bench_waf(count), bench_waf(count * 5 // 2, count // 2), bench_webhook(count)]
    command = shlex.join(["python", "-m", "bench.push_bench", *(argv if argv is not None else sys.argv[1:])])
    print(f"`{command}` on Python {platform.python_version()}, {count:,} new bans per push\n")
    print("| Connector | Transport | Requests | Writes | Applied | Seconds |")
    print("|---|---|---:|---|---:|---:|")
    for name, transport, requests, writes, applied, seconds in rows:
        print(f"| {name} | {transport} | {requests} | {writes} | {applied} | {seconds:.2f} |")
    print("\nRequests: API calls or SSH commands, reads included (SSH: one read per touched set, then one write).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
