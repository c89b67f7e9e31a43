"""Targets (`/api/v1/targets`, admin) and seed 000's sync routes (`/api/v1/bans/sync`, `/bans/xgs-status`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.api.common import actor_name
from chalicelib.api.contracts import V1, Reply
from chalicelib.api.routing import route
from chalicelib.api.schemas import models
from chalicelib.auth.principal import Principal
from chalicelib.core.deps import get_container
from chalicelib.core.errors import VigilError

if TYPE_CHECKING:
    from chalicelib.api.schemas.distribution import SyncRequest, TargetCreate, TargetUpdate

bp = Blueprint(__name__)
distribution_schemas = models("distribution")


def _view(target_id: str) -> dict:
    c = get_container()
    return {**c.targets.get(target_id).view(), "status": c.delivery_status.get(target_id)}


def _set_up(target_id: str) -> dict | None:
    """Targets whose sets and rules Vigil installs itself (nftables, ipset) get them now; a failure is reported
    in the answer and the status, not raised: the target exists, and pushes will say the same until fixed."""
    c = get_container()
    record = c.targets.get(target_id)
    connector = c.connector_for(record.kind) if record.kind in ("ssh-nftables", "ssh-ipset") else None
    if connector is None:
        return None
    try:
        connector.setup(c.targets.ready(record))
    except VigilError as exc:
        c.delivery_status.tested(target_id, ok=False, message=f"setup failed: {exc.message}", now=c.clock.now())
        return {"ok": False, "message": exc.message}
    return {"ok": True, "message": "sets and drop rules installed"}


@route(bp, "/api/v1/targets", permission="targets:read", contract=V1, tags=("targets",))
def list_targets() -> Reply:
    """Every target with its delivery status (credentials are never returned)."""
    c = get_container()
    found = [{**t.view(), "status": c.delivery_status.get(t.id)} for t in c.targets.list()]
    return Reply(found, meta={"total": len(found)})


@route(
    bp,
    "/api/v1/targets",
    methods=["POST"],
    permission="targets:write",
    contract=V1,
    body=distribution_schemas.TargetCreate,
    status=201,
    tags=("targets",),
)
def create_target(body: TargetCreate) -> dict:
    """Add a firewall or WAF; its credentials go to Secrets Manager."""
    c = get_container()
    target = c.targets.create(
        name=body.name,
        kind=body.kind,
        address=body.address,
        settings=body.settings,
        selector=body.selector.model_dump(),
        credentials=body.credentials,
        enabled=body.enabled,
    )
    return {**_view(target.id), "setup": _set_up(target.id)}


@route(bp, "/api/v1/targets/{id}", permission="targets:read", contract=V1, tags=("targets",))
def get_target(id: str) -> dict:
    """One target and its delivery status."""
    return _view(id)


@route(
    bp,
    "/api/v1/targets/{id}",
    methods=["PUT"],
    permission="targets:write",
    contract=V1,
    body=distribution_schemas.TargetUpdate,
    tags=("targets",),
)
def update_target(id: str, body: TargetUpdate) -> dict:
    """Change a target (new credentials replace the stored ones)."""
    changes = body.model_dump(exclude_unset=True, exclude={"credentials"})
    get_container().targets.update(id, changes, body.credentials)
    setup = _set_up(id) if body.settings is not None or body.credentials or body.address else None
    return {**_view(id), "setup": setup}


@route(
    bp,
    "/api/v1/targets/{id}",
    methods=["DELETE"],
    permission="targets:write",
    contract=V1,
    status=204,
    tags=("targets",),
)
def delete_target(id: str) -> Reply:
    """Remove a target and its stored credentials (what it holds on the firewall stays)."""
    c = get_container()
    c.targets.delete(id)
    c.delivery_status.forget(id)
    return Reply(status=204)


@route(bp, "/api/v1/targets/{id}/test", methods=["POST"], permission="targets:write", contract=V1, tags=("targets",))
def test_target(id: str) -> dict:
    """Check connectivity and rights without changing anything on the target."""
    c = get_container()
    record = c.targets.get(id)
    result = c.connector_for(record.kind).test(c.targets.ready(record))
    c.delivery_status.tested(id, ok=result.ok, message=result.message, now=c.clock.now())
    return {"ok": result.ok, "message": result.message, "details": dict(result.details)}


@route(
    bp,
    "/api/v1/bans/sync",
    methods=["POST"],
    permission="targets:write",
    contract=V1,
    body=distribution_schemas.SyncRequest,
    status=202,
    tags=("bans",),
)
def sync(principal: Principal, body: SyncRequest | None = None) -> Reply:
    """Full resync to the Sophos XGS targets (or the ones listed): answers a job to poll."""
    c = get_container()
    wanted = (body.targets if body else None) or [t.id for t in c.targets.push_targets() if t.kind == "sophos-xgs"]
    for target_id in wanted:
        c.targets.get(target_id)
    job = c.sync_jobs.start(wanted, actor_name(principal))
    return Reply(job, status=202, headers={"Location": f"/api/v1/bans/sync/{job['id']}"})


@route(bp, "/api/v1/bans/sync/{job_id}", permission="targets:read", contract=V1, tags=("bans",))
def sync_job(job_id: str) -> dict:
    """A sync job's state: queued, done or failed, with per-target results."""
    return get_container().sync_jobs.get(job_id)


@route(bp, "/api/v1/bans/xgs-status", permission="targets:read", contract=V1, tags=("bans",))
def xgs_status() -> Reply:
    """Per Sophos XGS target: connected, last sync, pending changes, errors, drift repaired."""
    c = get_container()
    rows = [
        {"id": t.id, "name": t.name, "address": t.address, "enabled": t.enabled, **c.delivery_status.get(t.id)}
        for t in c.targets.list()
        if t.kind == "sophos-xgs"
    ]
    return Reply(rows, meta={"total": len(rows), "queue": c.queue_depth()})
