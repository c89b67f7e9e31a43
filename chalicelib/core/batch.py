"""Queue consumers report partial batch failures: only the messages that failed go back to the queue.

A thin use of Powertools' batch processing: each record is handled on its own; one that raises is logged (the
one place a consumer logs and goes on) and reported in `batchItemFailures`, which Lambda (with
`ReportBatchItemFailures`, set by the CDK stack) and the local driver honour. After five failed receives SQS
moves the message to the dead-letter queue, where an alarm fires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.core.observability import get_logger


def process(event: Any, handle: Callable[[dict[str, Any]], None], context: Any = None) -> dict[str, Any]:
    """Run `handle(record)` for each SQS record of a Chalice `SQSEvent`; returns the partial-failure answer."""
    from aws_lambda_powertools.utilities.batch import (  # noqa: PLC0415 - only queue consumers pay for it
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    raw = event.to_dict() if hasattr(event, "to_dict") else event

    def record_handler(record: Any) -> None:
        try:
            handle(record.raw_event)
        except Exception:
            get_logger().exception("queue record failed", message_id=record.message_id)
            raise

    return process_partial_response(
        event=raw, record_handler=record_handler, processor=BatchProcessor(event_type=EventType.SQS), context=context
    )
