"""The reconciler: each target's actual state compared with the desired one, and the drift repaired.

Scheduled every five minutes and run on demand (seed 000's `POST /bans/sync`). Desired: every decision in
force that the target's selector wants. Actual: what the connector reads from the target's own set, group or
IP sets (Vigil only ever touches its own). The difference is applied in one delta: a ban removed by hand on the
firewall comes back, an expired one goes. Webhook targets cannot be read back, so they are not reconciled.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from chalicelib.core.clock import Clock
from chalicelib.core.errors import TargetConfigurationError, VigilError
from chalicelib.decisions.queries import DecisionQueries
from chalicelib.distribution.connectors import reconcilable
from chalicelib.distribution.connectors.base import Connector, Delta, Entry
from chalicelib.distribution.status import DeliveryStatus
from chalicelib.distribution.targets import TargetRecord, Targets, wanted_entries


def drift(desired: dict[str, Entry], actual: set[str]) -> Delta:
    """What to add and remove, judged by the addresses covered rather than by exact text: nftables merges
    neighbouring bans into one interval (two /32s become a /31), which is no drift at all."""

    def networks(values: object) -> dict[int, list]:
        by_family: dict[int, list] = {4: [], 6: []}
        for value in values:  # type: ignore[attr-defined]
            network = ipaddress.ip_network(value, strict=False)
            by_family[network.version].append(network)
        return {v: list(ipaddress.collapse_addresses(n)) for v, n in by_family.items()}

    have = networks(actual)
    want = networks(desired)

    def covered(value: str, pool: dict[int, list]) -> bool:
        network = ipaddress.ip_network(value, strict=False)
        return any(network.subnet_of(block) for block in pool[network.version])  # type: ignore[arg-type]

    add = tuple(desired[v] for v in sorted(desired) if not covered(v, have))
    remove = tuple(Entry(v) for v in sorted(actual) if not covered(v, want))
    return Delta(add, remove)


class Reconciler:
    def __init__(
        self,
        targets: Targets,
        queries: DecisionQueries,
        connector_for: Callable[[str], Connector],
        status: DeliveryStatus,
        clock: Clock,
    ) -> None:
        self._targets = targets
        self._queries = queries
        self._connector_for = connector_for
        self._status = status
        self._clock = clock

    def reconcile(self, target_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """Repair every push target (or the given ones); returns per target what was done or what failed."""
        in_force = self._queries.in_force()
        results: dict[str, dict[str, Any]] = {}
        for target in self._targets.push_targets():
            if target_ids is not None and target.id not in target_ids:
                continue
            if not reconcilable(target.kind):
                results[target.id] = {"skipped": f"{target.kind} targets cannot be read back"}
                continue
            results[target.id] = self._one(target, wanted_entries(target, in_force))
        return results

    def _one(self, target: TargetRecord, desired: dict[str, Entry]) -> dict[str, Any]:
        now = self._clock.now()
        connector = self._connector_for(target.kind)
        ready = self._targets.ready(target)
        try:
            delta = drift(desired, connector.current(ready))
            if delta:
                connector.apply(ready, delta)
        except VigilError as exc:
            self._status.failed(
                target.id,
                message=exc.message,
                retryable=not isinstance(exc, TargetConfigurationError),
                waiting=0,
                now=now,
            )
            return {"error": exc.message, "code": exc.code}
        self._status.reconciled(target.id, repaired=len(delta.add) + len(delta.remove), now=now)
        return {"added": len(delta.add), "removed": len(delta.remove), "in_sync": not delta, "desired": len(desired)}
