"""The netfilter model against the real nft and ipset: the same scripts, the same exit statuses, the same sets.

Runs where the kernel backend can (root, nft, ipset, network namespaces); this is what keeps the model honest for
the machines that can only run the model. Each step lists the behaviour it pins down.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.integration.connectors.conftest import kernel_available
from tests.peers.ssh_firewall import COMMANDS, Backend, KernelBackend, ModelBackend

pytestmark = pytest.mark.integration

DECLARE = """add table inet vigil
add set inet vigil vigil4 { type ipv4_addr; flags interval, timeout; auto-merge; }
add set inet vigil vigil6 { type ipv6_addr; flags interval, timeout; auto-merge; }
"""
NFT_STEPS = [
    (
        "declare and add",
        DECLARE + "add element inet vigil vigil4 { 203.0.113.7 timeout 3600s, 198.51.100.0/24 }\n"
        "add element inet vigil vigil6 { 2001:db8::/48 timeout 60s, 2001:db8:1::1 }\n",
    ),
    ("declaring again is a no-op", DECLARE),
    ("re-adding refreshes the timeout", "add element inet vigil vigil4 { 203.0.113.7 timeout 7200s }\n"),
    ("re-adding without a timeout makes it permanent", "add element inet vigil vigil4 { 203.0.113.7 }\n"),
    ("an address inside a prefix is absorbed", "add element inet vigil vigil4 { 198.51.100.7 timeout 60s }\n"),
    ("adjacent networks merge", "add element inet vigil vigil4 { 10.0.0.0/25, 10.0.0.128/25 timeout 60s }\n"),
    (
        "a wider timed element over a permanent one keeps its timeout",
        "add element inet vigil vigil4 { 10.7.0.5 }\nadd element inet vigil vigil4 { 10.7.0.0/24 timeout 60s }\n",
    ),
    ("two separate hosts side by side become a range", "add element inet vigil vigil4 { 10.5.0.1, 10.5.0.2 }\n"),
    (
        "deleting a missing element fails the whole transaction",
        "add element inet vigil vigil4 { 192.0.2.77 }\ndelete element inet vigil vigil4 { 192.0.2.78 }\n",
    ),
    (
        "add then delete of an absent element succeeds",
        "add element inet vigil vigil4 { 192.0.2.9 }\ndelete element inet vigil vigil4 { 192.0.2.9 }\n",
    ),
    (
        "add then delete of an existing element fails on auto-merge sets",
        "add element inet vigil vigil4 { 203.0.113.7 }\ndelete element inet vigil vigil4 { 203.0.113.7 }\n",
    ),
    ("deleting part of a merged interval fails", "delete element inet vigil vigil4 { 10.5.0.1 }\n"),
    ("a merged prefix can be deleted whole", "delete element inet vigil vigil4 { 10.0.0.0/24 }\n"),
    ("timeouts from 100,000,000 s are refused", "add element inet vigil vigil4 { 192.0.2.50 timeout 100000000s }\n"),
    ("a plain delete of an existing element works", "delete element inet vigil vigil4 { 203.0.113.7 }\n"),
]
IPSET_STEPS = [
    (
        "create and add",
        "create vigil4 hash:net family inet timeout 0 maxelem 4\n"
        "create vigil6 hash:net family inet6 timeout 0 maxelem 4\nadd vigil4 203.0.113.7 timeout 3600\n"
        "add vigil4 198.51.100.0/24 timeout 0\nadd vigil6 2001:db8::/48 timeout 60\n",
    ),
    (
        "create again and refresh",
        "create vigil4 hash:net family inet timeout 0 maxelem 4\n"
        "add vigil4 203.0.113.7 timeout 0\ndel vigil4 192.0.2.55\n",
    ),
    ("a host inside a network is its own entry", "add vigil4 198.51.100.7 timeout 0\n"),
    ("/0 is refused", "add vigil4 0.0.0.0/0 timeout 0\n"),
    ("timeouts over 2147483 are refused", "add vigil4 192.0.2.1 timeout 2147484\n"),
    (
        "a full set stops the restore, earlier lines stay",
        "add vigil4 192.0.2.1 timeout 0\nadd vigil4 192.0.2.2 timeout 0\nadd vigil4 192.0.2.3 timeout 0\n",
    ),
    ("another maxelem for an existing set is refused", "create vigil4 hash:net family inet timeout 0 maxelem 8\n"),
]


@pytest.fixture
def backends() -> Iterator[tuple[Backend, Backend]]:
    if not kernel_available():
        pytest.skip("needs root, nft, ipset and network namespaces")
    kernel, model = KernelBackend(), ModelBackend()
    yield kernel, model
    kernel.close()


def nft_state(backend: Backend) -> dict[str, list]:
    state = {}
    for name in ("vigil4", "vigil6"):
        match = COMMANDS["nft-list"].fullmatch(f"nft -j list set inet vigil {name}")
        assert match
        status, out, _ = backend.run("nft-list", match, "")
        elements = json.loads(out)["nftables"][1]["set"].get("elem", []) if status == 0 else None
        state[name] = [_without_expiry(e) for e in elements] if elements is not None else None
    return state


def _without_expiry(element: object) -> object:
    if isinstance(element, dict) and "elem" in element:
        return {"val": element["elem"]["val"], "timeout": element["elem"]["timeout"]}
    return element


def ipset_state(backend: Backend) -> dict[str, dict[str, bool] | None]:
    state: dict[str, dict[str, bool] | None] = {}
    for name in ("vigil4", "vigil6"):
        match = COMMANDS["ipset-save"].fullmatch(f"ipset save {name}")
        assert match
        status, out, _ = backend.run("ipset-save", match, "")
        lines = [line.split() for line in out.splitlines() if line.startswith("add ")]
        state[name] = {fields[2]: fields[4] != "0" for fields in lines} if status == 0 else None
    return state


def test_nft_model_matches_the_kernel(backends: tuple[Backend, Backend]) -> None:
    kernel, model = backends
    script = COMMANDS["nft-script"].fullmatch("nft -f -")
    assert script
    for step, text in NFT_STEPS:
        kernel_status = kernel.run("nft-script", script, text)[0]
        model_status = model.run("nft-script", script, text)[0]
        assert (step, model_status) == (step, kernel_status)
        assert (step, nft_state(model)) == (step, nft_state(kernel))


def test_ipset_model_matches_the_kernel(backends: tuple[Backend, Backend]) -> None:
    kernel, model = backends
    restore = COMMANDS["ipset-restore"].fullmatch("ipset restore -exist")
    assert restore
    for step, text in IPSET_STEPS:
        kernel_status = kernel.run("ipset-restore", restore, text)[0]
        model_status = model.run("ipset-restore", restore, text)[0]
        assert (step, model_status) == (step, kernel_status)
        assert (step, ipset_state(model)) == (step, ipset_state(kernel))
