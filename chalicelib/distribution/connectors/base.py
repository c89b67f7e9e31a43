"""What a connector is: the one piece of code that knows how to talk to one kind of target.

The push function hands each connector a `Delta` (decisions to add, decisions to remove) for one `Target`, in
one batch, and expects it applied idempotently: adding what is already there and removing what is already gone
are successes. The reconciler asks `current()` for what the target actually holds and sends the difference.
`test()` checks connectivity and rights without changing anything.

Connectors raise `TargetError` (retryable: the target is down, refused, or timed out) or
`TargetConfigurationError` (not retryable until someone fixes the target: bad credentials, unknown host key,
missing rights). They never log secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from chalicelib.core.errors import TargetConfigurationError, TargetError


@dataclass(frozen=True)
class Entry:
    """One decision as a target receives it."""

    value: str  # normalised CIDR: "203.0.113.7/32", "2001:db8::/48"
    until: datetime | None = None  # None: permanent
    decision_id: str = ""
    comment: str = ""  # short, safe text (scenario or reason); connectors sanitise it for their syntax

    @property
    def version(self) -> int:
        return 6 if ":" in self.value else 4


@dataclass(frozen=True)
class Delta:
    add: tuple[Entry, ...] = ()
    remove: tuple[Entry, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)


@dataclass(frozen=True)
class Target:
    """A configured firewall or WAF. `settings` holds kind-specific, non-secret options; `credentials`
    holds secrets (read from Secrets Manager just before use, never stored on the target record)."""

    id: str
    name: str
    kind: str  # sophos-xgs | ssh-nftables | ssh-ipset | aws-waf | webhook | crowdsec-bouncer | pull-only
    address: str  # host[:port] or URL, per kind
    settings: Mapping[str, Any] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApplyResult:
    added: int = 0
    removed: int = 0
    unchanged: int = 0  # already present (add) or already absent (remove)
    requests: int = 0  # API calls / transactions / commands used (for the benchmarks)
    skipped: tuple[str, ...] = ()  # entries the target cannot hold (e.g. IPv6 on an IPv4-only list), reported


@dataclass(frozen=True)
class TestResult:
    ok: bool
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


class Connector(Protocol):
    kind: str

    def apply(self, target: Target, delta: Delta) -> ApplyResult:
        """Apply additions and removals in as few transactions as the target allows; idempotent."""
        ...

    def current(self, target: Target) -> set[str]:
        """The normalised CIDRs the target holds in Vigil's list/set/group right now."""
        ...

    def test(self, target: Target) -> TestResult:
        """Check connectivity and rights without changing anything."""
        ...


__all__ = [
    "ApplyResult",
    "Connector",
    "Delta",
    "Entry",
    "Target",
    "TargetConfigurationError",
    "TargetError",
    "TestResult",
]
