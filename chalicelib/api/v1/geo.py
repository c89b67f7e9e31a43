"""Seed 000's geo zones under /api/v1/geozone and geoblocking under /api/v1/geoblocking.

`DELETE /geozone/countries/hostile` is not in the seed (which lists only the POST); it is here for symmetry
with the authorized list, so a country can leave the hostile zone without rewriting the whole configuration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.api.common import actor_name
from chalicelib.api.contracts import V1, Reply
from chalicelib.api.routing import route
from chalicelib.api.schemas import models
from chalicelib.auth.principal import Principal
from chalicelib.core.deps import get_container

if TYPE_CHECKING:
    from chalicelib.api.schemas.geo import (
        GeoRuleCreate,
        GeoRulesQuery,
        GeoRuleUpdate,
        GeoZoneClassifyQuery,
        GeoZoneConfigUpdate,
        GeoZoneCountries,
        GeoZoneCountriesQuery,
    )
    from chalicelib.intel.geoip import GeoInfo

bp = Blueprint(__name__)
geo_schemas = models("geo")

GEO_FIELDS = ("country_code", "country_name", "city", "latitude", "longitude", "asn", "as_org", "network")


def geo_v1(geo: GeoInfo | None) -> dict[str, Any]:
    """Every GeoIP field, null when the address could not be located."""
    return {name: getattr(geo, name) if geo is not None else None for name in GEO_FIELDS}


# geo zones
@route(bp, "/api/v1/geozone/config", permission="config:read", contract=V1, tags=("geozone",))
def geozone_config() -> dict:
    """The geo-zone policy: authorized and hostile countries, the default zone, what each zone changes."""
    return get_container().geozones.config().as_dict()


@route(
    bp,
    "/api/v1/geozone/config",
    methods=["PUT"],
    permission="config:write",
    contract=V1,
    body=geo_schemas.GeoZoneConfigUpdate,
    tags=("geozone",),
)
def update_geozone_config(body: GeoZoneConfigUpdate, principal: Principal) -> dict:
    """Change any of the policy's fields; lists given replace the stored ones."""
    changes = body.model_dump(exclude_unset=True)
    return get_container().geozones.update(changes, actor_name(principal)).as_dict()


@route(
    bp,
    "/api/v1/geozone/classify",
    permission="config:read",
    contract=V1,
    query=geo_schemas.GeoZoneClassifyQuery,
    tags=("geozone",),
)
def classify(query: GeoZoneClassifyQuery) -> dict:
    """The zone of a country (`?country=CN`) or of an address's country (`?ip=...`), and its effect."""
    c = get_container()
    if query.ip is None:
        return c.geozones.explain(query.country)
    geo = c.geoip.lookup(query.ip)
    return {"ip": query.ip, **c.geozones.explain(geo.country_code if geo else None), "geo": geo_v1(geo)}


@route(
    bp,
    "/api/v1/geozone/countries",
    permission="config:read",
    contract=V1,
    query=geo_schemas.GeoZoneCountriesQuery,
    tags=("geozone",),
)
def geozone_countries(query: GeoZoneCountriesQuery) -> Reply:
    """Every ISO 3166-1 country with its English name and zone (`?zone=hostile` for one zone)."""
    countries = get_container().geozones.countries(query.zone)
    return Reply(countries, meta={"total": len(countries)})


def _add(zone: str, body: GeoZoneCountries, principal: Principal) -> dict:
    config, added = get_container().geozones.add_countries(zone, body.codes(), actor_name(principal))
    return {**config.as_dict(), "added": added}


def _remove(zone: str, body: GeoZoneCountries, principal: Principal) -> dict:
    config, removed = get_container().geozones.remove_countries(zone, body.codes(), actor_name(principal))
    return {**config.as_dict(), "removed": removed}


@route(
    bp,
    "/api/v1/geozone/countries/authorized",
    methods=["POST"],
    permission="config:write",
    contract=V1,
    body=geo_schemas.GeoZoneCountries,
    tags=("geozone",),
)
def authorize_countries(body: GeoZoneCountries, principal: Principal) -> dict:
    """Put countries in the authorized zone (out of the hostile one if they were there)."""
    return _add("authorized", body, principal)


@route(
    bp,
    "/api/v1/geozone/countries/authorized",
    methods=["DELETE"],
    permission="config:write",
    contract=V1,
    body=geo_schemas.GeoZoneCountries,
    tags=("geozone",),
)
def unauthorize_countries(body: GeoZoneCountries, principal: Principal) -> dict:
    """Take countries out of the authorized zone (back to the default zone)."""
    return _remove("authorized", body, principal)


@route(
    bp,
    "/api/v1/geozone/countries/hostile",
    methods=["POST"],
    permission="config:write",
    contract=V1,
    body=geo_schemas.GeoZoneCountries,
    tags=("geozone",),
)
def declare_hostile(body: GeoZoneCountries, principal: Principal) -> dict:
    """Put countries in the hostile zone (out of the authorized one if they were there)."""
    return _add("hostile", body, principal)


