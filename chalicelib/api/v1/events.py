"""Seed 000's events, statistics, status and forensic routes under /api/v1, and the canonical ingest door."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.api.common import utc
from chalicelib.api.compat.detector import sensor_for
from chalicelib.api.contracts import V1, Reply
from chalicelib.api.routing import RequestInfo, route
from chalicelib.api.schemas import models
from chalicelib.auth.principal import Principal
from chalicelib.core.deps import get_container
from chalicelib.core.errors import FieldProblem, InvalidInputError, NotFoundError, ValidationFailedError
from chalicelib.decisions import addresses

if TYPE_CHECKING:
    from chalicelib.api.schemas.events import EventQuery, IngestBatch, PeriodQuery, TimelineQuery, TrackQuery
    from chalicelib.events.queries import EventFilter

bp = Blueprint(__name__)
event_schemas = models("events")


@route(
    bp,
    "/api/v1/ingest",
    methods=["POST"],
    permission="events:ingest",
    contract=V1,
    body=event_schemas.IngestBatch,
    tags=("events",),
)
def ingest(body: IngestBatch, principal: Principal | None, request: RequestInfo) -> Reply:
    """A batch of raw log lines (with their `format`) or structured events from one sensor.

    Bad events are reported by index in `rejected` while the good ones are kept; a `batch_id` makes a retried
    batch a no-op that answers like the first time."""
    from chalicelib.events.batches import Batch  # noqa: PLC0415 - loaded on first use

    sensor = sensor_for(principal, body.sensor)
    if not sensor:
        raise ValidationFailedError([FieldProblem("sensor", "Field required (or use a key bound to a sensor)")])
    result = get_container().ingest.ingest(
        Batch(
            sensor=sensor,
            hostname=body.hostname,
            format=body.format,
            batch_id=body.batch_id,
            lines=list(body.lines),
            records=list(body.events),
            timezone=body.timezone,
        ),
        request.request_id,
    )
    return Reply(result.as_dict(), status=202 if result.queued else 200)


def _stored_ip(text: str) -> str:
    """An address as events are stored under it: IPv6 has many spellings (`2001:DB8::1`, leading zeros, IPv4-mapped),
    and the parsers store the canonical one, so a query must ask for that one too."""
    from chalicelib.events.parsers import normalise_ip  # noqa: PLC0415 - loaded on first use

    addresses.ip_to_int(text)  # InvalidInputError for anything that is not one address
    return normalise_ip(text) or text


def _filter(query: EventQuery) -> EventFilter:
    from chalicelib.events.queries import EventFilter  # noqa: PLC0415 - loaded on first use

    now = get_container().clock.now()
    end = utc(query.end_time, end_of_day=True) or now
    start = utc(query.start_time) or end - timedelta(days=1)
    return EventFilter(
        start=start,
        end=end,
        log_type=query.log_type,
        severity=query.severity,
        src_ip=_stored_ip(query.src_ip) if query.src_ip else None,
        hostname=query.hostname,
        sensor=query.sensor,
        kind=query.kind,
        search=query.search,
    )


@route(bp, "/api/v1/events", permission="events:read", contract=V1, query=event_schemas.EventQuery, tags=("events",))
def list_events(query: EventQuery) -> Reply:
    """Events, newest first (default: the last 24 hours), filtered as seed 000 documents."""
    items, total = get_container().event_queries.list(_filter(query), query.limit, query.offset)
    return Reply(items, meta={"total": total, "limit": query.limit, "offset": query.offset})


@route(
    bp,
    "/api/v1/events/timeline",
    permission="events:read",
    contract=V1,
    query=event_schemas.TimelineQuery,
    tags=("events",),
)
def timeline(query: TimelineQuery) -> Reply:
    """Events per minute, hour or day, split by log type and severity."""
    return Reply(
        get_container().event_queries.timeline(_filter(query), query.interval), meta={"interval": query.interval}
    )


@route(
    bp,
    "/api/v1/events/hostnames",
    permission="events:read",
    contract=V1,
    query=event_schemas.PeriodQuery,
    tags=("events",),
)
def hostnames(query: PeriodQuery) -> Reply:
    """Target hostnames seen, with event counts."""
    found = get_container().event_queries.hostnames(days=query.days)
    return Reply(found, meta={"total": len(found)})


@route(bp, "/api/v1/events/{id}", permission="events:read", contract=V1, tags=("events",))
def get_event(id: str) -> dict:
    """One event."""
    found = get_container().event_queries.get(id)
    if found is None:
        raise NotFoundError(f"Event {id} not found")
    return found


@route(bp, "/api/v1/stats/overview", permission="events:read", contract=V1, tags=("stats",))
def overview() -> dict:
    """Figures of the last 24 hours and 7 days, from the counters kept at ingest."""
    c = get_container()
    return c.event_queries.overview(active_bans=len(c.decision_queries.in_force()), sensors=c.sensors.active_count())


@route(
    bp,
    "/api/v1/stats/top-attackers",
    permission="events:read",
    contract=V1,
    query=event_schemas.PeriodQuery,
    tags=("stats",),
)
def top_attackers(query: PeriodQuery) -> Reply:
    """The most active attacking addresses, with country and ban status."""
    c = get_container()
    rows = []
    for ip, count in c.event_queries.top_attackers(query.days, query.limit):
        geo = c.geoip.lookup(ip)
        rows.append(
            {
                "ip": ip,
                "count": count,
                "country": getattr(geo, "country_code", None),
                "banned": c.decisions.is_banned(ip),
            }
        )
    return Reply(rows, meta={"days": query.days})


@route(
    bp,
    "/api/v1/stats/top-targets",
    permission="events:read",
    contract=V1,
    query=event_schemas.PeriodQuery,
    tags=("stats",),
)
def top_targets(query: PeriodQuery) -> dict:
    """The most targeted hostnames, user names and sensors."""
    return get_container().event_queries.top_targets(query.days, query.limit)


@route(
    bp,
    "/api/v1/stats/zone-traffic",
    permission="events:read",
    contract=V1,
    query=event_schemas.PeriodQuery,
    tags=("stats",),
)
def zone_traffic(query: PeriodQuery) -> Reply:
    """Traffic between Sophos XGS zones (from firewall logs), by source and destination zone."""
    return Reply(get_container().event_queries.zone_traffic(query.days), meta={"days": query.days})


@route(bp, "/api/v1/status/syslog", permission="events:read", contract=V1, tags=("status",))
def syslog_status() -> dict:
    """Ingestion status: each sensor's last report and whether it is active."""
    c = get_container()
    sensors = sorted(c.sensors.list(), key=lambda s: s["last_seen"] or "", reverse=True)
    return {
        "sensors": sensors,
        "active": sum(1 for s in sensors if s["status"] == "active"),
        "total": len(sensors),
        "last_event_at": sensors[0]["last_seen"] if sensors else None,
    }


