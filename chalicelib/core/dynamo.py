"""A thin, thread-safe layer over the low-level DynamoDB client, shared by every store.

Stores speak plain Python dicts; this module converts to and from DynamoDB's typed JSON, pages through
queries, splits batch writes into 25-item requests and retries the unprocessed rest, and turns
`ConditionalCheckFailedException` into `ConflictError` at the edge. It uses the client, not `boto3.resource`,
because resources are not thread-safe and the local server serves requests from several threads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from chalicelib.core.errors import ConflictError, DependencyError, ItemTooLargeError

BATCH_WRITE_MAX = 25
TRANSACTION_MAX = 25  # DynamoDB accepts 100 operations per transaction, moto (the local emulator) 25
BATCH_GET_MAX = 100


def _to_dynamo_value(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo_value(v) for v in value]
    return value


@lru_cache(maxsize=1)
def _codecs() -> tuple[Any, Any]:
    """boto3's type (de)serialisers, imported on first use: boto3 costs ~130 ms of a cold start."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer  # noqa: PLC0415

    return TypeSerializer(), TypeDeserializer()


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict as DynamoDB typed JSON; `None` attributes are left out (DynamoDB stores no nulls here)."""
    serializer = _codecs()[0]
    return {k: serializer.serialize(_to_dynamo_value(v)) for k, v in item.items() if v is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB typed JSON as a plain dict, numbers as int or float."""
    deserializer = _codecs()[1]
    return {k: _plain(deserializer.deserialize(v)) for k, v in item.items()}


def _client_error() -> type[Exception]:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    return ClientError


def _is_item_too_large(exc: Any) -> bool:
    # PutItem says "Item size has exceeded the maximum allowed size", UpdateItem "Item size to update has ...".
    error = exc.response.get("Error", {})
    message = error.get("Message", "")
    return error.get("Code") == "ValidationException" and "exceeded the maximum allowed size" in message


def _is_condition_failure(exc: Any) -> bool:
    return exc.response.get("Error", {}).get("Code") in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


def _refused(exc: Any) -> set[int]:
    """The positions of a cancelled transaction's operations whose condition failed."""
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    return {n for n, reason in enumerate(reasons) if reason.get("Code") == "ConditionalCheckFailed"}


@dataclass(frozen=True)
class Put:
    """A put inside a transaction, with an optional condition."""

    item: Mapping[str, Any]
    condition: str | None = None
    names: Mapping[str, str] | None = None
    values: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Delete:
    key: Mapping[str, Any]
    condition: str | None = None


