"""Per-target delivery status: what was last applied, what failed, what waits, what the reconciler repaired.

One item per target on the entities table (`TSTATUS#<id>`), changed by atomic updates so concurrent push
functions never overwrite each other's counts. This is what `GET /api/v1/targets/{id}` and seed 000's
`/bans/xgs-status` answer from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.core.clock import iso
from chalicelib.core.dynamo import DynamoTable


class DeliveryStatus:
    def __init__(self, table: DynamoTable) -> None:
        self._t = table

    def _key(self, target_id: str) -> dict[str, str]:
        return {"pk": f"TSTATUS#{target_id}", "sk": "STATUS"}

    def succeeded(
        self, target_id: str, *, added: int, removed: int, unchanged: int, requests: int, now: datetime
    ) -> None:
        self._t.update(
            self._key(target_id),
            "SET last_success = :now, pending = :zero, connected = :yes, last_batch = :batch "
            "ADD applied_added :a, applied_removed :r, deliveries :one, requests :q",
            values={
                ":now": iso(now),
                ":zero": 0,
                ":yes": True,
                ":a": added,
                ":r": removed,
                ":one": 1,
                ":q": requests,
                ":batch": {"added": added, "removed": removed, "unchanged": unchanged},
            },
        )

    def failed(self, target_id: str, *, message: str, retryable: bool, waiting: int, now: datetime) -> None:
        self._t.update(
            self._key(target_id),
            # `pending` is the backlog of the last failed delivery (retries of one delta must not add up).
            "SET last_error = :e, last_error_at = :now, connected = :no, retryable = :r, pending = :w "
            "ADD failures :one",
            values={":e": message[:500], ":now": iso(now), ":no": False, ":r": retryable, ":w": waiting, ":one": 1},
        )

    def reconciled(self, target_id: str, *, repaired: int, now: datetime) -> None:
        self._t.update(
            self._key(target_id),
            "SET last_reconcile = :now, last_sync = :now, pending = :zero, connected = :yes ADD drift_repaired :n",
            values={":now": iso(now), ":zero": 0, ":yes": True, ":n": repaired},
        )

    def tested(self, target_id: str, *, ok: bool, message: str, now: datetime) -> None:
        self._t.update(
            self._key(target_id),
            "SET last_test = :now, last_test_ok = :ok, last_test_message = :m",
            values={":now": iso(now), ":ok": ok, ":m": message[:500]},
        )

    def get(self, target_id: str) -> dict[str, Any]:
        item = self._t.get(self._key(target_id)) or {}
        return {
            "connected": item.get("connected"),
            "last_success": item.get("last_success"),
            "last_sync": item.get("last_sync"),
            "last_error": item.get("last_error"),
            "last_error_at": item.get("last_error_at"),
            "pending": int(item.get("pending", 0)),
            "failures": int(item.get("failures", 0)),
            "deliveries": int(item.get("deliveries", 0)),
            "applied_added": int(item.get("applied_added", 0)),
            "applied_removed": int(item.get("applied_removed", 0)),
            "drift_repaired": int(item.get("drift_repaired", 0)),
            "last_reconcile": item.get("last_reconcile"),
            "last_test": item.get("last_test"),
            "last_test_ok": item.get("last_test_ok"),
        }

    def forget(self, target_id: str) -> None:
        self._t.delete(self._key(target_id))