@route(
    bp,
    "/api/v1/alerts/critical",
    permission="events:read",
    contract=V1,
    query=event_schemas.PeriodQuery,
    tags=("status",),
)
def critical_alerts(query: PeriodQuery) -> Reply:
    """Alerts of high and critical severity (scenarios whose action is to alert, watched addresses)."""
    c = get_container()
    now = c.clock.now()
    alerts = [
        a for a in c.events.alerts(now - timedelta(days=query.days), now) if a.get("severity") in ("high", "critical")
    ]
    return Reply(alerts[: query.limit * 10], meta={"total": len(alerts)})


@route(
    bp, "/api/v1/track-ip", permission="events:read", contract=V1, query=event_schemas.TrackQuery, tags=("forensics",)
)
def track_ip(query: TrackQuery) -> dict:
    """Forensic search: an address's events, decisions, geography and timeline over `days`."""
    c = get_container()
    ips = [_stored_ip(query.query)] if query.type == "ip" else []
    if query.type == "hostname":
        import socket  # noqa: PLC0415

        try:
            resolved = {str(info[4][0]).split("%", 1)[0] for info in socket.getaddrinfo(query.query, None)}
        except UnicodeError as exc:  # IDNA refuses empty or over-long labels before any lookup
            raise InvalidInputError(f"{query.query!r} is not a host name") from exc
        except OSError as exc:
            raise NotFoundError(f"{query.query} does not resolve") from exc
        ips = sorted({_stored_ip(ip) for ip in resolved})
    results = []
    for ip in ips:
        geo = c.geoip.lookup(ip)
        results.append(
            {
                "ip": ip,
                "geo": None
                if geo is None
                else {k: getattr(geo, k, None) for k in ("country_code", "country_name", "city", "asn", "as_org")},
                "decisions": c.decision_queries.check(ip),
                "history": c.decision_queries.history(ip),
                **c.event_queries.track(ip, query.days),
            }
        )
    return {"query": query.query, "type": query.type, "days": query.days, "results": results}
