"""Seed 002's blocking routes under /api/v1: block, per-VM block, unblock, blocked list (`{success, data,
count}` envelope, snake_case, durations in minutes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.api.common import actor_name
from chalicelib.api.contracts import DETECTOR
from chalicelib.api.routing import RequestInfo, route
from chalicelib.api.schemas import models
from chalicelib.api.views import ban_detector
from chalicelib.auth.principal import Principal
from chalicelib.core.deps import get_container
from chalicelib.core.errors import NotFoundError
from chalicelib.decisions import addresses, ttl

if TYPE_CHECKING:
    from chalicelib.api.schemas.decisions import DetectorBlock, DetectorVmBlock

bp = Blueprint(__name__)
decision_schemas = models("decisions")


def _span(minutes: float | None) -> str:
    return "permanently" if minutes is None else f"for {minutes:g} minutes"


@route(bp, "/api/v1/blocked-ips", permission="decisions:read", contract=DETECTOR, tags=("detector",))
def blocked_ips() -> dict:
    """Addresses blocked right now, globally or on one VM (`vm_id`)."""
    bans = sorted(get_container().decision_queries.in_force(), key=lambda d: d.created_at, reverse=True)
    return {"data": [ban_detector(d) for d in bans], "count": len(bans)}


@route(
    bp,
    "/api/v1/block",
    methods=["POST"],
    permission="decisions:write",
    contract=DETECTOR,
    body=decision_schemas.DetectorBlock,
    tags=("detector",),
)
def block(body: DetectorBlock, principal: Principal, request: RequestInfo) -> dict:
    """Block an address on every VM; blocking it again keeps the later expiry."""
    from chalicelib.decisions.requests import BanRequest  # noqa: PLC0415 - loaded on first use

    decision = get_container().decisions.ban(
        BanRequest(
            body.ip_address,
            reason=body.reason or "Manual block",
            seconds=ttl.from_minutes(body.duration_minutes),
            origin="manual",
            on_existing="extend",
            caller_ip=request.source_ip,
        ),
        actor=actor_name(principal),
        request_id=request.request_id,
    )
    return {"message": f"IP {decision.address} blocked {_span(body.duration_minutes)}"}


@route(
    bp,
    "/api/v1/block/per-vm",
    methods=["POST"],
    permission="decisions:write",
    contract=DETECTOR,
    body=decision_schemas.DetectorVmBlock,
    tags=("detector",),
)
def block_per_vm(body: DetectorVmBlock, principal: Principal, request: RequestInfo) -> dict:
    """Block an address on one VM only."""
    from chalicelib.decisions.model import sensor_scope  # noqa: PLC0415 - loaded on first use
    from chalicelib.decisions.requests import BanRequest  # noqa: PLC0415 - loaded on first use

    decision = get_container().decisions.ban(
        BanRequest(
            body.ip_address,
            reason=body.reason or f"Manual block on {body.vm_id}",
            seconds=ttl.from_minutes(body.duration_minutes),
            origin="manual",
            scope=sensor_scope(body.vm_id),
            on_existing="extend",
            caller_ip=request.source_ip,
        ),
        actor=actor_name(principal),
        request_id=request.request_id,
    )
    return {"message": f"IP {decision.address} blocked on VM {body.vm_id} {_span(body.duration_minutes)}"}


@route(
    bp, "/api/v1/block/{ip}", methods=["DELETE"], permission="decisions:write", contract=DETECTOR, tags=("detector",)
)
def unblock(ip: str, principal: Principal, request: RequestInfo) -> dict:
    """Unblock an address everywhere it is blocked (globally and per VM)."""
    from chalicelib.decisions.model import BAN  # noqa: PLC0415 - loaded on first use

    c = get_container()
    value = addresses.normalise(ip)
    now = c.clock.now()
    blocks = [d for d in c.decisions.store.for_value(value) if d.type == BAN and d.active_at(now)]
    if not blocks:
        raise NotFoundError("IP not found in blocked list")
    for decision in blocks:
        c.decisions.end(decision, actor=actor_name(principal), reason="unblocked", request_id=request.request_id)
    return {"message": f"IP {blocks[0].address} unblocked"}
