"""What EventBridge and Lambda's SQS poller do in AWS, done on one machine.

The driver reads the app's registered event sources: every `@app.schedule` function is fired on its rate or
cron expression, and every `@app.on_sqs_message` handler receives batches from its queue in Lambda's event
format. A batch answer with `batchItemFailures` leaves exactly those messages on the queue (Lambda's
ReportBatchItemFailures); a handler that raises leaves the whole batch. Failed messages become visible again
after a short local back-off instead of the queue's full visibility timeout, so retries and the dead-letter
redrive (after `maxReceiveCount` receives) can be watched in minutes.
"""

from __future__ import annotations

import importlib
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalice.app import ScheduledEventConfig, SQSEventConfig
from chalice.local import LambdaContext

from chalicelib.core.aws import AwsClients
from chalicelib.core.observability import get_logger

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def _expression_text(expression: Any) -> str:
    return expression if isinstance(expression, str) else expression.to_string()


@dataclass
class Schedule:
    """When a scheduled function next runs."""

    name: str
    expression: str
    handler: Callable[..., Any]

    def next_after(self, when: datetime) -> datetime:
        rate = _RATE.match(self.expression)
        if rate:
            return when + timedelta(seconds=int(rate.group(1)) * _UNIT_SECONDS[rate.group(2).rstrip("s")])
        if self.expression.startswith("cron(") and self.expression.endswith(")"):
            return CronExpression(self.expression[5:-1]).next_after(when)
        raise ValueError(f"unsupported schedule expression {self.expression!r}")


class CronExpression:
    """EventBridge's six-field cron (minute hour day-of-month month day-of-week year), `*`, `?`, lists,
    ranges and steps; enough for Vigil's schedules."""

    def __init__(self, text: str) -> None:
        fields = text.split()
        if len(fields) != 6:
            raise ValueError(f"cron needs 6 fields: {text!r}")
        self.minutes = _field(fields[0], 0, 59)
        self.hours = _field(fields[1], 0, 23)
        self.days = _field(fields[2], 1, 31)
        self.months = _field(fields[3], 1, 12)
        # EventBridge numbers days of the week 1 (Sunday) to 7; Python's weekday() is 0 (Monday) to 6.
        self.weekdays = {(d + 5) % 7 for d in _field(fields[4], 1, 7)}

    def next_after(self, when: datetime) -> datetime:
        candidate = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(366 * 24 * 60):
            if (
                candidate.minute in self.minutes
                and candidate.hour in self.hours
                and candidate.day in self.days
                and candidate.month in self.months
                and candidate.weekday() in self.weekdays
            ):
                return candidate
            candidate += timedelta(minutes=1)
        raise ValueError("cron expression never fires")


def _field(text: str, low: int, high: int) -> set[int]:
    if text in ("*", "?"):
        return set(range(low, high + 1))
    values: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            start, end = (int(x) for x in base.split("-"))
        else:
            start = end = int(base)
            if step:
                end = high
        values.update(range(start, end + 1, int(step) if step else 1))
    return values


def _resolve(handler_string: str) -> Callable[..., Any]:
    module_name, _, attribute = handler_string.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


def _context(name: str) -> LambdaContext:
    return LambdaContext(function_name=name, memory_size=1024, max_runtime_ms=900_000)


class Driver:
    """Runs schedules and queue pollers in background threads until `stop()`."""

    def __init__(
        self, app: Any, aws: AwsClients, *, retry_backoff_seconds: int | None = 10, wait_seconds: int = 1
    ) -> None:
        self._wait = wait_seconds
        self._app = app
        self._aws = aws
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._retry_backoff = retry_backoff_seconds
        self.log = get_logger()

    def schedules(self) -> list[Schedule]:
        return [
            Schedule(s.name, _expression_text(s.schedule_expression), _resolve(s.handler_string))
            for s in self._app.event_sources
            if isinstance(s, ScheduledEventConfig)
        ]

    def queues(self) -> list[SQSEventConfig]:
        return [s for s in self._app.event_sources if isinstance(s, SQSEventConfig)]

    def start(self) -> None:
        for schedule in self.schedules():
            self._spawn(f"schedule-{schedule.name}", self._run_schedule, schedule)
        for source in self.queues():
            self._spawn(f"sqs-{source.name}", self._poll_queue, source)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _spawn(self, name: str, target: Callable[..., None], arg: Any) -> None:
        thread = threading.Thread(target=target, args=(arg,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _run_schedule(self, schedule: Schedule) -> None:
        due = schedule.next_after(datetime.now(UTC))
        while not self._stop.wait(max(0.0, (due - datetime.now(UTC)).total_seconds())):
            self.fire(schedule)
            due = schedule.next_after(datetime.now(UTC))

    def fire(self, schedule: Schedule) -> Any:
        """Run one scheduled function now, with an EventBridge-shaped event."""
        try:
            return schedule.handler(scheduled_event(schedule.name, self._aws.region), _context(schedule.name))
        except Exception:
            # A failed run is logged and the schedule goes on, as EventBridge would fire it again.
            self.log.exception("scheduled function failed", schedule=schedule.name)
            return None

    def _poll_queue(self, source: SQSEventConfig) -> None:
        handler = _resolve(source.handler_string)
        sqs = self._aws.client("sqs")
        url = sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        while not self._stop.is_set():
            try:
                self.deliver(sqs, url, arn, handler, source)
            except Exception:
                self.log.exception("queue poll failed", queue=source.queue)
                time.sleep(1)

    def deliver(self, sqs: Any, url: str, arn: str, handler: Callable[..., Any], source: SQSEventConfig) -> int:
        """Receive one batch, hand it to the handler, delete what succeeded; returns messages handled."""
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(source.batch_size, 10),
            WaitTimeSeconds=self._wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = got.get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [_record(m, arn, self._aws.region) for m in messages]}
        try:
            answer = handler(event, _context(source.name))
        except Exception:
            self.log.exception("queue handler failed", queue=source.queue)
            answer = {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in messages]}
        failed = {f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
                ],
            )
        for message in messages:
            # `None`: leave the delay to the consumer (the push function backs off on its own) or to the queue.
            if message["MessageId"] in failed and self._retry_backoff is not None:
                sqs.change_message_visibility(
                    QueueUrl=url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self._retry_backoff,
                )
        return len(messages)


def scheduled_event(rule: str, region: str = "us-east-1") -> dict[str, Any]:
    """The event EventBridge hands a scheduled function."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/{rule}"],
        "detail": {},
    }


def _record(message: dict[str, Any], arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }
