"""The connector registry: which connector pushes to which kind of target, built once with its dependencies.

`Connectors(ConnectorDeps(...))` is the `connector_for(kind)` callable that the push function and the reconciler
take: each connector is created on first use and kept (they hold no per-target state). Modules are imported on
first use too, so a Lambda that never pushes over SSH never loads paramiko.

    connectors = Connectors(ConnectorDeps(clock=clock, aws=aws_clients))
    connectors("ssh-nftables").apply(target, delta)

`crowdsec-bouncer` and `pull-only` targets fetch their decisions themselves; asking for their connector is an error.
`reconcilable(kind)` says whether `current()` exists for a kind (webhooks: no). `setup(kind)`-capable connectors
(nftables, ipset) expose `setup(target)`, to call once when such a target is created or its settings change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.core.clock import Clock, SystemClock
from chalicelib.distribution.connectors.base import Connector, TargetConfigurationError

if TYPE_CHECKING:
    from chalicelib.core.aws import AwsClients

PUSH_KINDS = ("sophos-xgs", "ssh-nftables", "ssh-ipset", "aws-waf", "webhook")
PULL_KINDS = ("crowdsec-bouncer", "pull-only")


@dataclass
class ConnectorDeps:
    """What connectors need from the outside; every field has a production default."""

    clock: Clock = field(default_factory=SystemClock)
    aws: AwsClients | None = None  # WAF clients come from here (its endpoint, another region when a target asks)
    waf_client_for: Callable[[str | None], Any] | None = None  # overrides `aws`
    ssh_client_factory: Callable[[], Any] | None = None  # paramiko.SSHClient by default
    xgs_client_factory: Callable[[Any], Any] | None = None  # ssl.SSLContext -> httpx.Client
    webhook_client: Any = None  # an httpx.Client with explicit timeouts, no redirects, no proxies
    resolver: Callable[[str, int], Any] | None = None  # the webhook's DNS resolver
    allow_loopback: bool = False  # webhooks to 127.0.0.1: tests and the local stack only
    sleep: Callable[[float], None] = time.sleep  # the WAF's lock-conflict backoff


def reconcilable(kind: str) -> bool:
    """Whether the reconciler can read a target of this kind back (`current()`)."""
    return kind in PUSH_KINDS and kind != "webhook"


class Connectors:
    """`connectors(kind)` returns the connector for that kind of target."""

    def __init__(self, deps: ConnectorDeps | None = None) -> None:
        self._deps = deps or ConnectorDeps()
        self._made: dict[str, Connector] = {}
        self._lock = threading.Lock()

    def __call__(self, kind: str) -> Connector:
        found = self._made.get(kind)
        if found is not None:
            return found
        with self._lock:
            if kind not in self._made:
                self._made[kind] = self._make(kind)
            return self._made[kind]

    def _make(self, kind: str) -> Connector:
        deps = self._deps
        if kind == "sophos-xgs":
            from chalicelib.distribution.connectors.xgs import XgsConnector  # noqa: PLC0415

            return XgsConnector(client_factory=deps.xgs_client_factory)
        if kind in ("ssh-nftables", "ssh-ipset"):
            from chalicelib.distribution.connectors import ssh  # noqa: PLC0415

            cls = ssh.NftablesConnector if kind == "ssh-nftables" else ssh.IpsetConnector
            if deps.ssh_client_factory is not None:
                return cls(client_factory=deps.ssh_client_factory, clock=deps.clock)
            return cls(clock=deps.clock)
        if kind == "aws-waf":
            from chalicelib.distribution.connectors.awswaf import AwsWafConnector  # noqa: PLC0415

            return AwsWafConnector(deps.waf_client_for or _waf_clients(deps.aws), sleep=deps.sleep)
        if kind == "webhook":
            from chalicelib.distribution.connectors.webhook import WebhookConnector  # noqa: PLC0415
            from chalicelib.distribution.outbound import system_resolver  # noqa: PLC0415

            return WebhookConnector(
                client=deps.webhook_client,
                clock=deps.clock,
                resolver=deps.resolver or system_resolver,
                allow_loopback=deps.allow_loopback,
            )
        if kind in PULL_KINDS:
            raise TargetConfigurationError(f"{kind} targets pull their decisions; nothing is pushed to them")
        raise TargetConfigurationError(f"no connector for targets of kind {kind!r}")


def _waf_clients(aws: AwsClients | None) -> Callable[[str | None], Any]:
    """wafv2 clients per region: the platform's own for its region, one more per other region asked for."""
    from chalicelib.core.aws import AwsClients  # noqa: PLC0415

    made: dict[str | None, Any] = {}

    def client_for(region: str | None) -> Any:
        if region not in made:
            if aws is not None and region in (None, aws.region):
                made[region] = aws.client("wafv2")
            else:
                base = aws.endpoint_url if aws is not None else None
                made[region] = AwsClients(region or "us-east-1", endpoint_url=base).client("wafv2")
        return made[region]

    return client_for
