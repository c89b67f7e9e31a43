"""The batch ledger on moto: a retried batch id answers the first answer, and a claim the SDK resent after its
first attempt was written is still this arrival's claim (seen as `409 being processed` under load before)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.core.dynamo import DynamoTable
from chalicelib.core.errors import ConflictError
from chalicelib.events.batches import BatchLedger


@pytest.fixture
def ledger(aws, settings) -> BatchLedger:
    return BatchLedger(DynamoTable(aws.client("dynamodb"), settings.counters_table))


@pytest.fixture
def resent_once(aws) -> Iterator[list[int]]:
    """botocore resends the next PutItem once although DynamoDB wrote it: what a lost answer (a 500 after the
    write, a reset connection) makes the SDK do."""
    client = aws.client("dynamodb")
    attempts: list[int] = []

    def resend(attempts_so_far: int = 0, **_: object) -> float | None:
        attempts.append(attempts_so_far)
        return 0 if len(attempts) == 1 else None

    client.meta.events.register("needs-retry.dynamodb.PutItem", resend, unique_id="test-resend")
    yield attempts
    client.meta.events.unregister("needs-retry.dynamodb.PutItem", unique_id="test-resend")


def test_a_claim_resent_by_the_sdk_is_still_ours(ledger, clock, resent_once) -> None:
    assert ledger.claim("web01", "b-1", clock.now()) is None
    assert len(resent_once) == 2, "the put went twice, the second finding the first's marker"
    with pytest.raises(ConflictError, match="being processed"):
        ledger.claim("web01", "b-1", clock.now())  # another arrival while the first runs


def test_a_finished_batch_answers_its_first_answer_and_other_sensors_are_apart(ledger, clock) -> None:
    assert ledger.claim("web01", "b-1", clock.now()) is None
    assert ledger.claim("web02", "b-1", clock.now()) is None, "another sensor's batch of the same id"
    ledger.finish("web01", "b-1", {"accepted": 3}, clock.now())
    assert ledger.claim("web01", "b-1", clock.now()) == {"accepted": 3}
    ledger.release("web02", "b-1")
    assert ledger.claim("web02", "b-1", clock.now()) is None, "a released batch runs again"
