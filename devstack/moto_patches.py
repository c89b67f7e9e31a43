"""Make moto's DynamoDB transactions cost what they cost in AWS: the items they touch, not the whole table.

moto backs up a whole table (a deep copy) for every item of a `TransactWriteItems` call, so that it can roll
back; a 25-item transaction on a table of 10,000 decisions copies 250,000 items. Importing a blocklist
through the local platform then takes hours and gigabytes. This patch keeps moto's semantics (all or nothing,
the same errors) but backs up only the items the transaction touches, and restores those on failure.

Applied in the local platform's emulator process (`devstack.moto_main`) and in the test suite (conftest).
It changes the emulator, never Vigil's code.
"""

from __future__ import annotations

import copy
import threading
import types
from typing import Any

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.table import Table

_state = threading.local()
_applied: dict[str, Any] = {}


def _deepcopy(obj: Any, memo: Any = None) -> Any:
    """moto's `copy.deepcopy`, except that a table is not copied while a lean transaction runs."""
    if getattr(_state, "lean", False) and isinstance(obj, Table):
        return obj  # moto's rollback then puts back the very same table: a no-op; ours restores the items
    return copy.deepcopy(obj, memo)


def _key_of(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return op["Key"]
    table = backend.get_table(op["TableName"])
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return key


def _lean_transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    saved = []
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        if "TableName" not in op or op["TableName"] not in self.tables:
            continue  # moto's own code reports the missing table
        key = _key_of(self, op_type, op)
        current = self.get_item(op["TableName"], key)
        saved.append((op["TableName"], key, current.to_json()["Attributes"] if current else None))
    _state.lean = True
    try:
        return _applied["original"](self, transact_items)
    except Exception:
        for table_name, key, attributes in reversed(saved):
            if attributes is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, attributes)
        raise
    finally:
        _state.lean = False


def apply() -> None:
    """Install the patch (idempotent)."""
    if "original" in _applied:
        return
    backend = dynamodb_models.DynamoDBBackend
    _applied["original"] = backend.transact_write_items
    backend.transact_write_items = _lean_transact_write_items
    dynamodb_models.copy = types.SimpleNamespace(deepcopy=_deepcopy, copy=copy.copy)
