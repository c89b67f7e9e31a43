"""Real peers for the connector tests, each started on 127.0.0.1 for one test and stopped after it.

SSH tests run once per backend: `model` everywhere, `kernel` (real nft and ipset in a private network namespace)
where this machine allows it, skipped elsewhere with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import boto3
import paramiko
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from moto import mock_aws

from chalicelib.distribution.connectors.base import Target
from chalicelib.distribution.connectors.ssh import load_private_key
from tests.peers.sophos_xgs import SophosXgsPeer
from tests.peers.ssh_firewall import Backend, KernelBackend, ModelBackend, SshFirewallPeer, openssh_private_text
from tests.peers.tls import Certificates, make_certificates

XGS_USER = "vigil-api"
XGS_PASSWORD = 'pa<ss>&"word'  # characters that must be escaped in XML


@lru_cache(maxsize=1)
def kernel_available() -> bool:
    return KernelBackend.available()


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path / "tls")


@pytest.fixture
def xgs_peer(certificates: Certificates) -> Iterator[SophosXgsPeer]:
    with SophosXgsPeer(certificates, username=XGS_USER, password=XGS_PASSWORD) as peer:
        yield peer


def xgs_target(peer: SophosXgsPeer, certificates: Certificates, *, password: str = XGS_PASSWORD, **settings) -> Target:
    return Target(
        "xgs-1",
        "branch-office",
        "sophos-xgs",
        peer.address,
        {"ca_pem": certificates.ca_pem, **settings},
        {"username": XGS_USER, "password": password},
    )


@pytest.fixture(params=["model", "kernel"])
def ssh_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "kernel":
        if not kernel_available():
            pytest.skip("the kernel backend needs root, nft, ipset and network namespaces")
        backend: Backend = KernelBackend()
    else:
        backend = ModelBackend()
    yield backend
    backend.close()


@pytest.fixture
def vigil_key() -> tuple[str, paramiko.PKey]:
    """Vigil's private key as the secret text a target holds, and as paramiko loads it."""
    text = openssh_private_text(ed25519.Ed25519PrivateKey.generate())
    return text, load_private_key(text)


@pytest.fixture
def ssh_peer(ssh_backend: Backend, vigil_key: tuple[str, paramiko.PKey]) -> Iterator[SshFirewallPeer]:
    with SshFirewallPeer(ssh_backend, vigil_key[1]) as peer:
        yield peer


def ssh_target(peer: SshFirewallPeer, kind: str, key_text: str, **settings) -> Target:
    return Target(
        "ssh-1",
        "edge-host",
        kind,
        peer.address,
        {"host_key": peer.host_key_line, "username": peer.username, **settings},
        {"private_key": key_text},
    )


@pytest.fixture
def waf() -> Iterator[object]:
    """A wafv2 client on moto's in-process AWS."""
    with mock_aws():
        yield boto3.client("wafv2", region_name="us-east-1")
