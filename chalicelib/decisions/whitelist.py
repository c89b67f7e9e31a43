"""The whitelist (seed 000) and the system whitelist (seed 000's config section).

Entry types: `hard` (never banned: a ban that would touch it is refused with 409 `WHITELISTED`), `soft` (a score
modifier detection applies), `monitor` (detection alerts instead of banning). A new hard entry lifts the bans
in force that lie wholly inside it and reports those that only overlap it (a /16 cannot be lifted because one
address in it is whitelisted; the caller decides). The system whitelist protects the platform itself (the cloud
metadata address, the platform's own addresses) and is editable by admins; its defaults are created once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.core.clock import Clock
from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError
from chalicelib.decisions import addresses, ttl
from chalicelib.decisions.model import ACTIVE, ALLOW, ENDED, GLOBAL, SYSTEM, WHITELIST_TYPES, Decision

if TYPE_CHECKING:  # constructor types only: importing the services here would load them at cold start
    from chalicelib.decisions.service import Decisions

SYSTEM_DEFAULTS: tuple[tuple[str, str], ...] = (
    ("169.254.169.254/32", "Cloud instance metadata service (IPv4)"),
    ("fd00:ec2::254/128", "Cloud instance metadata service (IPv6)"),
)


def network_of(ip: str, cidr_mask: int | None) -> addresses.Network:
    """`ip` alone, `ip/len`, or `ip` with seed 000's separate `cidr_mask`."""
    if cidr_mask is not None and "/" not in ip:
        ip = f"{ip.strip()}/{cidr_mask}"
    return addresses.parse_network(ip)


