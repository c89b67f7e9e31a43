"""Vigil's AWS stack: one CloudFormation stack per stage, built from the plain data in `infra/resources.py`.

Tables, the bucket, the queues with their dead-letter queues, the JWT secret, the functions' role and the alarms
are CDK resources. The functions and the REST API come from `chalice package` through `chalice.cdk.Chalice` (a
SAM template imported into this stack), then patched where Chalice has no setting: partial batch responses and
real queue references on SQS consumers, gateway responses in the API definition, log groups with a retention.
All functions share one role owned by this stack (`manage_iam_role: false`), so Chalice creates no role and no
policy of its own; every permission below is granted on a named resource.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from chalice.cdk import Chalice
from constructs import Construct

from chalicelib.api.edge import SECURITY_HEADERS
from chalicelib.core.settings import Settings, env_name
from infra.resources import BUCKET, QUEUES, TABLES, QueueSpec, TableSpec, physical_name

# Stages whose data is disposable: everything else keeps tables, bucket, secret and logs when the stack goes.
DISPOSABLE_STAGES = frozenset({"dev"})
STAGE_PATTERN = re.compile(r"^[a-z][a-z0-9]{1,11}$")
SAM_FUNCTION = "AWS::Serverless::Function"
REST_API = "RestAPI"  # the logical id chalice gives the API in its SAM template
BATCH_FAILURES = ["ReportBatchItemFailures"]
NOT_FOUND_TEMPLATE = (
    '{"error":{"code":"NOT_FOUND","message":"No route for $context.httpMethod $context.path",'
    '"details":null,"request_id":"$context.requestId"}}'
)
# `messageString` is already a quoted JSON string; `responseType` names the gateway's reason (THROTTLED, ...).
GATEWAY_ERROR_TEMPLATE = (
    '{"error":{"code":"$context.error.responseType","message":$context.error.messageString,'
    '"details":null,"request_id":"$context.requestId"}}'
)
RATE_LIMIT_TEMPLATE = (
    '{"error":{"code":"RATE_LIMIT","message":$context.error.messageString,'
    '"details":null,"request_id":"$context.requestId"}}'
)


def _key(name: str | None) -> dynamodb.Attribute | None:
    """Every key of Vigil's tables and indexes is a string."""
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING) if name else None


def pascal(logical: str) -> str:
    """`ingest-retry` → `IngestRetry` (construct and output ids)."""
    return "".join(part.capitalize() for part in logical.split("-"))


def secret_name(stage: str) -> str:
    """The Secrets Manager name of the JWT signing key of a stage."""
    return f"vigil/{stage}/jwt"


def target_secret_prefix(stage: str) -> str:
    """Where the firewall connectors keep each target's credentials."""
    return f"vigil/{stage}/targets/"


