"""Seed 002, the multi-VM brute-force detector under /api/v1: events from VMs, VMs, statistics, suspicious
addresses, geography, and the live feed (`{success, data, count}` envelope)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.api.contracts import DETECTOR, Raw
from chalicelib.api.routing import RequestInfo, route
from chalicelib.api.schemas import models
from chalicelib.auth.principal import Principal
from chalicelib.core.deps import get_container
from chalicelib.core.errors import PermissionDeniedError

if TYPE_CHECKING:
    from chalicelib.api.schemas.events import FeedQuery, SuspiciousQuery, VmEvents, VmRegistration

bp = Blueprint(__name__)
event_schemas = models("events")
FEED_RETRY_MS = 5000
FEED_WINDOW = timedelta(minutes=10)


def sensor_for(principal: Principal | None, asked: str | None) -> str | None:
    """The sensor a batch belongs to: an ingest key bound to a sensor may only post for that sensor."""
    if principal is not None and principal.sensor:
        if asked and asked != principal.sensor:
            raise PermissionDeniedError(f"This key is bound to sensor {principal.sensor!r}, not {asked!r}")
        return principal.sensor
    return asked


@route(
    bp,
    "/api/v1/events",
    methods=["POST"],
    permission="events:ingest",
    contract=DETECTOR,
    body=event_schemas.VmEvents,
    tags=("detector",),
)
def receive_events(body: VmEvents, principal: Principal | None, request: RequestInfo) -> dict:
    """Failed logons from a VM's agent or WEF collector (Windows 4625-style records)."""
    from chalicelib.events.batches import Batch  # noqa: PLC0415 - loaded on first use

    sensor = sensor_for(principal, body.vm_id) or body.vm_id
    result = get_container().ingest.ingest(
        Batch(sensor=sensor, hostname=body.hostname, batch_id=body.batch_id, windows=list(body.events)),
        request.request_id,
    )
    return {
        "events_received": result.accepted,
        "rejected": result.rejected,
        "duplicate": result.duplicate,
        "queued": result.queued,
        "decisions": len(result.decisions),
    }


@route(
    bp,
    "/api/v1/suspicious-ips",
    permission="events:read",
    contract=DETECTOR,
    query=event_schemas.SuspiciousQuery,
    tags=("detector",),
)
def suspicious_ips(query: SuspiciousQuery) -> dict:
    """Addresses whose failed logins reached the threshold (default 10) in the last `hours` (default 24)."""
    found = get_container().event_queries.suspicious(query.threshold, days=max(1, query.hours // 24))
    return {"data": found, "count": len(found)}


@route(bp, "/api/v1/statistics", permission="events:read", contract=DETECTOR, tags=("detector",))
def statistics() -> dict:
    """Failed-login statistics: totals, attackers, blocks, last day and hour, usernames, per hour."""
    c = get_container()
    return {"data": c.event_queries.detector_statistics(blocked=len(c.decision_queries.in_force()))}


@route(bp, "/api/v1/statistics/global", permission="events:read", contract=DETECTOR, tags=("detector",))
def global_statistics() -> dict:
    """The same across every VM, with active and inactive VMs and attacks per VM."""
    c = get_container()
    sensors = c.sensors.list()
    active = sum(1 for s in sensors if s["status"] == "active")
    return {
        "data": c.event_queries.detector_statistics(
            blocked=len(c.decision_queries.in_force()), sensors={"active": active, "inactive": len(sensors) - active}
        )
    }


@route(bp, "/api/v1/geo-attacks", permission="events:read", contract=DETECTOR, tags=("detector",))
def geo_attacks() -> dict:
    """Attacking addresses with their location and attack count (last 24 hours)."""
    c = get_container()
    rows = []
    for ip, count in c.event_queries.top_attackers(days=1, limit=200):
        geo = c.geoip.lookup(ip)
        rows.append(
            {
                "ip_address": ip,
                "country": getattr(geo, "country_name", None),
                "country_code": getattr(geo, "country_code", None),
                "city": getattr(geo, "city", None),
                "lat": getattr(geo, "latitude", None),
                "lng": getattr(geo, "longitude", None),
                "attack_count": count,
            }
        )
    return {"data": rows, "count": len(rows)}


@route(bp, "/api/v1/vms", permission="sensors:read", contract=DETECTOR, tags=("detector",))
def list_vms() -> dict:
    """Every monitored VM, active when it reported in the last 15 minutes."""
    vms = sorted(get_container().sensors.list(), key=lambda s: s["vm_id"])
    return {"data": vms, "count": len(vms)}


@route(
    bp,
    "/api/v1/vms",
    methods=["POST"],
    permission="sensors:write",
    contract=DETECTOR,
    body=event_schemas.VmRegistration,
    tags=("detector",),
)
def register_vm(body: VmRegistration) -> dict:
    """Register a VM."""
    get_container().sensors.register(body.vm_id, body.hostname, body.ip_address, body.collection_method)
    return {"message": f"VM {body.vm_id} registered successfully"}


@route(bp, "/api/v1/vms/{vm_id}", methods=["DELETE"], permission="sensors:write", contract=DETECTOR, tags=("detector",))
def delete_vm(vm_id: str) -> dict:
    """Unregister a VM (its events and statistics stay until their retention ends)."""
    get_container().sensors.delete(vm_id)
    return {"message": f"VM {vm_id} unregistered"}


@route(bp, "/api/v1/vms/{vm_id}/attacks", permission="events:read", contract=DETECTOR, tags=("detector",))
def vm_attacks(vm_id: str) -> dict:
    """Attack statistics of one VM."""
    c = get_container()
    vm = c.sensors.require(vm_id)
    return {"vm_id": vm_id, "hostname": vm["hostname"], **c.event_queries.vm_attacks(vm_id)}


@route(
    bp,
    "/api/v1/feed",
    permission="events:read",
    contract=DETECTOR,
    query=event_schemas.FeedQuery,
    produces="text/event-stream",
    tags=("detector",),
)
def live_feed(query: FeedQuery, request: RequestInfo) -> Raw:
    """Server-sent events: `new_attack` for each failed login since `Last-Event-ID` (or the last ten minutes).

    API Gateway buffers responses, so each request answers what is new and a `retry:` hint; an EventSource
    reconnects by itself, sending the last id it saw, and misses nothing (events are served once they are five
    seconds old, so that one still being written elsewhere is never skipped)."""
    after = request.header("last-event-id") or query.last_event_id
    lines = [f"retry: {FEED_RETRY_MS}", ""]
    for event in get_container().event_queries.feed(after, FEED_WINDOW):
        data = {
            "ip_address": event["source_ip"],
            "username": event.get("username"),
            "timestamp": event["time"],
            "attempt_number": event.get("attempt"),
            "vm_id": event.get("sensor"),
            "country": event.get("country"),
        }
        lines += [f"id: {event['arrival_id']}", "event: new_attack", f"data: {json.dumps(data)}", ""]
    return Raw("\n".join(lines) + "\n", "text/event-stream; charset=utf-8", headers={"Cache-Control": "no-cache"})