@route(
    bp,
    "/api/v1/geozone/countries/hostile",
    methods=["DELETE"],
    permission="config:write",
    contract=V1,
    body=geo_schemas.GeoZoneCountries,
    tags=("geozone",),
)
def undeclare_hostile(body: GeoZoneCountries, principal: Principal) -> dict:
    """Take countries out of the hostile zone (not in the seed; see the module docstring)."""
    return _remove("hostile", body, principal)


# geoblocking
@route(
    bp,
    "/api/v1/geoblocking/rules",
    permission="config:read",
    contract=V1,
    query=geo_schemas.GeoRulesQuery,
    tags=("geoblocking",),
)
def list_rules(query: GeoRulesQuery) -> Reply:
    """Geoblocking rules, oldest first; filter by type, action, enabled."""
    rules = get_container().geoblocking.rules()
    if query.type:
        rules = [r for r in rules if r.type == query.type]
    if query.action:
        rules = [r for r in rules if r.action == query.action]
    if query.enabled is not None:
        rules = [r for r in rules if r.enabled == query.enabled]
    window = rules[query.offset : query.offset + query.limit]
    return Reply(
        [r.as_dict() for r in window], meta={"total": len(rules), "limit": query.limit, "offset": query.offset}
    )


@route(
    bp,
    "/api/v1/geoblocking/rules",
    methods=["POST"],
    permission="config:write",
    contract=V1,
    body=geo_schemas.GeoRuleCreate,
    status=201,
    tags=("geoblocking",),
)
def create_rule(body: GeoRuleCreate, principal: Principal) -> dict:
    """Block or watch a country or an autonomous system."""
    rule = get_container().geoblocking.create(
        body.type, body.value, body.action, reason=body.reason, enabled=body.enabled, actor=actor_name(principal)
    )
    return rule.as_dict()


@route(
    bp,
    "/api/v1/geoblocking/rules/{id}",
    methods=["PUT"],
    permission="config:write",
    contract=V1,
    body=geo_schemas.GeoRuleUpdate,
    tags=("geoblocking",),
)
def update_rule(id: str, body: GeoRuleUpdate) -> dict:
    """Change a rule's type, value, action, reason or enabled flag."""
    return get_container().geoblocking.update(id, body.model_dump(exclude_unset=True)).as_dict()


@route(
    bp,
    "/api/v1/geoblocking/rules/{id}",
    methods=["DELETE"],
    permission="config:write",
    contract=V1,
    tags=("geoblocking",),
)
def delete_rule(id: str) -> dict:
    """Delete a rule; the deleted rule is returned."""
    return get_container().geoblocking.delete(id).as_dict()


@route(bp, "/api/v1/geoblocking/stats", permission="config:read", contract=V1, tags=("geoblocking",))
def geoblocking_stats() -> dict:
    """Rules by type and action, matches today and over seven days, and the GeoIP databases in use."""
    c = get_container()
    return {**c.geoblocking.stats(), "databases": c.geoip.databases()}


@route(bp, "/api/v1/geoblocking/check/{ip}", permission="detection:read", contract=V1, tags=("geoblocking",))
def check_ip(ip: str) -> dict:
    """Where an address is and which rule would apply to it at ingest (`action`: block, watch or allow)."""
    from chalicelib.intel.geoip import is_public  # noqa: PLC0415 - loaded on first use

    c = get_container()
    geo = c.geoip.lookup(ip)
    match = c.geoblocking.check(geo)
    return {
        "ip": ip,
        "reserved": not is_public(ip),
        "geo": geo_v1(geo),
        "action": match.action if match else "allow",
        "rule": match.rule.as_dict() if match else None,
        "shadowed": [r.as_dict() for r in match.shadowed] if match else [],
    }


@route(bp, "/api/v1/geoblocking/lookup/{ip}", permission="intel:read", contract=V1, tags=("geoblocking",))
def lookup_ip(ip: str) -> dict:
    """GeoIP only: country, city, coordinates, autonomous system and the network the answer holds for."""
    from chalicelib.intel.geoip import is_public  # noqa: PLC0415 - loaded on first use

    geo = get_container().geoip.lookup(ip)
    return {"ip": ip, "found": geo is not None, "reserved": not is_public(ip), **geo_v1(geo)}


@route(bp, "/api/v1/geoblocking/countries/blocked", permission="config:read", contract=V1, tags=("geoblocking",))
def blocked_countries() -> Reply:
    """Countries an enabled rule blocks."""
    countries = get_container().geoblocking.countries("block")
    return Reply(countries, meta={"total": len(countries)})


@route(bp, "/api/v1/geoblocking/countries/watched", permission="config:read", contract=V1, tags=("geoblocking",))
def watched_countries() -> Reply:
    """Countries an enabled rule watches."""
    countries = get_container().geoblocking.countries("watch")
    return Reply(countries, meta={"total": len(countries)})
