"""Create Vigil's tables, bucket and queues on an AWS endpoint from `infra/resources.py`.

Used by the local platform (against moto server, or LocalStack) and by the tests (against moto in-process).
Idempotent: what exists is left alone, so a restart of `scripts/run` keeps its data.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core.aws import AwsClients
from chalicelib.core.settings import Settings
from infra.resources import BUCKET, QUEUES, TABLES, TableSpec


def _table_request(spec: TableSpec, name: str) -> dict[str, Any]:
    keys = [(spec.partition_key, "HASH")] + ([(spec.sort_key, "RANGE")] if spec.sort_key else [])
    attributes = {k for k, _ in keys}
    indexes = []
    for index in spec.indexes:
        schema = [{"AttributeName": index.partition_key, "KeyType": "HASH"}]
        attributes.add(index.partition_key)
        if index.sort_key:
            schema.append({"AttributeName": index.sort_key, "KeyType": "RANGE"})
            attributes.add(index.sort_key)
        indexes.append({"IndexName": index.name, "KeySchema": schema, "Projection": {"ProjectionType": "ALL"}})
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": k, "KeyType": t} for k, t in keys],
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if indexes:
        request["GlobalSecondaryIndexes"] = indexes
    return request


def create_tables(aws: AwsClients, names: dict[str, str]) -> list[str]:
    """Create each missing table (and its TTL setting); returns the names created."""
    client = aws.client("dynamodb")
    existing = set(client.list_tables().get("TableNames", []))
    created = []
    for spec in TABLES:
        name = names[spec.setting]
        if name in existing:
            continue
        client.create_table(**_table_request(spec, name))
        if spec.ttl_attribute:
            client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
            )
        created.append(name)
    return created


def create_bucket(aws: AwsClients, name: str) -> bool:
    """Create the bucket if missing (versioned, as in AWS); True when created."""
    client = aws.client("s3")
    try:
        client.head_bucket(Bucket=name)
        return False
    except ClientError:
        pass
    if aws.region == "us-east-1":
        client.create_bucket(Bucket=name)
    else:
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": aws.region})
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return True


def create_queues(aws: AwsClients, names: dict[str, str]) -> list[str]:
    """Create each queue with its dead-letter queue and redrive policy; returns the names created."""
    client = aws.client("sqs")
    created = []
    for spec in QUEUES:
        name = names[spec.setting]
        dlq_url = client.create_queue(
            QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": str(spec.retention_days * 86400)}
        )["QueueUrl"]
        dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(spec.max_receive_count)})
        client.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(spec.visibility_timeout_seconds),
                "MessageRetentionPeriod": str(spec.retention_days * 86400),
                "RedrivePolicy": redrive,
            },
        )
        created.append(name)
    return created


def names_from(settings: Settings) -> dict[str, str]:
    """Setting name → physical name, as the settings say."""
    settings_names = [spec.setting for spec in TABLES] + [spec.setting for spec in QUEUES] + [BUCKET.setting]
    return {name: getattr(settings, name) for name in settings_names}


def verify_sender(aws: AwsClients, sender: str) -> None:
    """SES sends only from verified identities; the emulator needs the same step (AWS: see docs/DEPLOY.md)."""
    aws.client("ses").verify_email_identity(EmailAddress=sender)


def create_all(aws: AwsClients, settings: Settings) -> dict[str, list[str]]:
    """Create every resource under the names the settings give."""
    names = names_from(settings)
    verify_sender(aws, settings.mail_sender)
    return {
        "tables": create_tables(aws, names),
        "bucket": [names[BUCKET.setting]] if create_bucket(aws, names[BUCKET.setting]) else [],
        "queues": create_queues(aws, names),
    }