class Whitelist:
    def __init__(self, decisions: Decisions, clock: Clock) -> None:
        self._d = decisions
        self._clock = clock

    # user whitelist
    def add(
        self,
        network: addresses.Network,
        *,
        type_: str,
        reason: str,
        actor: str | None,
        score_modifier: int | None = None,
        alert_only: bool | None = None,
        seconds: int | None = None,
        tags: tuple[str, ...] = (),
        force: bool = False,
    ) -> tuple[Decision, list[Decision], list[Decision]]:
        """Add an entry; returns it, the bans it lifted, and the bans that overlap it but were kept."""
        self._check(network, type_, force)
        now = self._clock.now()
        value = str(network)
        existing = self._d.store.get(value, f"{ALLOW}#{GLOBAL}")
        if existing is not None and existing.active_at(now):
            raise ConflictError(
                f"{addresses.display(network)} is already whitelisted ({existing.whitelist_type}); change it with PUT"
            )
        entry = Decision(
            id=_new_id(),
            value=value,
            type=ALLOW,
            scope=GLOBAL,
            origin="manual",
            reason=reason,
            tags=tuple(sorted(set(tags))),
            created_at=now,
            created_by=actor,
            updated_at=now,
            until=ttl.expires_at(now, seconds),
            ttl_seconds=seconds,
            whitelist_type=type_,
            score_modifier=score_modifier,
            alert_only=alert_only,
        )
        saved = self._d.allow_record(entry, existing.version if existing else None, actor=actor, action="whitelisted")
        lifted, kept = self._settle_bans(saved, actor) if type_ == "hard" else ([], [])
        return saved, lifted, kept

    def _check(self, network: addresses.Network, type_: str, force: bool) -> None:
        if type_ not in WHITELIST_TYPES:
            raise InvalidInputError(f"type must be one of {', '.join(WHITELIST_TYPES)}")
        if network.prefixlen == 0:
            raise InvalidInputError("Whitelisting every address would disable every ban", code="RANGE_TOO_BROAD")
        limit = self._d.policy.safety.max_prefix_v4 if network.version == 4 else self._d.policy.safety.max_prefix_v6
        if network.prefixlen < limit and not force:
            raise InvalidInputError(
                f"{network} is broader than /{limit}; pass force to whitelist it anyway", code="RANGE_TOO_BROAD"
            )

    def _settle_bans(self, entry: Decision, actor: str | None) -> tuple[list[Decision], list[Decision]]:
        now = self._clock.now()
        network = entry.network
        lifted: list[Decision] = []
        kept: list[Decision] = []
        for hit in self._bans_touching(network):
            decision = next((d for d in self._d.store.for_value(hit.network) if d.id == hit.id), None)
            if decision is None or not decision.active_at(now):
                continue
            if decision.network.subnet_of(network):  # type: ignore[arg-type]
                lifted.append(
                    self._d.end(decision, actor=actor, reason=f"whitelisted by {entry.value}", action="whitelisted")
                )
            else:
                kept.append(decision)
        return lifted, kept

    def _bans_touching(self, network: addresses.Network) -> list[Any]:
        """Bans in force that share an address with `network`, from the live index. Ranges of up to 65,536
        addresses are walked address by address (in memory, a fraction of a second); wider ones are checked
        at their first address only, and the answer says so through the bans it reports."""
        probes = [network.network_address] if network.num_addresses > 65536 else list(network)
        seen: dict[str, Any] = {}
        for address in probes:
            for hit in self._d.live.lookup(str(address)):
                if hit.kind.startswith("ban"):
                    seen.setdefault(hit.id, hit)
        return list(seen.values())

    def find(self, ip: str, cidr_mask: int | None = None) -> Decision:
        """The user whitelist entry for this address: the exact network, else the one entry starting at it."""
        now = self._clock.now()
        network = network_of(ip, cidr_mask)
        exact = self._d.store.get(str(network), f"{ALLOW}#{GLOBAL}")
        if exact is not None and exact.active_at(now):
            return exact
        if cidr_mask is None and "/" not in ip:
            starting = [
                d
                for d in self._d.store.list(ALLOW)
                if d.scope == GLOBAL
                and d.active_at(now)
                and str(d.network.network_address) == str(network.network_address)
            ]
            if len(starting) == 1:
                return starting[0]
        raise NotFoundError(f"No whitelist entry for {ip}")

    def update(self, entry: Decision, changes: dict[str, Any], *, actor: str | None) -> Decision:
        fields: dict[str, Any] = {}
        if changes.get("type") is not None:
            if changes["type"] not in WHITELIST_TYPES:
                raise InvalidInputError(f"type must be one of {', '.join(WHITELIST_TYPES)}")
            fields["whitelist_type"] = changes["type"]
        for name in ("reason", "score_modifier", "alert_only"):
            if changes.get(name) is not None:
                fields[name] = changes[name]
        if changes.get("tags") is not None:
            fields["tags"] = tuple(sorted(set(changes["tags"])))
        if "seconds" in changes:
            fields["until"] = ttl.expires_at(self._clock.now(), changes["seconds"])
            fields["ttl_seconds"] = changes["seconds"]
        return self._d.update(entry, actor=actor, action="whitelist_updated", **fields)

    def remove(self, entry: Decision, *, actor: str | None) -> Decision:
        return self._d.end(entry, actor=actor, reason="removed from whitelist", action="whitelist_removed")

    def entries(self, scope: str = GLOBAL, *, include_ended: bool = False) -> list[Decision]:
        now = self._clock.now()
        statuses = (ACTIVE, ENDED) if include_ended else (ACTIVE,)
        found = [d for s in statuses for d in self._d.store.list(ALLOW, s) if d.scope == scope]
        if not include_ended:
            found = [d for d in found if d.active_at(now)]
        return sorted(found, key=lambda d: (d.created_at or now, d.value))

    def stats(self) -> dict[str, Any]:
        entries = self.entries()
        now = self._clock.now()
        return {
            "total": len(entries),
            "by_type": {t: sum(1 for e in entries if e.whitelist_type == t) for t in WHITELIST_TYPES},
            "permanent": sum(1 for e in entries if e.until is None),
            "expiring_7d": sum(1 for e in entries if e.until is not None and (e.until - now).days < 7),
            "ipv4": sum(1 for e in entries if ":" not in e.value),
            "ipv6": sum(1 for e in entries if ":" in e.value),
            "system": len(self.entries(SYSTEM)),
        }

    # system whitelist
    def ensure_system_defaults(self, platform_addresses: list[str]) -> list[Decision]:
        """Create the defaults once: when the system whitelist has never held anything."""
        if self.entries(SYSTEM, include_ended=True):
            return []
        created = []
        defaults = list(SYSTEM_DEFAULTS) + [(a, "Vigil platform address (settings)") for a in platform_addresses]
        for value, reason in defaults:
            created.append(
                self.add_system(addresses.parse_network(value), reason=reason, actor="system", origin="system")
            )
        return created

    def add_system(
        self, network: addresses.Network, *, reason: str, actor: str | None, origin: str = "admin"
    ) -> Decision:
        now = self._clock.now()
        existing = self._d.store.get(str(network), f"{ALLOW}#{SYSTEM}")
        if existing is not None and existing.active_at(now):
            raise ConflictError(f"{addresses.display(network)} is already in the system whitelist")
        entry = Decision(
            id=_new_id(),
            value=str(network),
            type=ALLOW,
            scope=SYSTEM,
            origin=origin,
            reason=reason,
            created_at=now,
            created_by=actor,
            updated_at=now,
            whitelist_type="hard",
        )
        return self._d.allow_record(entry, existing.version if existing else None, actor=actor, action="whitelisted")

    def system_entry(self, entry_id: str) -> Decision:
        for entry in self.entries(SYSTEM):
            if entry.id == entry_id:
                return entry
        raise NotFoundError(f"No system whitelist entry {entry_id}")


def _new_id() -> str:
    import uuid  # noqa: PLC0415

    return str(uuid.uuid4())
