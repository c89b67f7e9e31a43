"""AWS WAF (wafv2) IP sets: Vigil's bans spread over as few sets as the 10,000-address limit allows.

An IP set holds one address family and at most 10,000 CIDRs (AWS: "An IP set can hold up to 10,000 IP addresses or
IP address ranges"; all ranges except /0; a host is written /32 or /128). Vigil keeps its bans in sets named
`<prefix>-v4-<n>` and `<prefix>-v6-<n>` (`settings["prefix"]`, default `vigil`), found by listing the scope's sets
and created on demand. A web ACL rule must reference each set (an OR of IP set references); the connector does not
edit web ACLs, so `test()` lists the sets to reference.

`UpdateIPSet` replaces a set's whole address list and carries the `LockToken` of the `GetIPSet` it was computed
from; when someone else wrote in between, AWS answers `WAFOptimisticLockException` and the connector reads that
set again, recomputes the same change on the fresh list and retries with backoff (`sleep` is injected).

`plan_shards` decides, per family, what each set gains and loses so that N addresses use ceil(N / 10,000) sets:
new addresses fill the lowest-numbered sets first, and addresses in sets beyond the ones needed move down. Sets
that gain are written before sets that lose, so a moving address is never absent from every set. Emptied sets are
kept (a set referenced by a rule cannot be deleted) and hold nothing.
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.distribution.connectors.base import (
    ApplyResult,
    Delta,
    Target,
    TargetConfigurationError,
    TargetError,
    TestResult,
)

KIND = "aws-waf"
CAPACITY = 10_000
PREFIX = re.compile(r"[A-Za-z0-9_-]{1,100}")
_NOT_RETRYABLE = {
    "AccessDeniedException",
    "WAFLimitsExceededException",
    "WAFInvalidParameterException",
    "WAFInvalidOperationException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
}
WafClientFor = Callable[[str | None], Any]


@dataclass(frozen=True)
class ShardChange:
    """What one set gains and loses; `create` when the set does not exist yet."""

    number: int
    gain: frozenset[str] = frozenset()
    lose: frozenset[str] = frozenset()
    create: bool = False


def plan_shards(
    current: Mapping[int, Iterable[str]], adds: Iterable[str], removes: Iterable[str], capacity: int = CAPACITY
) -> list[ShardChange]:
    """The changes that hold `current - removes + adds` in ceil(N / capacity) sets, gaining sets first."""
    held = {number: set(addresses) for number, addresses in current.items()}
    removing = set(removes)
    everything = set().union(*held.values()) if held else set()
    wanted = (everything - removing) | set(adds)
    needed = math.ceil(len(wanted) / capacity)
    numbers = sorted(held)
    keep = numbers[:needed]
    next_number = (numbers[-1] if numbers else 0) + 1
    while len(keep) < needed:
        keep.append(next_number)
        next_number += 1
    placed: set[str] = set()
    lose: dict[int, set[str]] = {}
    for number in keep:
        addresses = held.get(number, set())
        # Why duplicates are dropped: a move interrupted earlier can leave one address in two sets.
        lose[number] = (addresses & removing) | (addresses & placed)
        placed |= addresses - removing
    waiting = sorted(wanted - placed)
    gain: dict[int, set[str]] = {}
    for number in keep:
        room = capacity - (len(held.get(number, set())) - len(lose[number]))
        gain[number], waiting = set(waiting[:room]), waiting[room:]
    changes = [
        ShardChange(n, frozenset(gain[n]), frozenset(lose[n]), create=n not in held)
        for n in keep
        if gain[n] or lose[n] or n not in held
    ]
    changes += [ShardChange(n, lose=frozenset(held[n])) for n in numbers[needed:] if held[n]]
    return changes


def set_name(prefix: str, version: int, number: int) -> str:
    """`vigil-v4-1`: the name of one of Vigil's IP sets."""
    return f"{prefix}-v{version}-{number}"


def set_description(version: int, number: int) -> str:
    """The description of a set Vigil creates (AWS allows letters, digits, spaces and `+=:#@/-,.`)."""
    return f"Vigil bans, IPv{version} set {number}, managed by Vigil"


def normalise(address: str) -> str:
    """A CIDR in the one form Vigil compares: `203.0.113.7/32`, `2001:db8::/48`."""
    return str(ipaddress.ip_network(address, strict=False))


@dataclass
class _Shard:
    number: int
    name: str
    id: str
    lock: str
    description: str
    addresses: set[str] = field(default_factory=set)


