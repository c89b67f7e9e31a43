"""The push function: the decisions queue's consumer, applying each batch of changes to every target.

An SQS batch (up to ten messages, each up to 200 changes) becomes one `Delta` per target: the changes are
replayed in order so the last word on each address wins, and each target gets one transaction through its
connector. A target that fails with a retryable error fails exactly the messages that carried changes for it;
they come back after a growing delay (SQS visibility: 30 s, 60 s, 120 s... up to 15 minutes) and go to the
dead-letter queue after five receives. A target that refuses for a reason only a person can fix (credentials,
host key) is marked and alerted, and the reconciler repairs it once fixed; its messages are not retried in
vain. A message Vigil cannot read is parked in the dead-letter queue at once, with the reason attached.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.clock import Clock
from chalicelib.core.observability import get_logger
from chalicelib.decisions.stream import SCHEMA as CHANGES_SCHEMA
from chalicelib.distribution.connectors.base import (
    Connector,
    Delta,
    Entry,
    TargetConfigurationError,
    TargetError,
)
from chalicelib.distribution.status import DeliveryStatus
from chalicelib.distribution.targets import TargetRecord, Targets, entry_of_summary

SYNC_SCHEMA = "vigil.sync/1"
RESELECTING = frozenset({"tags_removed", "updated"})  # changes after which a target may no longer want a ban


@dataclass
class Parsed:
    message_id: str
    receipt: str
    receives: int
    schema: str
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class PushReport:
    failed: list[str] = field(default_factory=list)  # message ids to retry
    parked: list[str] = field(default_factory=list)  # message ids moved to the dead-letter queue
    applied: dict[str, dict[str, int]] = field(default_factory=dict)  # target id → counts
    alerts: list[dict[str, Any]] = field(default_factory=list)


def delta_for(target: TargetRecord, messages: Sequence[Parsed]) -> tuple[Delta, set[str]]:
    """The target's delta from the batch's changes (last word per address wins), and the messages it used."""
    final: dict[str, tuple[str, Entry]] = {}
    used: set[str] = set()
    for message in messages:
        for change in message.body.get("changes", []):
            summary = change["decision"]
            if summary.get("type") not in ("ban", None):
                continue
            entry = entry_of_summary(summary)
            wanted = target.selector.wants_summary(summary)
            if change["op"] == "add" and wanted:
                final[entry.value] = ("add", entry)
            elif change["op"] == "delete" and (wanted or entry.value in final):
                final[entry.value] = ("remove", entry)
            elif change["op"] == "add" and change.get("action") in RESELECTING:
                # Still in force but no longer selected (its tags changed): the target must not keep it.
                final[entry.value] = ("remove", entry)
            else:
                continue
            used.add(message.message_id)
    add = tuple(e for op, e in final.values() if op == "add")
    remove = tuple(e for op, e in final.values() if op == "remove")
    return Delta(add, remove), used


class Pusher:
    def __init__(
        self,
        targets: Targets,
        connector_for: Callable[[str], Connector],
        status: DeliveryStatus,
        clock: Clock,
        queue: Any,
        *,
        on_changes: Callable[[], None] | None = None,
        on_sync: Callable[[dict[str, Any]], None] | None = None,
        on_alerts: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self._on_alerts = on_alerts
        self._targets = targets
        self._connector_for = connector_for
        self._status = status
        self._clock = clock
        self._queue = queue
        self._on_changes = on_changes
        self._on_sync = on_sync

    def handle(self, records: Sequence[dict[str, Any]]) -> PushReport:
        report = PushReport()
        messages = [m for m in (self._parse(r, report) for r in records) if m is not None]
        changes = [m for m in messages if m.schema == CHANGES_SCHEMA]
        if changes:
            for target in self._targets.push_targets():
                self._push(target, changes, report)
            if self._on_changes is not None:
                self._on_changes()
        for message in messages:
            if message.schema == SYNC_SCHEMA and self._on_sync is not None:
                self._on_sync(message.body)
        for message in messages:
            if message.message_id in report.failed:
                self._queue.back_off(message.receipt, message.receives)
        if report.alerts and self._on_alerts is not None:
            self._on_alerts(report.alerts)
        return report

    def _parse(self, record: dict[str, Any], report: PushReport) -> Parsed | None:
        message_id = record.get("messageId", "?")
        try:
            body = json.loads(record["body"])
            schema = body.get("schema")
            if schema not in (CHANGES_SCHEMA, SYNC_SCHEMA):
                raise ValueError(f"unknown schema {schema!r}")
            if schema == CHANGES_SCHEMA and not isinstance(body.get("changes"), list):
                raise ValueError("no changes list")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._queue.park(record.get("body", ""), f"unreadable message: {exc}")
            report.parked.append(message_id)
            get_logger().error("message parked", message_id=message_id, reason=str(exc))
            return None
        receives = int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
        return Parsed(message_id, record.get("receiptHandle", ""), receives, schema, body)

    def _push(self, target: TargetRecord, messages: Sequence[Parsed], report: PushReport) -> None:
        delta, used = delta_for(target, messages)
        if not delta:
            return
        now = self._clock.now()
        try:
            result = self._connector_for(target.kind).apply(self._targets.ready(target), delta)
        except TargetConfigurationError as exc:
            self._status.failed(
                target.id, message=exc.message, retryable=False, waiting=len(delta.add) + len(delta.remove), now=now
            )
            report.alerts.append(
                {
                    "scenario": "target",
                    "ip": None,
                    "severity": "critical",
                    "reason": f"target {target.name} refused us: {exc.message}",
                }
            )
            get_logger().error("target misconfigured", target=target.id, kind=target.kind, error=exc.message)
            return
        except TargetError as exc:
            self._status.failed(
                target.id, message=exc.message, retryable=True, waiting=len(delta.add) + len(delta.remove), now=now
            )
            report.failed += sorted(used - set(report.failed))
            get_logger().warning("push failed, will retry", target=target.id, kind=target.kind, error=exc.message)
            return
        self._status.succeeded(
            target.id,
            added=result.added,
            removed=result.removed,
            unchanged=result.unchanged,
            requests=result.requests,
            now=now,
        )
        report.applied[target.id] = {
            "added": result.added,
            "removed": result.removed,
            "unchanged": result.unchanged,
            "requests": result.requests,
        }


class QueueControl:
    """What the push function does to its own queue: back off a message, park one in the dead-letter queue."""

    def __init__(self, sqs: Any, queue_name: str, max_delay: int = 900) -> None:
        self._sqs = sqs
        self._queue_name = queue_name
        self._max_delay = max_delay
        self._urls: dict[str, str] = {}

    def _url(self, name: str) -> str:
        if name not in self._urls:
            self._urls[name] = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[name]

    def back_off(self, receipt: str, receives: int) -> None:
        if not receipt:
            return
        delay = min(self._max_delay, 30 * 2 ** max(0, receives - 1))
        self._sqs.change_message_visibility(
            QueueUrl=self._url(self._queue_name), ReceiptHandle=receipt, VisibilityTimeout=delay
        )

    def park(self, body: str, reason: str) -> None:
        self._sqs.send_message(
            QueueUrl=self._url(f"{self._queue_name}-dlq"),
            MessageBody=body or "(empty)",
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000]}},
        )
