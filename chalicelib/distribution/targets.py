"""Targets: the firewalls and WAFs that receive decisions, and what each one wants.

A target record (entities table, `TARGET#<id>`) holds the kind, address, non-secret settings and a selector of
the decisions it receives (global bans, per-sensor bans of some sensors, some tags). Its credentials live in
Secrets Manager under `<prefix><id>`: they are written there on create or change, read just before a push, and
never returned by the API or written to a log.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.clock import Clock, iso
from chalicelib.core.dynamo import DynamoTable
from chalicelib.core.errors import ConflictError, DependencyError, FieldProblem, NotFoundError, ValidationFailedError
from chalicelib.decisions.model import BAN, GLOBAL, Decision
from chalicelib.distribution.connectors.base import Entry, Target

KINDS = ("sophos-xgs", "ssh-nftables", "ssh-ipset", "aws-waf", "webhook", "crowdsec-bouncer", "pull-only")
PUSH_KINDS = ("sophos-xgs", "ssh-nftables", "ssh-ipset", "aws-waf", "webhook")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
# What each kind needs in its credentials (kept in Secrets Manager), checked on create.
REQUIRED_CREDENTIALS: Mapping[str, tuple[str, ...]] = {
    "sophos-xgs": ("username", "password"),
    "ssh-nftables": ("private_key",),
    "ssh-ipset": ("private_key",),
    "webhook": ("secret",),
}
REQUIRED_SETTINGS: Mapping[str, tuple[str, ...]] = {
    "ssh-nftables": ("host_key", "username"),
    "ssh-ipset": ("host_key", "username"),
}


@dataclass(frozen=True)
class Selector:
    """Which decisions a target receives."""

    global_bans: bool = True
    sensors: tuple[str, ...] = ()  # per-sensor bans of these sensors too ("*": every sensor)
    tags: tuple[str, ...] = ()  # only bans carrying one of these tags (empty: any)
    origins: tuple[str, ...] = ()  # only these origins (empty: any)

    def wants(self, decision: Decision) -> bool:
        if decision.type != BAN:
            return False
        if decision.scope == GLOBAL:
            if not self.global_bans:
                return False
        elif decision.sensor is None or not ("*" in self.sensors or decision.sensor in self.sensors):
            return False
        if self.tags and not set(self.tags) & set(decision.tags):
            return False
        return not (self.origins and decision.origin not in self.origins)

    def wants_summary(self, summary: Mapping[str, Any]) -> bool:
        """The same test on a change message's decision summary."""
        return self.wants(
            Decision(
                id=summary["id"],
                value=summary["value"],
                type=summary.get("type", BAN),
                scope=summary.get("scope", GLOBAL),
                origin=summary.get("origin", "manual"),
                tags=tuple(summary.get("tags") or ()),
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "global_bans": self.global_bans,
            "sensors": list(self.sensors),
            "tags": list(self.tags),
            "origins": list(self.origins),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Selector:
        data = data or {}
        return cls(
            bool(data.get("global_bans", True)),
            tuple(data.get("sensors") or ()),
            tuple(data.get("tags") or ()),
            tuple(data.get("origins") or ()),
        )


@dataclass(frozen=True)
class TargetRecord:
    id: str
    name: str
    kind: str
    address: str
    settings: dict[str, Any] = field(default_factory=dict)
    selector: Selector = field(default_factory=Selector)
    enabled: bool = True
    created_at: str | None = None
    updated_at: str | None = None
    has_credentials: bool = False

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "address": self.address,
            "settings": self.settings,
            "selector": self.selector.as_dict(),
            "enabled": self.enabled,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "has_credentials": self.has_credentials,
            "push": self.kind in PUSH_KINDS,
        }

    def with_credentials(self, credentials: Mapping[str, str]) -> Target:
        return Target(self.id, self.name, self.kind, self.address, dict(self.settings), dict(credentials))


def entry_of(decision: Decision) -> Entry:
    return Entry(decision.value, decision.until, decision.id, (decision.scenario or decision.reason or "")[:60])


def entry_of_summary(summary: Mapping[str, Any]) -> Entry:
    from chalicelib.core.clock import parse_time  # noqa: PLC0415

    until = summary.get("until")
    return Entry(
        summary["value"],
        parse_time(until) if until else None,
        summary["id"],
        (summary.get("scenario") or summary.get("reason") or "")[:60],
    )


class CredentialStore:
    """Target credentials in Secrets Manager (the only caller of it)."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def _name(self, target_id: str) -> str:
        return f"{self._prefix}{target_id}"

    def put(self, target_id: str, credentials: Mapping[str, str]) -> None:
        import json  # noqa: PLC0415

        body = json.dumps(dict(credentials))
        try:
            try:
                self._client.put_secret_value(SecretId=self._name(target_id), SecretString=body)
            except self._client.exceptions.ResourceNotFoundException:
                self._client.create_secret(Name=self._name(target_id), SecretString=body)
        except (ClientError, BotoCoreError) as exc:
            raise DependencyError(f"could not store the credentials of target {target_id}") from exc

    def get(self, target_id: str) -> dict[str, str]:
        import json  # noqa: PLC0415

        try:
            answer = self._client.get_secret_value(SecretId=self._name(target_id))
        except self._client.exceptions.ResourceNotFoundException:
            return {}
        except (ClientError, BotoCoreError) as exc:
            raise DependencyError(f"could not read the credentials of target {target_id}") from exc
        return dict(json.loads(answer["SecretString"]))

    def delete(self, target_id: str) -> None:
        try:
            self._client.delete_secret(SecretId=self._name(target_id), ForceDeleteWithoutRecovery=True)
        except self._client.exceptions.ResourceNotFoundException:
            return
        except (ClientError, BotoCoreError) as exc:
            raise DependencyError(f"could not delete the credentials of target {target_id}") from exc


class Targets:
    def __init__(self, table: DynamoTable, credentials: CredentialStore, clock: Clock, check_url: Any) -> None:
        self._t = table
        self.credentials = credentials
        self._clock = clock
        self._check_url = check_url

    def _record(self, item: Mapping[str, Any]) -> TargetRecord:
        return TargetRecord(
            item["id"],
            item["name"],
            item["kind"],
            item.get("address", ""),
            dict(item.get("settings") or {}),
            Selector.from_dict(item.get("selector")),
            bool(item.get("enabled", True)),
            item.get("created_at"),
            item.get("updated_at"),
            bool(item.get("has_credentials")),
        )

    def _validate(
        self,
        kind: str,
        name: str,
        address: str,
        settings: Mapping[str, Any],
        credentials: Mapping[str, str] | None,
        creating: bool,
    ) -> None:
        problems = []
        if kind not in KINDS:
            problems.append(FieldProblem("kind", f"One of {', '.join(KINDS)}"))
        if not NAME.match(name or ""):
            problems.append(FieldProblem("name", "1-64 letters, digits, spaces, '.', '_' or '-'"))
        if kind in ("sophos-xgs", "ssh-nftables", "ssh-ipset", "webhook") and not address:
            problems.append(FieldProblem("address", "Required for this kind of target"))
        for key in REQUIRED_SETTINGS.get(kind, ()):
            if not settings.get(key):
                problems.append(FieldProblem(f"settings.{key}", "Required for this kind of target"))
        if creating:
            for key in REQUIRED_CREDENTIALS.get(kind, ()):
                if not (credentials or {}).get(key):
                    problems.append(FieldProblem(f"credentials.{key}", "Required for this kind of target"))
        if problems:
            raise ValidationFailedError(problems)
        if kind == "webhook":
            self._check_url(address, allow_private=bool(settings.get("allow_private")))

    def create(
        self,
        *,
        name: str,
        kind: str,
        address: str,
        settings: Mapping[str, Any],
        selector: Mapping[str, Any],
        credentials: Mapping[str, str] | None,
        enabled: bool = True,
    ) -> TargetRecord:
        """A new target; `selector` in its stored form (`Selector.as_dict`), as `update` takes it."""
        self._validate(kind, name, address, settings, credentials, creating=True)
        if any(t.name == name for t in self.list()):
            raise ConflictError(f"A target named {name!r} exists already")
        now = iso(self._clock.now())
        target_id = uuid.uuid4().hex[:12]
        if credentials:
            self.credentials.put(target_id, credentials)
        item = {
            "pk": f"TARGET#{target_id}",
            "sk": "TARGET",
            "gsi1pk": "TARGET",
            "gsi1sk": name,
            "id": target_id,
            "name": name,
            "kind": kind,
            "address": address,
            "settings": dict(settings),
            "selector": Selector.from_dict(selector).as_dict(),
            "enabled": enabled,
            "created_at": now,
            "updated_at": now,
            "has_credentials": bool(credentials),
        }
        self._t.put(item, condition="attribute_not_exists(pk)")
        return self._record(item)

    def get(self, target_id: str) -> TargetRecord:
        item = self._t.get({"pk": f"TARGET#{target_id}", "sk": "TARGET"}, consistent=True)
        if item is None:
            raise NotFoundError(f"Target {target_id} not found")
        return self._record(item)

    def list(self) -> list[TargetRecord]:
        return [self._record(i) for i in self._t.query_all("gsi1pk = :k", {":k": "TARGET"}, index="gsi1")]

    def update(self, target_id: str, changes: Mapping[str, Any], credentials: Mapping[str, str] | None) -> TargetRecord:
        current = self.get(target_id)
        name = changes.get("name") or current.name
        address = changes.get("address") if changes.get("address") is not None else current.address
        settings = {**current.settings, **(changes.get("settings") or {})}
        self._validate(current.kind, name, address, settings, None, creating=False)
        if credentials:
            self.credentials.put(target_id, credentials)
        selector = Selector.from_dict(changes["selector"]) if changes.get("selector") is not None else current.selector
        enabled = changes["enabled"] if changes.get("enabled") is not None else current.enabled
        item = {
            "pk": f"TARGET#{target_id}",
            "sk": "TARGET",
            "gsi1pk": "TARGET",
            "gsi1sk": name,
            "id": target_id,
            "name": name,
            "kind": current.kind,
            "address": address,
            "settings": settings,
            "selector": selector.as_dict(),
            "enabled": enabled,
            "created_at": current.created_at,
            "updated_at": iso(self._clock.now()),
            "has_credentials": current.has_credentials or bool(credentials),
        }
        self._t.put(item)
        return self._record(item)

    def delete(self, target_id: str) -> None:
        self.get(target_id)
        self._t.delete({"pk": f"TARGET#{target_id}", "sk": "TARGET"})
        self.credentials.delete(target_id)

    def ready(self, record: TargetRecord) -> Target:
        """The target with its credentials, just before talking to it."""
        return record.with_credentials(self.credentials.get(record.id) if record.has_credentials else {})

    def push_targets(self) -> list[TargetRecord]:
        return [t for t in self.list() if t.enabled and t.kind in PUSH_KINDS]


def wanted_entries(target: TargetRecord, decisions: Iterable[Decision]) -> dict[str, Entry]:
    """value → entry of every decision in force the target wants (the desired state of the target)."""
    return {d.value: entry_of(d) for d in decisions if target.selector.wants(d)}
