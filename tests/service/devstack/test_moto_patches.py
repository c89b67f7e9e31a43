"""The emulator patch keeps transactions all-or-nothing while backing up only the items they touch."""

from __future__ import annotations

import pytest

from chalicelib.core.dynamo import Delete, DynamoTable, Put
from chalicelib.core.errors import ConflictError


@pytest.fixture
def table(aws, settings) -> DynamoTable:
    return DynamoTable(aws.client("dynamodb"), settings.counters_table)


def test_a_failed_transaction_changes_nothing(table: DynamoTable) -> None:
    table.put({"pk": "kept", "sk": "1", "n": 1})
    table.put({"pk": "doomed", "sk": "1", "n": 1})
    with pytest.raises(ConflictError):
        table.transact(
            [
                Put({"pk": "new", "sk": "1", "n": 1}),
                Put({"pk": "kept", "sk": "1", "n": 2}),
                Delete({"pk": "doomed", "sk": "1"}),
                Put({"pk": "kept2", "sk": "1"}, condition="attribute_exists(pk)"),  # fails
            ],
            "conflict",
        )
    assert table.get({"pk": "new", "sk": "1"}) is None
    assert table.get({"pk": "kept", "sk": "1"})["n"] == 1
    assert table.get({"pk": "doomed", "sk": "1"})["n"] == 1


def test_a_successful_transaction_applies_everything(table: DynamoTable) -> None:
    table.put({"pk": "a", "sk": "1", "n": 1})
    table.transact(
        [
            Put({"pk": "a", "sk": "1", "n": 2}, condition="n = :one", values={":one": 1}),
            Put({"pk": "b", "sk": "1", "n": 1}, condition="attribute_not_exists(pk)"),
        ],
        "conflict",
    )
    assert table.get({"pk": "a", "sk": "1"})["n"] == 2 and table.get({"pk": "b", "sk": "1"})["n"] == 1