def gateway_responses() -> dict[str, Any]:
    """API Gateway's own answers (unknown route, throttling, 4XX/5XX) in the v1 error envelope.

    They go into the OpenAPI body (`x-amazon-apigateway-gateway-responses`) rather than separate
    `AWS::ApiGateway::GatewayResponse` resources: SAM re-imports the body on every change and a separate
    resource is then dropped from the API, and the body is what SAM hashes to decide on a new deployment.
    """
    headers = {f"gatewayresponse.header.{name}": f"'{value}'" for name, value in SECURITY_HEADERS.items()}

    def response(template: str, status: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = {
            "responseParameters": dict(headers),
            "responseTemplates": {"application/json": template},
        }
        if status:
            found["statusCode"] = status
        return found

    return {
        # API Gateway answers an unknown path (or a method no route has) with this type, as 403 by default.
        "MISSING_AUTHENTICATION_TOKEN": response(NOT_FOUND_TEMPLATE, "404"),
        "THROTTLED": response(RATE_LIMIT_TEMPLATE, "429"),
        "DEFAULT_4XX": response(GATEWAY_ERROR_TEMPLATE),
        "DEFAULT_5XX": response(GATEWAY_ERROR_TEMPLATE),
    }


def stage_settings(source_dir: Path, stage: str) -> dict[str, Any]:
    """The stage's block of `.chalice/config.json`; the stack only deploys stages declared there."""
    if not STAGE_PATTERN.match(stage):
        raise ValueError(f"stage {stage!r} must be 2-12 lowercase letters or digits, starting with a letter")
    config = json.loads((source_dir / ".chalice" / "config.json").read_text(encoding="utf-8"))
    stages = config.get("stages", {})
    if stage == "local" or stage not in stages:
        declared = sorted(s for s in stages if s != "local")
        raise ValueError(f"stage {stage!r} is not an AWS stage of .chalice/config.json (declared: {declared})")
    return stages[stage]


@dataclass(frozen=True)
class StageOptions:
    """What differs between deployments of the stack."""

    stage: str
    source_dir: Path
    mail_sender: str | None = None
    alarm_email: str | None = None

    @property
    def disposable(self) -> bool:
        return self.stage in DISPOSABLE_STAGES

    @property
    def data_removal(self) -> cdk.RemovalPolicy:
        return cdk.RemovalPolicy.DESTROY if self.disposable else cdk.RemovalPolicy.RETAIN


class VigilStack(cdk.Stack):
    """Everything one stage of Vigil runs on.

    The construct id must be the stage name: `chalice.cdk.Chalice` packages the app for the stage named by its
    scope, so `.chalice/config.json`'s block for that stage (memory, timeout, layer) applies.
    """

    def __init__(self, scope: Construct, options: StageOptions, **kwargs: Any) -> None:
        super().__init__(scope, options.stage, stack_name=f"vigil-{options.stage}", **kwargs)
        stage_settings(options.source_dir, options.stage)
        self.options = options
        self.mail_sender = options.mail_sender or Settings.model_fields["mail_sender"].default
        if not options.mail_sender:
            cdk.Annotations.of(self).add_warning_v2(
                "vigil:mail-sender", f"no -c mail_sender given; emails will be sent from {self.mail_sender}"
            )
        cdk.Tags.of(self).add("project", "vigil")
        cdk.Tags.of(self).add("stage", options.stage)

        self.tables = {spec.logical: self._table(spec) for spec in TABLES}
        self.bucket = self._bucket()
        self.queues: dict[str, sqs.Queue] = {}
        self.dlqs: dict[str, sqs.Queue] = {}
        for spec in QUEUES:
            self.queues[spec.logical], self.dlqs[spec.logical] = self._queue(spec)
        self.jwt_secret = secretsmanager.Secret(
            self,
            "JwtSecret",
            secret_name=secret_name(options.stage),
            description="HS256 signing key of Vigil's access tokens",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=options.data_removal,
        )
        self.alarm_topic = self._alarm_topic()
        self.role = self._function_role()
        self.geoip_city = self._geoip_city()
        self.app = self._chalice_app()
        self._patch_sam_template()
        self._grant()
        for spec in QUEUES:
            self._dlq_alarm(spec)
        self._outputs()

    # data
    def _table(self, spec: TableSpec) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            f"{pascal(spec.logical)}Table",
            table_name=physical_name(spec.logical, self.options.stage),
            partition_key=_key(spec.partition_key),
            sort_key=_key(spec.sort_key),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=spec.ttl_attribute,
            deletion_protection=not self.options.disposable,
            removal_policy=self.options.data_removal,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_key(index.partition_key),
                sort_key=_key(index.sort_key),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table

    def _bucket(self) -> s3.Bucket:
        # No bucket_name: S3 names are global, so CloudFormation picks one and the functions get it by variable.
        return s3.Bucket(
            self,
            "DataBucket",
            versioned=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="archive",
                    prefix=BUCKET.archive_prefix,
                    # Raw events are read rarely (investigations, Athena): Glacier Instant Retrieval keeps them
                    # readable in milliseconds at a fraction of Standard's storage price.
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=cdk.Duration.days(BUCKET.archive_transition_days),
                        )
                    ],
                    expiration=cdk.Duration.days(BUCKET.archive_expiry_days),
                ),
                s3.LifecycleRule(
                    id="versions",
                    noncurrent_version_expiration=cdk.Duration.days(30),
                    expired_object_delete_marker=True,
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                ),
            ],
            removal_policy=self.options.data_removal,
            auto_delete_objects=self.options.disposable,
        )

    def _queue(self, spec: QueueSpec) -> tuple[sqs.Queue, sqs.Queue]:
        # Queues are transport, not records: they go with the stack in every stage (see docs/DEPLOY.md).
        stage = self.options.stage
        dlq = sqs.Queue(
            self,
            f"{pascal(spec.logical)}Dlq",
            queue_name=physical_name(spec.dlq_logical, stage),
            retention_period=cdk.Duration.days(spec.retention_days),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        queue = sqs.Queue(
            self,
            f"{pascal(spec.logical)}Queue",
            # An explicit name: app.py's `@app.on_sqs_message(queue=...)` takes a name when chalice packages it.
            queue_name=physical_name(spec.logical, stage),
            visibility_timeout=cdk.Duration.seconds(spec.visibility_timeout_seconds),
            retention_period=cdk.Duration.days(spec.retention_days),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=spec.max_receive_count),
        )
        return queue, dlq

    # functions
    def function_environment(self) -> dict[str, str]:
        """Every VIGIL_* variable that names a resource of this stack (the bucket's name is a token)."""
        stage = self.options.stage
        env = {env_name("stage"): stage}
        env.update({env_name(spec.setting): physical_name(spec.logical, stage) for spec in TABLES})
        env[env_name(BUCKET.setting)] = self.bucket.bucket_name
        env.update({env_name(spec.setting): physical_name(spec.logical, stage) for spec in QUEUES})
        env[env_name("jwt_secret_parameter")] = secret_name(stage)
        env[env_name("mail_sender")] = self.mail_sender
        env["VIGIL_TARGET_SECRET_PREFIX"] = target_secret_prefix(stage)
        env["VIGIL_GEOIP_CITY_DB"] = f"s3://{self.geoip_city.s3_bucket_name}/{self.geoip_city.s3_object_key}"
        env["POWERTOOLS_SERVICE_NAME"] = "vigil"
        env["POWERTOOLS_METRICS_NAMESPACE"] = "Vigil"
        return env

    def _geoip_city(self) -> s3_assets.Asset:
        """The embedded GeoLite2 City database, shipped as a CDK asset rather than inside the Lambda layer: it is
        26 MB zipped, more than the rest of the dependencies together, and functions read it from S3 into /tmp
        once per container (`VIGIL_GEOIP_CITY_DB`). Point that variable at a current MaxMind database to replace it."""
        from _maxminddb_geolite2 import geolite2_database  # noqa: PLC0415 - a dev dependency, only its path is needed

        asset = s3_assets.Asset(self, "GeoIpCity", path=str(geolite2_database()))
        asset.grant_read(self.role)
        return asset

    def _function_role(self) -> iam.Role:
        return iam.Role(
            self,
            "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Shared role of Vigil's functions; least privilege, granted by the stack",
        )

    def _chalice_app(self) -> Chalice:
        env = self.function_environment()
        if "app" in sys.modules:
            # chalice imports app.py once per process; a second stage would see the first stage's queue names.
            raise RuntimeError("app.py is already imported: synthesise one Vigil stack per process")
        # app.py reads queue names at import (`@app.on_sqs_message(queue=...)`), and `chalice package` imports it
        # here, so the stage's names must be in this process's environment before packaging.
        os.environ.update({k: v for k, v in env.items() if not cdk.Token.is_unresolved(v)})
        return Chalice(
            self,
            "VigilApp",
            source_dir=str(self.options.source_dir),
            stage_config={
                "manage_iam_role": False,
                "iam_role_arn": self.role.role_arn,
                "autogen_policy": False,
                "environment_variables": env,
                "tags": {"project": "vigil", "stage": self.options.stage},
            },
        )

    def sam_resources(self) -> dict[str, Any]:
        """The resources of the SAM template chalice generated (read back: CfnInclude offers no listing)."""
        # `_sam_package_dir` is chalice.cdk's own record of where it packaged (chalice is pinned).
        path = Path(self.app._sam_package_dir) / "sam.json"
        return json.loads(path.read_text(encoding="utf-8"))["Resources"]

    def _patch_sam_template(self) -> None:
        resources = self.sam_resources()
        self.functions: dict[str, cdk.CfnResource] = {}
        self.rest_api: cdk.CfnResource | None = None
        for logical_id, resource in resources.items():
            if resource["Type"] == SAM_FUNCTION:
                self.functions[logical_id] = self._patch_function(logical_id, resource)
        if REST_API in resources:
            self.rest_api = self.app.get_resource(REST_API)
            self.rest_api.add_property_override(
                "DefinitionBody.x-amazon-apigateway-gateway-responses", gateway_responses()
            )

    def _patch_function(self, logical_id: str, resource: dict[str, Any]) -> cdk.CfnResource:
        function = self.app.get_resource(logical_id)
        log_group = logs.LogGroup(
            self,
            f"{logical_id}Logs",
            retention=logs.RetentionDays.TWO_WEEKS if self.options.disposable else logs.RetentionDays.ONE_YEAR,
            removal_policy=self.options.data_removal,
        )
        log_group.grant_write(self.role)
        function.add_property_override("LoggingConfig", {"LogGroup": log_group.log_group_name})
        for name, event in resource["Properties"].get("Events", {}).items():
            if event["Type"] != "SQS":
                continue
            queue = self._queue_named(event["Properties"]["Queue"])
            prefix = f"Events.{name}.Properties"
            # A reference instead of chalice's ARN string: the mapping then waits for the queue to exist.
            function.add_property_override(f"{prefix}.Queue", queue.queue_arn)
            # Chalice has no setting for partial batch responses; without it one bad message retries the batch.
            function.add_property_override(f"{prefix}.FunctionResponseTypes", BATCH_FAILURES)
        self._function_alarm(logical_id, function)
        return function

    def _queue_named(self, arn: Any) -> sqs.Queue:
        text = arn.get("Fn::Sub") if isinstance(arn, dict) else arn
        name = str(text).rsplit(":", 1)[-1]
        for logical, queue in self.queues.items():
            if physical_name(logical, self.options.stage) == name:
                return queue
        raise ValueError(f"a function consumes queue {name!r}, which this stack does not create")

    # permissions
    def _grant(self) -> None:
        role = self.role
        for table in self.tables.values():
            table.grant_read_write_data(role)  # includes the table's indexes
        self.bucket.grant_read_write(role)
        for queue in self.queues.values():
            queue.grant_send_messages(role)
            queue.grant_consume_messages(role)
        self.jwt_secret.grant_read(role)
        sender = self.mail_sender
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SendMailFromVigilSender",
                actions=["ses:SendEmail"],
                # The address identity, or its domain's when the domain is what SES verified.
                resources=[
                    self.format_arn(service="ses", resource="identity", resource_name=sender),
                    self.format_arn(service="ses", resource="identity", resource_name=sender.rsplit("@", 1)[-1]),
                ],
                conditions={"StringEquals": {"ses:FromAddress": sender}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AwsWafConnectorIpSets",
                actions=["wafv2:GetIPSet", "wafv2:UpdateIPSet", "wafv2:CreateIPSet"],
                resources=[
                    self.format_arn(service="wafv2", resource="regional", resource_name="ipset/*"),
                    # CloudFront-scope IP sets live in us-east-1 whatever the stack's region.
                    self.format_arn(service="wafv2", region="us-east-1", resource="global", resource_name="ipset/*"),
                ],
            )
        )
        role.add_to_principal_policy(
            # ListIPSets has no resource type: IAM only accepts "*" for it.
            iam.PolicyStatement(sid="AwsWafConnectorList", actions=["wafv2:ListIPSets"], resources=["*"])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TargetCredentials",
                actions=[
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:CreateSecret",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:DeleteSecret",  # a deleted target takes its credentials with it
                ],
                resources=[
                    self.format_arn(
                        service="secretsmanager",
                        resource="secret",
                        resource_name=f"{target_secret_prefix(self.options.stage)}*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        # Event source mappings check the role's permissions when they are created: the policy must exist first.
        policy = role.node.find_child("DefaultPolicy")
        for function in self.functions.values():
            function.node.add_dependency(policy)

    # alarms
    def _alarm_topic(self) -> sns.Topic:
        topic = sns.Topic(self, "AlarmTopic", topic_name=f"vigil-{self.options.stage}-alarms", enforce_ssl=True)
        if self.options.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(self.options.alarm_email))
        return topic

    def _notify(self, alarm: cloudwatch.Alarm) -> None:
        action = cw_actions.SnsAction(self.alarm_topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)

    def _dlq_alarm(self, spec: QueueSpec) -> None:
        dlq = self.dlqs[spec.logical]
        alarm = cloudwatch.Alarm(
            self,
            f"{pascal(spec.logical)}DlqAlarm",
            alarm_description=f"Messages of {physical_name(spec.logical, self.options.stage)} failed "
            f"{spec.max_receive_count} times and wait in its dead-letter queue",
            metric=dlq.metric_approximate_number_of_messages_visible(
                period=cdk.Duration.minutes(5), statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self._notify(alarm)

    def _function_alarm(self, logical_id: str, function: cdk.CfnResource) -> None:
        alarm = cloudwatch.Alarm(
            self,
            f"{logical_id}ErrorsAlarm",
            alarm_description=f"The {logical_id} function failed (uncaught error or timeout)",
            metric=cloudwatch.Metric(
                namespace="AWS/Lambda",
                metric_name="Errors",
                dimensions_map={"FunctionName": function.ref},
                period=cdk.Duration.minutes(5),
                statistic=cloudwatch.Stats.SUM,
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self._notify(alarm)

    def _outputs(self) -> None:
        if self.rest_api is not None:
            url = f"https://{self.rest_api.ref}.execute-api.{self.region}.{self.url_suffix}/api/"
            cdk.CfnOutput(self, "ApiUrl", value=url, description="Base URL of the REST API")
        for logical_id, function in self.functions.items():  # for `aws lambda invoke` (see docs/DEPLOY.md)
            cdk.CfnOutput(self, f"{logical_id}FunctionName", value=function.ref)
        cdk.CfnOutput(self, "BucketName", value=self.bucket.bucket_name)
        for logical, table in self.tables.items():
            cdk.CfnOutput(self, f"{pascal(logical)}TableName", value=table.table_name)
        for logical, queue in self.queues.items():
            cdk.CfnOutput(self, f"{pascal(logical)}QueueUrl", value=queue.queue_url)
            cdk.CfnOutput(self, f"{pascal(logical)}DlqUrl", value=self.dlqs[logical].queue_url)
        cdk.CfnOutput(self, "JwtSecretName", value=secret_name(self.options.stage))
        cdk.CfnOutput(self, "AlarmTopicArn", value=self.alarm_topic.topic_arn)
        cdk.CfnOutput(self, "FunctionRoleArn", value=self.role.role_arn)
