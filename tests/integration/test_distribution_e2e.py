"""End to end on the `scripts/run` stack: a ban over HTTP reaches the S3 feed and a real SSH firewall peer; an
unban takes it out of both. The local driver delivers the change stream to the push function, as Lambda does."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import ed25519

from chalicelib.distribution.connectors.ssh import load_private_key
from tests.integration.conftest import Stack, admin_token, call
from tests.peers.ssh_firewall import ModelBackend, SshFirewallPeer, openssh_private_text

pytestmark = pytest.mark.integration
FEED_KEY = "feeds/all/plain.txt"


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"not true within {timeout:.0f} s")


def test_a_ban_reaches_the_feed_and_the_firewall_and_an_unban_leaves_both(stack: Stack) -> None:
    key_text = openssh_private_text(ed25519.Ed25519PrivateKey.generate())
    s3 = boto3.client(
        "s3", endpoint_url=stack.moto, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )
    with SshFirewallPeer(ModelBackend(), load_private_key(key_text)) as peer:
        token = admin_token(stack)
        status, _, body = call(
            "POST",
            stack.url("/api/v1/targets"),
            token=token,
            body={
                "name": "edge-e2e",
                "kind": "ssh-nftables",
                "address": peer.address,
                "settings": {"host_key": peer.host_key_line, "username": peer.username},
                "credentials": {"private_key": key_text},
            },
        )
        assert status == 201, body

        def scripts() -> list[str]:
            return [e.stdin for e in peer.executed if e.command.startswith("nft -f")]

        def firewall_has(address: str) -> bool:
            return any(address in script for script in scripts())

        status, _, body = call(
            "POST",
            stack.url("/api/v1/bans"),
            token=token,
            body={"ip": "203.0.113.77", "duration": "2h", "reason": "e2e"},
        )
        assert status == 201, body
        eventually(lambda: firewall_has("add element inet vigil vigil4 { 203.0.113.77"))

        def feed() -> tuple[str, str] | None:
            try:
                got = s3.get_object(Bucket="vigil-data", Key=FEED_KEY)
            except ClientError:
                return None
            return got["Body"].read().decode(), got["ETag"]

        # Feeds are published at most every 30 s (debounce) and the minute schedule catches up: allow 90 s.
        eventually(lambda: (found := feed()) is not None and "203.0.113.77" in found[0], timeout=90)
        _, etag = feed()  # type: ignore[misc]
        with pytest.raises(ClientError) as unchanged:
            s3.get_object(Bucket="vigil-data", Key=FEED_KEY, IfNoneMatch=etag)
        assert unchanged.value.response["Error"]["Code"] in ("304", "NotModified")

        status, _, _ = call("DELETE", stack.url("/api/v1/bans/203.0.113.77"), token=token)
        assert status == 200
        eventually(lambda: any("delete element" in s and "203.0.113.77" in s for s in scripts()))
        eventually(
            lambda: (found := feed()) is not None and "203.0.113.77" not in found[0] and found[1] != etag, timeout=90
        )
        status, _, body = call("GET", stack.url("/api/v1/feeds/all?format=plain"), token=token)
        assert status == 200 and b"203.0.113.77" not in body
        target = next(
            t
            for t in json.loads(call("GET", stack.url("/api/v1/targets"), token=token)[2])["data"]
            if t["name"] == "edge-e2e"
        )
        assert target["status"]["connected"] is True and target["status"]["applied_removed"] >= 1
