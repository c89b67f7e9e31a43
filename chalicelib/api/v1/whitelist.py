"""Seed 000's whitelist under /api/v1/whitelist and the system whitelist under /api/v1/config/system-whitelist."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.api.common import actor_name
from chalicelib.api.contracts import V1, Reply
from chalicelib.api.routing import route
from chalicelib.api.schemas import models
from chalicelib.api.v1.bans import may_force
from chalicelib.api.views import ban_v1, system_whitelist_v1, whitelist_v1
from chalicelib.auth.principal import Principal
from chalicelib.core.deps import get_container
from chalicelib.decisions import addresses, ttl

if TYPE_CHECKING:
    from chalicelib.api.schemas.decisions import (
        SystemWhitelistEntry,
        SystemWhitelistUpdate,
        WhitelistCreate,
        WhitelistQuery,
        WhitelistUpdate,
    )

bp = Blueprint(__name__)
decision_schemas = models("decisions")


@route(
    bp,
    "/api/v1/whitelist",
    permission="decisions:read",
    contract=V1,
    query=decision_schemas.WhitelistQuery,
    tags=("whitelist",),
)
def list_whitelist(query: WhitelistQuery) -> Reply:
    """Whitelist entries in force; filter by type, tag, or an IP an entry covers."""
    c = get_container()
    now = c.clock.now()
    entries = c.whitelist.entries()
    if query.type:
        entries = [e for e in entries if e.whitelist_type == query.type]
    if query.tag:
        entries = [e for e in entries if query.tag in e.tags]
    if query.ip:
        network = addresses.parse_network(query.ip)
        entries = [e for e in entries if e.network.version == network.version and network.subnet_of(e.network)]
    window = entries[query.offset : query.offset + query.limit]
    return Reply(
        [whitelist_v1(e, now) for e in window],
        meta={"total": len(entries), "limit": query.limit, "offset": query.offset},
    )


@route(
    bp,
    "/api/v1/whitelist",
    methods=["POST"],
    permission="decisions:write",
    contract=V1,
    body=decision_schemas.WhitelistCreate,
    status=201,
    tags=("whitelist",),
)
def add_to_whitelist(body: WhitelistCreate, principal: Principal) -> dict:
    """Whitelist an address or CIDR. A hard entry lifts the bans wholly inside it and lists those it overlaps."""
    from chalicelib.decisions.whitelist import network_of  # noqa: PLC0415 - loaded on first use

    c = get_container()
    entry, lifted, kept = c.whitelist.add(
        network_of(body.ip, body.cidr_mask),
        type_=body.type,
        reason=body.reason,
        actor=actor_name(principal),
        score_modifier=body.score_modifier,
        alert_only=body.alert_only,
        seconds=ttl.from_days(body.duration_days),
        tags=tuple(body.tags),
        force=body.force and may_force(principal),
    )
    now = c.clock.now()
    return {
        **whitelist_v1(entry, now),
        "lifted_bans": [ban_v1(d, now) for d in lifted],
        "overlapping_bans": [ban_v1(d, now) for d in kept],
    }


@route(bp, "/api/v1/whitelist/stats", permission="decisions:read", contract=V1, tags=("whitelist",))
def whitelist_stats() -> dict:
    """Counts by type, permanent, expiring within a week, system entries."""
    return get_container().whitelist.stats()


@route(bp, "/api/v1/whitelist/check/{ip}", permission="decisions:read", contract=V1, tags=("whitelist",))
def check_ip(ip: str) -> dict:
    """Is this address whitelisted or banned, and by which entries?"""
    return get_container().decision_queries.check(ip)


@route(
    bp,
    "/api/v1/whitelist/{ip}",
    methods=["PUT"],
    permission="decisions:write",
    contract=V1,
    body=decision_schemas.WhitelistUpdate,
    tags=("whitelist",),
)
def update_whitelist(ip: str, body: WhitelistUpdate, principal: Principal) -> dict:
    """Change an entry's type, reason, score modifier, tags or expiry."""
    c = get_container()
    entry = c.whitelist.find(ip, body.cidr_mask)
    changes = body.model_dump(exclude_unset=True, exclude={"cidr_mask", "duration_days", "permanent"})
    if body.permanent:
        changes["seconds"] = None
    elif body.duration_days is not None:
        changes["seconds"] = ttl.from_days(body.duration_days)
    return whitelist_v1(c.whitelist.update(entry, changes, actor=actor_name(principal)), c.clock.now())


@route(bp, "/api/v1/whitelist/{ip}", methods=["DELETE"], permission="decisions:write", contract=V1, tags=("whitelist",))
def remove_from_whitelist(ip: str, principal: Principal) -> dict:
    """Remove an entry (give `cidr_mask` in the query for a range entry if several start at this address)."""
    c = get_container()
    return whitelist_v1(c.whitelist.remove(c.whitelist.find(ip), actor=actor_name(principal)), c.clock.now())


@route(bp, "/api/v1/config/system-whitelist", permission="config:read", contract=V1, tags=("config",))
def system_whitelist() -> Reply:
    """The platform's own protected addresses (never banned)."""
    from chalicelib.decisions.model import SYSTEM  # noqa: PLC0415 - loaded on first use

    entries = [system_whitelist_v1(e) for e in get_container().whitelist.entries(SYSTEM)]
    return Reply(entries, meta={"total": len(entries)})


@route(
    bp,
    "/api/v1/config/system-whitelist",
    methods=["POST"],
    permission="config:write",
    contract=V1,
    body=decision_schemas.SystemWhitelistEntry,
    status=201,
    tags=("config",),
)
def add_system_whitelist(body: SystemWhitelistEntry, principal: Principal) -> dict:
    """Protect another platform address."""
    from chalicelib.decisions.whitelist import network_of  # noqa: PLC0415 - loaded on first use

    entry = get_container().whitelist.add_system(
        network_of(body.ip, body.cidr_mask), reason=body.reason, actor=actor_name(principal)
    )
    return system_whitelist_v1(entry)


@route(
    bp,
    "/api/v1/config/system-whitelist/{id}",
    methods=["PUT"],
    permission="config:write",
    contract=V1,
    body=decision_schemas.SystemWhitelistUpdate,
    tags=("config",),
)
def update_system_whitelist(id: str, body: SystemWhitelistUpdate, principal: Principal) -> dict:
    """Change why an address is protected."""
    c = get_container()
    entry = c.whitelist.system_entry(id)
    return system_whitelist_v1(
        c.decisions.update(entry, actor=actor_name(principal), action="whitelist_updated", reason=body.reason)
    )


@route(
    bp,
    "/api/v1/config/system-whitelist/{id}",
    methods=["DELETE"],
    permission="config:write",
    contract=V1,
    tags=("config",),
)
def remove_system_whitelist(id: str, principal: Principal) -> dict:
    """Stop protecting an address."""
    c = get_container()
    return system_whitelist_v1(c.whitelist.remove(c.whitelist.system_entry(id), actor=actor_name(principal)))
