"""The permission catalogue, the built-in roles and what each API-key scope grants.

Permissions are `resource:action`. Every route names one (see `chalicelib.api.routing`), roles bundle them,
and API-key scopes map onto the same set, so a key and a user holding the same permission are authorised
by the same check.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PermissionDef:
    name: str
    description: str

    @property
    def resource(self) -> str:
        return self.name.split(":", 1)[0]

    @property
    def action(self) -> str:
        return self.name.split(":", 1)[1]


CATALOGUE: tuple[PermissionDef, ...] = (
    PermissionDef("users:read", "Read users"),
    PermissionDef("users:write", "Create, change, deactivate and delete users"),
    PermissionDef("roles:read", "Read roles and permissions"),
    PermissionDef("roles:write", "Create, change and delete roles and permissions"),
    PermissionDef("apikeys:read", "List API keys"),
    PermissionDef("apikeys:write", "Create and revoke API keys"),
    PermissionDef("security:read", "Read the security log and its statistics"),
    PermissionDef("decisions:read", "Read bans, whitelist entries and IOCs"),
    PermissionDef("decisions:write", "Issue, change and lift bans, whitelist entries and IOCs"),
    PermissionDef("events:read", "Read security events, timelines and statistics"),
    PermissionDef("events:ingest", "Post security events"),
    PermissionDef("detection:read", "Read scenarios, pending bans and detection status"),
    PermissionDef("detection:write", "Change scenarios, approve or reject pending bans"),
    PermissionDef("sensors:read", "Read sensors (VMs)"),
    PermissionDef("sensors:write", "Register and remove sensors"),
    PermissionDef("targets:read", "Read firewall targets and their sync status"),
    PermissionDef("targets:write", "Create, change, test and sync firewall targets"),
    PermissionDef("feeds:read", "Download feeds"),
    PermissionDef("config:read", "Read platform configuration"),
    PermissionDef("config:write", "Change platform configuration"),
    PermissionDef("intel:read", "Threat-intelligence lookups and blocklist status"),
    PermissionDef("intel:write", "Sync blocklists, clear the threat-intelligence cache"),
    PermissionDef("reports:read", "Generate and read reports"),
)
NAMES = frozenset(p.name for p in CATALOGUE)

_READ = frozenset(p.name for p in CATALOGUE if p.action == "read") - {
    "users:read",
    "roles:read",
    "apikeys:read",
    "security:read",
}


@dataclass(frozen=True)
class RoleDef:
    name: str
    description: str
    permissions: frozenset[str]


BUILTIN_ROLES: tuple[RoleDef, ...] = (
    RoleDef("admin", "Administrator: every permission", frozenset({"*"})),
    RoleDef(
        "analyst",
        "Manages decisions: bans, whitelist, IOCs, pending bans, scenarios",
        _READ | {"decisions:write", "detection:write", "feeds:read", "intel:write", "targets:read"},
    ),
    RoleDef("viewer", "Reads everything but identities and the security log", _READ),
    RoleDef("agent", "Posts events only", frozenset({"events:ingest"})),
)
BUILTIN_ROLE_NAMES = frozenset(r.name for r in BUILTIN_ROLES)

# Seed 003's key scopes. READ is the viewer's set; WRITE adds what changes decisions; INGEST posts events.
SCOPES: dict[str, frozenset[str]] = {
    "READ": _READ,
    "WRITE": frozenset({"decisions:write", "decisions:read"}),
    "INGEST": frozenset({"events:ingest", "sensors:read"}),
}


def scope_permissions(scopes: tuple[str, ...] | list[str]) -> frozenset[str]:
    """The permissions a set of key scopes grants."""
    granted: set[str] = set()
    for scope in scopes:
        granted |= SCOPES[scope]
    return frozenset(granted)


SUPERUSER_SET = frozenset({"*"})
