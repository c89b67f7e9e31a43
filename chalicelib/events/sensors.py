"""Sensors: what sends events (an agent on a VM, a firewall, a WAF). Seed 002 calls them VMs.

Records live on the entities table (`SENSOR#<id>`); ingest stamps `last_seen` once per batch, and a sensor is
`active` while it has reported within `active_seconds` (15 minutes by default), which is what seed 002's
`active_vms` counts.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.clock import Clock, iso, parse_time
from chalicelib.core.dynamo import DynamoTable
from chalicelib.core.errors import ConflictError, FieldProblem, NotFoundError, ValidationFailedError

SENSOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
COLLECTION_METHODS = ("agent", "wef", "syslog", "api", "firewall", "waf")


def check_sensor_id(sensor_id: str, field: str = "vm_id") -> str:
    if not SENSOR_ID.match(sensor_id or ""):
        raise ValidationFailedError([FieldProblem(field, "1-64 letters, digits, '.', '_' or '-'")])
    return sensor_id


class Sensors:
    def __init__(self, table: DynamoTable, clock: Clock, active_seconds: int = 900) -> None:
        self._t = table
        self._clock = clock
        self._active = timedelta(seconds=active_seconds)

    def _view(self, item: dict[str, Any]) -> dict[str, Any]:
        last_seen = item.get("last_seen")
        active = bool(last_seen) and parse_time(last_seen) >= self._clock.now() - self._active
        return {
            "vm_id": item["vm_id"],
            "hostname": item.get("hostname"),
            "ip_address": item.get("ip_address"),
            "collection_method": item.get("collection_method", "agent"),
            "status": "active" if active else "inactive",
            "last_seen": last_seen,
            "registered_at": item.get("registered_at"),
            "events_received": int(item.get("events_received", 0)),
        }

    def register(
        self,
        vm_id: str,
        hostname: str | None,
        ip_address: str | None,
        collection_method: str = "agent",
        *,
        auto: bool = False,
    ) -> dict[str, Any]:
        check_sensor_id(vm_id)
        if collection_method not in COLLECTION_METHODS:
            raise ValidationFailedError([FieldProblem("collection_method", f"One of {', '.join(COLLECTION_METHODS)}")])
        if ip_address is not None:
            try:
                ip_address = str(ipaddress.ip_address(ip_address))
            except ValueError:
                raise ValidationFailedError([FieldProblem("ip_address", "Invalid IP address format")]) from None
        item = {
            "pk": f"SENSOR#{vm_id}",
            "sk": "SENSOR",
            "gsi1pk": "SENSOR",
            "gsi1sk": vm_id,
            "vm_id": vm_id,
            "hostname": hostname,
            "ip_address": ip_address,
            "collection_method": collection_method,
            "registered_at": iso(self._clock.now()),
            "auto_registered": auto,
            "events_received": 0,
        }
        try:
            self._t.put(item, condition="attribute_not_exists(pk)")
        except ConflictError as exc:
            raise ConflictError(f"VM {vm_id} is already registered") from exc
        return self._view(item)

    def get(self, vm_id: str) -> dict[str, Any] | None:
        item = self._t.get({"pk": f"SENSOR#{vm_id}", "sk": "SENSOR"})
        return self._view(item) if item else None

    def require(self, vm_id: str) -> dict[str, Any]:
        found = self.get(vm_id)
        if found is None:
            raise NotFoundError(f"VM {vm_id} not found")
        return found

    def list(self) -> list[dict[str, Any]]:
        items = self._t.query_all("gsi1pk = :k", {":k": "SENSOR"}, index="gsi1")
        return [self._view(i) for i in items]

    def delete(self, vm_id: str) -> None:
        if self._t.delete({"pk": f"SENSOR#{vm_id}", "sk": "SENSOR"}) is None:
            raise NotFoundError(f"VM {vm_id} not found")

    def seen(self, vm_id: str, events: int, hostname: str | None, when: datetime | None = None) -> bool:
        """Stamp a batch: last_seen, events received, and the hostname it reports under. False, and nothing
        written, when the sensor is not registered (deleted since its batch began)."""
        names = {"#n": "events_received"}
        values: dict[str, Any] = {":at": iso(when or self._clock.now()), ":n": events}
        expression = "SET last_seen = :at ADD #n :n"
        if hostname:
            expression = "SET last_seen = :at, hostname = if_not_exists(hostname, :h) ADD #n :n"
            values[":h"] = hostname
        try:
            self._t.update(
                {"pk": f"SENSOR#{vm_id}", "sk": "SENSOR"},
                expression,
                names=names,
                values=values,
                condition="attribute_exists(pk)",
            )
        except ConflictError:
            return False
        return True

    def active_count(self) -> int:
        return sum(1 for s in self.list() if s["status"] == "active")
