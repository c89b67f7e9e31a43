"""Cheap liveness checks of the AWS services Vigil depends on (the store behind the health routes).

Each probe makes one read-only call that fails fast if the resource is missing or unreachable, and reports
the latency. Errors are translated into a `ProbeResult` here, at the AWS edge, so the health service only
sees plain values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.aws import AwsClients
from chalicelib.core.settings import Settings


@dataclass(frozen=True)
class ProbeResult:
    name: str
    ok: bool
    latency_ms: float
    error: str | None = None


class DependencyProbes:
    """One probe per dependency: DynamoDB tables, the S3 bucket, the SQS queues."""

    def __init__(self, aws: AwsClients, settings: Settings) -> None:
        self._aws = aws
        self._settings = settings

    def run_all(self) -> list[ProbeResult]:
        return [self.dynamodb(), self.s3(), self.sqs()]

    def dynamodb(self) -> ProbeResult:
        client = self._aws.client("dynamodb")
        return _timed("dynamodb", lambda: [client.describe_table(TableName=t) for t in self._settings.tables.values()])

    def s3(self) -> ProbeResult:
        client = self._aws.client("s3")
        return _timed("s3", lambda: client.head_bucket(Bucket=self._settings.bucket))

    def sqs(self) -> ProbeResult:
        client = self._aws.client("sqs")
        return _timed("sqs", lambda: client.get_queue_url(QueueName=self._settings.decisions_queue))


def _timed(name: str, call) -> ProbeResult:
    started = time.perf_counter()
    try:
        call()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        return ProbeResult(name, False, _ms(started), code)
    except BotoCoreError as exc:
        return ProbeResult(name, False, _ms(started), type(exc).__name__)
    return ProbeResult(name, True, _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