class _Calls:
    """The wafv2 client for one target's scope, counting calls and translating AWS errors."""

    def __init__(self, client: Any, scope: str) -> None:
        self.client = client
        self.scope = scope
        self.count = 0

    def __call__(self, operation: str, **params: Any) -> dict[str, Any]:
        self.count += 1
        try:
            return getattr(self.client, operation)(Scope=self.scope, **params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "WAFOptimisticLockException":
                raise
            if code in _NOT_RETRYABLE:
                raise TargetConfigurationError(f"AWS WAF refused {operation}: {code}") from None
            raise TargetError(f"AWS WAF {operation} failed: {code or 'error'}") from None
        except BotoCoreError as exc:
            raise TargetError(f"AWS WAF {operation} failed: {type(exc).__name__}") from None


class AwsWafConnector:
    """Pushes bans to AWS WAF IP sets; `client_for(region)` returns a boto3 `wafv2` client."""

    kind = KIND
    reconcilable = True

    def __init__(
        self,
        client_for: WafClientFor,
        *,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 5,
        base_delay: float = 0.5,
        capacity: int = CAPACITY,
    ) -> None:
        self._client_for = client_for
        self._sleep = sleep
        self._attempts = attempts
        self._base_delay = base_delay
        self._capacity = capacity

    def apply(self, target: Target, delta: Delta) -> ApplyResult:
        """Per family: read Vigil's sets, plan, then create and update sets (gaining ones first)."""
        calls, prefix = self._calls(target)
        added = removed = unchanged = 0
        skipped: list[str] = []
        for version in (4, 6):
            adds = self._family(delta.add, version, skipped)
            removes = self._family(delta.remove, version, [])
            if not adds and not removes:
                continue
            shards = self._shards(calls, prefix, version)
            everything = set().union(*(s.addresses for s in shards.values())) if shards else set()
            added += len(adds - everything)
            removed += len(removes & everything)
            unchanged += len(adds & everything) + len(removes - everything)
            current = {number: shard.addresses for number, shard in shards.items()}
            for change in plan_shards(current, adds - removes, removes, self._capacity):
                self._write(calls, prefix, version, shards.get(change.number), change)
        return ApplyResult(added, removed, unchanged, calls.count, tuple(skipped))

    def current(self, target: Target) -> set[str]:
        """Every address in Vigil's sets, both families."""
        calls, prefix = self._calls(target)
        found: set[str] = set()
        for version in (4, 6):
            for shard in self._shards(calls, prefix, version).values():
                found |= shard.addresses
        return found

    def test(self, target: Target) -> TestResult:
        """List and read Vigil's sets: proves the credentials, the scope and read rights."""
        try:
            calls, prefix = self._calls(target)
            sets = {s.name: len(s.addresses) for v in (4, 6) for s in self._shards(calls, prefix, v).values()}
        except (TargetError, TargetConfigurationError) as exc:
            return TestResult(False, exc.message, {"retryable": isinstance(exc, TargetError)})
        message = f"connected; {len(sets)} Vigil IP sets (reference each from a web ACL rule)"
        return TestResult(True, message, {"sets": sets})

    def _calls(self, target: Target) -> tuple[_Calls, str]:
        scope = str(target.settings.get("scope") or "REGIONAL").upper()
        if scope not in ("REGIONAL", "CLOUDFRONT"):
            raise TargetConfigurationError("settings.scope must be REGIONAL or CLOUDFRONT")
        prefix = str(target.settings.get("prefix") or "vigil")
        if not PREFIX.fullmatch(prefix):
            raise TargetConfigurationError("settings.prefix must be 1-100 letters, digits, - or _")
        # Why: CloudFront-scoped sets live in us-east-1 whatever region the rest of Vigil runs in.
        region = "us-east-1" if scope == "CLOUDFRONT" else target.settings.get("region")
        return _Calls(self._client_for(region), scope), prefix

    @staticmethod
    def _family(entries: Iterable[Any], version: int, skipped: list[str]) -> set[str]:
        found = set()
        for entry in entries:
            try:
                network = ipaddress.ip_network(entry.value, strict=False)
            except ValueError:
                skipped.append(entry.value)
                continue
            if network.prefixlen == 0:
                skipped.append(entry.value)  # AWS WAF accepts every range except /0
            elif network.version == version:
                found.add(str(network))
        return found

    def _shards(self, calls: _Calls, prefix: str, version: int) -> dict[int, _Shard]:
        pattern = re.compile(rf"{re.escape(prefix)}-v{version}-([0-9]+)")
        summaries = []
        marker = None
        while True:
            page = calls("list_ip_sets", Limit=100, **({"NextMarker": marker} if marker else {}))
            summaries += page.get("IPSets", [])
            marker = page.get("NextMarker")
            if not marker or not page.get("IPSets"):
                break
        shards = {}
        for summary in summaries:
            match = pattern.fullmatch(summary["Name"])
            if match:
                shard = self._read(calls, summary["Name"], summary["Id"])
                shard.number = int(match.group(1))
                shards[shard.number] = shard
        return shards

    @staticmethod
    def _read(calls: _Calls, name: str, set_id: str) -> _Shard:
        answer = calls("get_ip_set", Name=name, Id=set_id)
        found = answer["IPSet"]
        addresses = {normalise(a) for a in found.get("Addresses", [])}
        return _Shard(0, name, set_id, answer["LockToken"], found.get("Description") or "", addresses)

    def _write(self, calls: _Calls, prefix: str, version: int, shard: _Shard | None, change: ShardChange) -> None:
        if change.create or shard is None:
            calls(
                "create_ip_set",
                Name=set_name(prefix, version, change.number),
                IPAddressVersion=f"IPV{version}",
                Addresses=sorted(change.gain),
                Description=set_description(version, change.number),
            )
            return
        for attempt in range(self._attempts):
            addresses = (shard.addresses - change.lose) | change.gain
            if len(addresses) > self._capacity:
                raise TargetError(f"IP set {shard.name} changed while Vigil wrote to it and would overflow")
            params: dict[str, Any] = {"Name": shard.name, "Id": shard.id, "Addresses": sorted(addresses)}
            if shard.description:
                params["Description"] = shard.description  # an update without one would erase it
            try:
                calls("update_ip_set", LockToken=shard.lock, **params)
                return
            except ClientError:
                # Why: WAFOptimisticLockException, someone wrote the set after our read; read it again and
                # recompute the same change on what is there now.
                self._sleep(self._base_delay * 2**attempt)
                fresh = self._read(calls, shard.name, shard.id)
                fresh.number = shard.number
                shard = fresh
        raise TargetError(f"IP set {shard.name} kept changing while Vigil wrote to it")