class DynamoTable:
    """One table, through the client. Every method returns plain dicts."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    def get(self, key: Mapping[str, Any], *, consistent: bool = False) -> dict[str, Any] | None:
        answer = self.client.get_item(TableName=self.name, Key=serialize(key), ConsistentRead=consistent)
        item = answer.get("Item")
        return deserialize(item) if item else None

    def put(
        self,
        item: Mapping[str, Any],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """Write an item; with a `condition`, a failed condition raises `ConflictError`."""
        request: dict[str, Any] = {"TableName": self.name, "Item": serialize(item)}
        _add_expression(request, condition, names, values)
        try:
            self.client.put_item(**request)
        except _client_error() as exc:
            if _is_condition_failure(exc):
                raise ConflictError("The item changed or exists already") from exc
            raise

    def update(
        self,
        key: Mapping[str, Any],
        expression: str,
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: Literal["ALL_NEW", "UPDATED_NEW"] = "ALL_NEW",
    ) -> dict[str, Any]:
        """Apply an update expression atomically and return the item as it is afterwards (with `UPDATED_NEW`,
        only the attributes the expression set: what a counter item many times larger than its update needs)."""
        request: dict[str, Any] = {
            "TableName": self.name,
            "Key": serialize(key),
            "UpdateExpression": expression,
            "ReturnValues": returns,
        }
        _add_expression(request, condition, names, values)
        try:
            return deserialize(self.client.update_item(**request).get("Attributes", {}))
        except _client_error() as exc:
            if _is_condition_failure(exc):
                raise ConflictError("The item changed or does not exist") from exc
            if _is_item_too_large(exc):
                raise ItemTooLargeError(f"{self.name}: the item would pass DynamoDB's 400 KB limit") from exc
            raise

    def delete(self, key: Mapping[str, Any], *, condition: str | None = None) -> dict[str, Any] | None:
        """Delete an item and return what it held (None if nothing was there)."""
        request: dict[str, Any] = {"TableName": self.name, "Key": serialize(key), "ReturnValues": "ALL_OLD"}
        if condition:
            request["ConditionExpression"] = condition
        try:
            old = self.client.delete_item(**request).get("Attributes")
        except _client_error() as exc:
            if _is_condition_failure(exc):
                raise ConflictError("The item changed") from exc
            raise
        return deserialize(old) if old else None

    def query(
        self,
        key_condition: str,
        values: Mapping[str, Any],
        *,
        names: Mapping[str, str] | None = None,
        index: str | None = None,
        forward: bool = True,
        limit: int | None = None,
        start: Mapping[str, Any] | None = None,
        filter_expression: str | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of a query: the items and the key to continue from (None at the end)."""
        request: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeValues": serialize(values),
            "ScanIndexForward": forward,
        }
        if names:
            request["ExpressionAttributeNames"] = dict(names)
        if index:
            request["IndexName"] = index
        if limit:
            request["Limit"] = limit
        if start:
            request["ExclusiveStartKey"] = serialize(start)
        if filter_expression:
            request["FilterExpression"] = filter_expression
        answer = self.client.query(**request)
        last = answer.get("LastEvaluatedKey")
        return [deserialize(i) for i in answer.get("Items", [])], (deserialize(last) if last else None)

    def query_all(self, key_condition: str, values: Mapping[str, Any], **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item a query matches, across pages."""
        start = None
        while True:
            items, start = self.query(key_condition, values, start=start, **kwargs)
            yield from items
            if start is None:
                return

    def scan_all(self) -> Iterator[dict[str, Any]]:
        """Every item in the table (maintenance only: snapshots, exports)."""
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.name):
            for item in page.get("Items", []):
                yield deserialize(item)

    def transact(self, operations: Iterable[Put | Delete], conflict_message: str) -> None:
        """Apply puts and deletes all or nothing; a failed condition raises `ConflictError(conflict_message)`."""
        items = []
        for op in operations:
            if isinstance(op, Put):
                entry: dict[str, Any] = {"TableName": self.name, "Item": serialize(op.item)}
                _add_expression(entry, op.condition, op.names, op.values)
                items.append({"Put": entry})
            else:
                entry = {"TableName": self.name, "Key": serialize(op.key)}
                if op.condition:
                    entry["ConditionExpression"] = op.condition
                items.append({"Delete": entry})
        try:
            self.client.transact_write_items(TransactItems=items)
        except _client_error() as exc:
            if _is_condition_failure(exc):
                raise ConflictError(conflict_message) from exc
            raise

    def put_each(self, puts: Sequence[Put]) -> list[bool]:
        """Conditional puts, each on its own condition, in as few requests as DynamoDB allows: which were written.

        A transaction writes all or nothing, so when some conditions fail (its cancellation reasons say which)
        the others are sent again without them: one request for the usual case, one more per round of refusals.
        One put goes alone (a transaction costs twice the write capacity); the items must be distinct."""
        written = [False] * len(puts)
        for start in range(0, len(puts), TRANSACTION_MAX):
            pending = list(range(start, min(start + TRANSACTION_MAX, len(puts))))
            while len(pending) > 1:
                try:
                    self.transact([puts[i] for i in pending], "The item changed or exists already")
                except ConflictError as exc:
                    refused = _refused(exc.__cause__)
                    if not refused:
                        raise
                    pending = [index for n, index in enumerate(pending) if n not in refused]
                    continue
                for index in pending:
                    written[index] = True
                pending = []
            if pending:
                put = puts[pending[0]]
                try:
                    self.put(put.item, condition=put.condition, names=put.names, values=put.values)
                    written[pending[0]] = True
                except ConflictError:
                    pass
        return written

    def batch_write(self, puts: Iterable[Mapping[str, Any]] = (), deletes: Iterable[Mapping[str, Any]] = ()) -> int:
        """Write and delete in requests of 25, retrying what DynamoDB leaves unprocessed; returns request count."""
        requests = [{"PutRequest": {"Item": serialize(i)}} for i in puts]
        requests += [{"DeleteRequest": {"Key": serialize(k)}} for k in deletes]
        sent = 0
        for start in range(0, len(requests), BATCH_WRITE_MAX):
            pending = {self.name: requests[start : start + BATCH_WRITE_MAX]}
            for attempt in range(8):
                answer = self.client.batch_write_item(RequestItems=pending)
                sent += 1
                pending = answer.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))  # back off as DynamoDB asks when it throttles
            else:
                raise DependencyError(f"DynamoDB left items unprocessed in {self.name} after retries")
        return sent

    def batch_get(self, keys: Iterable[Mapping[str, Any]], *, consistent: bool = False) -> list[dict[str, Any]]:
        """Read many items by key, 100 per request, retrying unprocessed keys."""
        keys = [serialize(k) for k in keys]
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET_MAX):
            pending = {self.name: {"Keys": keys[start : start + BATCH_GET_MAX], "ConsistentRead": consistent}}
            for attempt in range(8):
                answer = self.client.batch_get_item(RequestItems=pending)
                found += [deserialize(i) for i in answer.get("Responses", {}).get(self.name, [])]
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise DependencyError(f"DynamoDB left keys unprocessed in {self.name} after retries")
        return found


def _add_expression(
    request: dict[str, Any],
    condition: str | None,
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
) -> None:
    if condition:
        request["ConditionExpression"] = condition
    if names:
        request["ExpressionAttributeNames"] = dict(names)
    if values:
        request["ExpressionAttributeValues"] = serialize(values)
