"""The CDK stack, synthesised offline: resources from `infra/resources.py`, least privilege, cfn-lint clean.

Synthesis runs `chalice package` (pip downloads Linux wheels for requirements.txt into chalice's cache,
`.chalice/deployments/`, gitignored), so each stage is synthesised once per session, in a subprocess: chalice
imports app.py once per process and applies the stage's variables to that process's environment, neither of
which may leak into other tests. The subprocess runs `infra/app.py` as a script, as `cdk synth` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

from chalicelib.api.edge import SECURITY_HEADERS
from chalicelib.core.settings import Settings, env_name
from infra.resources import BUCKET, QUEUES, TABLES, local_environment, physical_name
from infra.stack import BATCH_FAILURES, gateway_responses, pascal, stage_settings

# One xdist worker takes the whole module (`scripts/test` runs `--dist loadgroup`): each stage is synthesised once
# per session, and two workers packaging at once would race on chalice's cache files.
pytestmark = [pytest.mark.infra, pytest.mark.slow, pytest.mark.xdist_group("infra")]

ROOT = Path(__file__).resolve().parents[2]
SENDER = "alerts@vigil.example.org"
ALARM_EMAIL = "oncall@vigil.example.org"
# Variables the stack sets that no Settings field reads yet (the lead adds the field).
NOT_YET_SETTINGS: set[str] = set()
# cfn-lint findings accepted, by (rule, resource logical id prefix), each with its reason.
ACCEPTED_LINT = {
    # CDK's own S3 auto-delete provider (dev only) declares DependsOn on its role next to a GetAtt of it.
    ("W3005", "CustomS3AutoDeleteObjectsCustomResourceProvider"),
}


@dataclass(frozen=True)
class Synth:
    template: Template
    raw: dict[str, Any]
    path: Path
    seconds: float

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.raw["Resources"].items() if v["Type"] == kind}

    def logical_id(self, kind: str, path_suffix: str) -> str:
        """The logical id of the resource whose CDK path ends with `path_suffix` (e.g. `DecisionsQueue/Resource`)."""
        for logical, resource in self.resources(kind).items():
            if resource.get("Metadata", {}).get("aws:cdk:path", "").endswith(path_suffix):
                return logical
        raise AssertionError(f"no {kind} at */{path_suffix}")


def _synth(outdir: Path, context: dict[str, Any], script: list[str], cwd: Path) -> Synth:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_", "VIGIL_", "LOCALSTACK"))}
    env.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "CDK_OUTDIR": str(outdir),
            # The CLI adds this context (it puts each resource's construct path in its metadata).
            "CDK_CONTEXT_JSON": json.dumps({"aws:cdk:enable-path-metadata": True, **context}),
            "PYTHONPATH": str(ROOT),
            "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        }
    )
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *script], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, f"synth failed:\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = [a for a in manifest["artifacts"].values() if a["type"] == "aws:cloudformation:stack"]
    assert len(stacks) == 1
    path = outdir / stacks[0]["properties"]["templateFile"]
    raw = json.loads(path.read_text())
    for asset in outdir.glob("asset.*"):  # tens of MB of packages the assertions never read
        if asset.is_file():
            asset.unlink()
    return Synth(Template.from_json(raw), raw, path, seconds)


def _synth_stage(tmp_path_factory: pytest.TempPathFactory, stage: str) -> Synth:
    work = tmp_path_factory.mktemp(f"synth-{stage}")
    context = {"stage": stage, "mail_sender": SENDER, "alarm_email": ALARM_EMAIL}
    synth = _synth(work / "cdk.out", context, [str(ROOT / "infra" / "app.py")], work)
    print(f"\nsynth of stage {stage}: {synth.seconds:.1f} s")  # visible with -s; docs/DEPLOY.md quotes it
    return synth


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synth_stage(tmp_path_factory, "dev")


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synth_stage(tmp_path_factory, "prod")


CONSUMER_APP = """
    import os
    from chalice import Chalice

    app = Chalice(app_name="throwaway")

    @app.route("/")
    def index():
        return {}

    @app.on_sqs_message(queue=os.environ["VIGIL_DECISIONS_QUEUE"], batch_size=10)
    def push(event):
        return None

    @app.schedule("rate(1 hour)")
    def tick(event):
        return None
"""
SYNTH_PROJECT = """
    import sys
    from pathlib import Path
    import aws_cdk as cdk
    from infra.stack import StageOptions, VigilStack

    app = cdk.App()
    VigilStack(app, StageOptions(stage="dev", source_dir=Path(sys.argv[1]), mail_sender="{sender}"))
    app.synth()
"""


def _throwaway_project(root: Path, app_source: str) -> Path:
    """A minimal chalice project with a dev stage and no requirements (fast to package)."""
    project = root / "project"
    (project / ".chalice").mkdir(parents=True)
    (project / "app.py").write_text(textwrap.dedent(app_source))
    (project / "requirements.txt").write_text("")
    config = {"version": "2.0", "app_name": "throwaway", "stages": {"dev": {"api_gateway_stage": "api"}}}
    (project / ".chalice" / "config.json").write_text(json.dumps(config))
    return project


@pytest.fixture(scope="session")
def consumer(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack around a throw-away app that has a decisions-queue consumer (app.py has none yet)."""
    work = tmp_path_factory.mktemp("synth-consumer")
    project = _throwaway_project(work, CONSUMER_APP)
    script = ["-c", textwrap.dedent(SYNTH_PROJECT).format(sender=SENDER), str(project)]
    return _synth(work / "cdk.out", {}, script, work)


# pure parts (no synth)


def test_stage_must_be_an_aws_stage_of_the_chalice_config() -> None:
    assert stage_settings(ROOT, "prod")["lambda_memory_size"] == 1024
    for bad in ("local", "staging", "Prod", "x", "dev-1"):
        with pytest.raises(ValueError, match="stage"):
            stage_settings(ROOT, bad)


def _render(template: str) -> dict[str, Any]:
    """A gateway response body as API Gateway would send it, with sample context values."""
    values = {
        "$context.error.messageString": json.dumps("Forbidden"),
        "$context.error.responseType": "ACCESS_DENIED",
        "$context.httpMethod": "GET",
        "$context.path": "/api/v1/nowhere",
        "$context.requestId": "c0ffee00-1234",
    }
    for name, value in values.items():
        template = template.replace(name, value)
    return json.loads(template)


def test_gateway_responses_speak_the_v1_error_envelope() -> None:
    responses = gateway_responses()
    assert set(responses) == {"MISSING_AUTHENTICATION_TOKEN", "THROTTLED", "DEFAULT_4XX", "DEFAULT_5XX"}
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["statusCode"] == "404"
    body = _render(missing["responseTemplates"]["application/json"])
    assert body == {
        "error": {
            "code": "NOT_FOUND",
            "message": "No route for GET /api/v1/nowhere",
            "details": None,
            "request_id": "c0ffee00-1234",
        }
    }
    assert responses["THROTTLED"]["statusCode"] == "429"
    assert _render(responses["THROTTLED"]["responseTemplates"]["application/json"])["error"]["code"] == "RATE_LIMIT"
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        assert "statusCode" not in responses[kind]  # each gateway error keeps its own status
        error = _render(responses[kind]["responseTemplates"]["application/json"])["error"]
        assert error == {
            "code": "ACCESS_DENIED",
            "message": "Forbidden",
            "details": None,
            "request_id": "c0ffee00-1234",
        }
    required = {"X-Content-Type-Options", "X-Frame-Options", "X-XSS-Protection", "Content-Security-Policy"}
    for response in responses.values():
        headers = {k.removeprefix("gatewayresponse.header."): v for k, v in response["responseParameters"].items()}
        assert required | {"Strict-Transport-Security"} <= set(headers)
        # Static values are single-quoted for API Gateway; inside the quotes, exactly the app's headers.
        assert {k: v[1:-1] for k, v in headers.items()} == SECURITY_HEADERS
        assert all(v.startswith("'") and v.endswith("'") for v in headers.values())


def test_chalice_config_names_the_resources_of_each_stage() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["app_name"] == "vigil" and config["automatic_layer"] is True
    for stage in ("dev", "prod"):
        block = config["stages"][stage]
        assert (block["api_gateway_stage"], block["lambda_memory_size"], block["lambda_timeout"]) == ("api", 1024, 60)
        env = block["environment_variables"]
        for spec in (*TABLES, *QUEUES, BUCKET):
            assert env[env_name(spec.setting)] == physical_name(spec.logical, stage)
        assert env["VIGIL_STAGE"] == stage
        assert env["VIGIL_JWT_SECRET_PARAMETER"] == f"vigil/{stage}/jwt"
        assert env["POWERTOOLS_SERVICE_NAME"] == "vigil" and env["POWERTOOLS_METRICS_NAMESPACE"] == "Vigil"
    local = config["stages"]["local"]["environment_variables"]
    assert local_environment().items() <= local.items()
    for block in config["stages"].values():
        for name in block["environment_variables"]:
            if name.startswith("VIGIL_"):
                assert name.removeprefix("VIGIL_").lower() in Settings.model_fields, name


# tables


def test_every_table_has_its_keys_indexes_ttl_and_protection(dev: Synth) -> None:
    for spec in TABLES:
        keys = [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
        if spec.sort_key:
            keys.append({"AttributeName": spec.sort_key, "KeyType": "RANGE"})
        indexes = [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
        dev.template.has_resource_properties(
            "AWS::DynamoDB::Table",
            {
                "TableName": physical_name(spec.logical, "dev"),
                "KeySchema": keys,
                "GlobalSecondaryIndexes": indexes if indexes else Match.absent(),
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "TimeToLiveSpecification": {"AttributeName": spec.ttl_attribute, "Enabled": True},
            },
        )
    assert len(dev.resources("AWS::DynamoDB::Table")) == len(TABLES)


def test_dev_data_goes_with_the_stack_and_prod_data_stays(dev: Synth, prod: Synth) -> None:
    kinds = ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SecretsManager::Secret")
    for kind in kinds:
        assert {r["DeletionPolicy"] for r in dev.resources(kind).values()} == {"Delete"}, kind
        assert {r["DeletionPolicy"] for r in prod.resources(kind).values()} == {"Retain"}, kind
        assert {r["UpdateReplacePolicy"] for r in prod.resources(kind).values()} == {"Retain"}, kind
    for table in prod.resources("AWS::DynamoDB::Table").values():
        assert table["Properties"]["DeletionProtectionEnabled"] is True
        assert table["Properties"]["TableName"].startswith("vigil-prod-")
    assert not prod.resources("Custom::S3AutoDeleteObjects")  # only dev empties its bucket on delete
    assert len(dev.resources("Custom::S3AutoDeleteObjects")) == 1


# bucket


def test_bucket_is_versioned_encrypted_private_and_ages_the_archive(dev: Synth) -> None:
    (bucket,) = dev.resources("AWS::S3::Bucket").values()
    props = bucket["Properties"]
    assert "BucketName" not in props  # S3 names are global: CloudFormation picks one
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    rules = {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}
    archive = rules["archive"]
    assert archive["Prefix"] == BUCKET.archive_prefix and archive["Status"] == "Enabled"
    assert archive["Transitions"] == [
        {"StorageClass": "GLACIER_IR", "TransitionInDays": BUCKET.archive_transition_days}
    ]
    assert archive["ExpirationInDays"] == BUCKET.archive_expiry_days
    assert rules["versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert "Prefix" not in rules["versions"]


def test_bucket_policy_refuses_requests_without_tls(dev: Synth) -> None:
    bucket = dev.logical_id("AWS::S3::Bucket", "DataBucket/Resource")
    dev.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Principal": {"AWS": "*"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


# queues


def test_every_queue_has_a_dead_letter_queue(dev: Synth) -> None:
    for spec in QUEUES:
        dlq = dev.logical_id("AWS::SQS::Queue", f"{pascal(spec.logical)}Dlq/Resource")
        dev.template.has_resource_properties(
            "AWS::SQS::Queue",
            {
                "QueueName": physical_name(spec.dlq_logical, "dev"),
                "MessageRetentionPeriod": 14 * 86400,
                "SqsManagedSseEnabled": True,
            },
        )
        dev.template.has_resource_properties(
            "AWS::SQS::Queue",
            {
                "QueueName": physical_name(spec.logical, "dev"),
                "VisibilityTimeout": spec.visibility_timeout_seconds,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                    "maxReceiveCount": 5,
                },
            },
        )
    assert len(dev.resources("AWS::SQS::Queue")) == 2 * len(QUEUES)


def test_dead_letter_queues_and_functions_raise_alarms_on_the_topic(dev: Synth) -> None:
    topic = dev.logical_id("AWS::SNS::Topic", "AlarmTopic/Resource")
    dev.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": ALARM_EMAIL, "TopicArn": {"Ref": topic}}
    )
    for spec in QUEUES:
        dlq = dev.logical_id("AWS::SQS::Queue", f"{pascal(spec.logical)}Dlq/Resource")
        dev.template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}],
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "AlarmActions": [{"Ref": topic}],
            },
        )
    dev.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "APIHandler"}}],
            "Threshold": 1,
            "AlarmActions": [{"Ref": topic}],
        },
    )


# the API


def test_api_gateway_answers_unknown_routes_with_the_404_envelope(dev: Synth) -> None:
    body = dev.raw["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert body["x-amazon-apigateway-gateway-responses"] == gateway_responses()
    missing = body["x-amazon-apigateway-gateway-responses"]["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["statusCode"] == "404"
    assert _render(missing["responseTemplates"]["application/json"])["error"]["code"] == "NOT_FOUND"
    assert not dev.resources("AWS::ApiGateway::GatewayResponse")  # SAM would drop them on the next body import
    assert dev.raw["Resources"]["RestAPI"]["Properties"]["StageName"] == "api"


# functions


def test_functions_environment_names_every_resource(dev: Synth) -> None:
    functions = dev.resources("AWS::Serverless::Function")
    assert "APIHandler" in functions
    bucket = dev.logical_id("AWS::S3::Bucket", "DataBucket/Resource")
    for logical, function in functions.items():
        env = function["Properties"]["Environment"]["Variables"]
        for spec in (*TABLES, *QUEUES):
            assert env[env_name(spec.setting)] == physical_name(spec.logical, "dev"), (logical, spec.setting)
        assert env[env_name(BUCKET.setting)] == {"Ref": bucket}
        assert env["VIGIL_STAGE"] == "dev"
        assert env["VIGIL_JWT_SECRET_PARAMETER"] == "vigil/dev/jwt"
        assert env["VIGIL_MAIL_SENDER"] == SENDER
        assert env["VIGIL_TARGET_SECRET_PREFIX"] == "vigil/dev/targets/"
        assert env["POWERTOOLS_SERVICE_NAME"] == "vigil"
        unknown = {
            n for n in env if n.startswith("VIGIL_") and n.removeprefix("VIGIL_").lower() not in Settings.model_fields
        }
        assert unknown == NOT_YET_SETTINGS
        assert function["Properties"]["MemorySize"] == 1024 and function["Properties"]["Timeout"] == 60
        assert function["Properties"]["Layers"] == [{"Ref": "ManagedLayer"}]  # dependencies live in the layer
    secret = dev.logical_id("AWS::SecretsManager::Secret", "JwtSecret/Resource")
    dev.template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {"Name": "vigil/dev/jwt", "GenerateSecretString": Match.object_like({"PasswordLength": 64})},
    )
    assert secret


def test_functions_share_the_stack_role_and_chalice_makes_none(dev: Synth) -> None:
    role = dev.logical_id("AWS::IAM::Role", "FunctionRole/Resource")
    policy = dev.logical_id("AWS::IAM::Policy", "FunctionRole/DefaultPolicy/Resource")
    for logical, function in dev.resources("AWS::Serverless::Function").items():
        assert function["Properties"]["Role"] == {"Fn::GetAtt": [role, "Arn"]}, logical
        assert policy in function["DependsOn"], logical  # mappings check permissions on creation
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert dev.raw["Resources"][log_group]["Properties"]["RetentionInDays"] == 14
    roles = dev.resources("AWS::IAM::Role")
    assert "DefaultRole" not in roles
    # Apart from the function role, only CDK's own auto-delete provider role (dev) exists.
    assert {k for k in roles if k != role} == {
        k for k in roles if k.startswith("CustomS3AutoDeleteObjectsCustomResourceProvider")
    }
    assert set(dev.resources("AWS::IAM::Policy")) == {policy}
    assert all("Policies" not in r["Properties"] for r in roles.values() if r is not roles[role])


def _statements(synth: Synth) -> list[dict[str, Any]]:
    """Every statement granted to the functions' role (CDK moves what overflows the inline policy's size
    limit into extra managed policies, so gather them all)."""
    role = synth.logical_id("AWS::IAM::Role", "FunctionRole/Resource")
    found: list[dict[str, Any]] = []
    for resource in synth.raw["Resources"].values():
        policy = resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        if policy and {"Ref": role} in resource["Properties"].get("Roles", []):
            found += resource["Properties"]["PolicyDocument"]["Statement"]
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_role_policy_grants_each_table_and_nothing_wildcard(dev: Synth) -> None:
    statements = _statements(dev)
    for spec in TABLES:
        table = dev.logical_id("AWS::DynamoDB::Table", f"{pascal(spec.logical)}Table/Resource")
        granted = [
            s
            for s in statements
            if "dynamodb:PutItem" in _as_list(s["Action"]) and {"Fn::GetAtt": [table, "Arn"]} in _as_list(s["Resource"])
        ]
        assert granted, spec.logical
        actions = set(_as_list(granted[0]["Action"]))
        assert {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"} <= actions
        if spec.indexes:  # queries on the GSIs need the index ARNs
            assert any("/index/*" in json.dumps(r) for r in _as_list(granted[0]["Resource"])), spec.logical
    for statement in statements:
        actions = _as_list(statement["Action"])
        assert statement["Effect"] == "Allow"
        assert not any(a == "*" or a.endswith(":*") for a in actions), statement
        if "*" in _as_list(statement["Resource"]):
            assert actions == ["wafv2:ListIPSets"], statement  # the one action IAM only grants on "*"
    mail = next(s for s in statements if "ses:SendEmail" in _as_list(s["Action"]))
    assert mail["Condition"] == {"StringEquals": {"ses:FromAddress": SENDER}}
    assert any(f"identity/{SENDER}" in json.dumps(r) for r in mail["Resource"])
    targets = next(s for s in statements if "secretsmanager:CreateSecret" in _as_list(s["Action"]))
    assert set(targets["Action"]) == {
        "secretsmanager:GetSecretValue",
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:DeleteSecret",
    }
    assert json.dumps(targets["Resource"]).endswith(':secret:vigil/dev/targets/*"]]}')
    waf = next(s for s in statements if "wafv2:UpdateIPSet" in _as_list(s["Action"]))
    assert set(waf["Action"]) == {"wafv2:GetIPSet", "wafv2:UpdateIPSet", "wafv2:CreateIPSet"}
    secret = dev.logical_id("AWS::SecretsManager::Secret", "JwtSecret/Resource")
    assert any(
        "secretsmanager:GetSecretValue" in _as_list(s["Action"]) and s["Resource"] == {"Ref": secret}
        for s in statements
    )


def test_sqs_consumers_report_batch_item_failures(consumer: Synth, dev: Synth) -> None:
    queue = consumer.logical_id("AWS::SQS::Queue", "DecisionsQueue/Resource")
    functions = consumer.resources("AWS::Serverless::Function")
    events = functions["Push"]["Properties"]["Events"]
    (sqs_event,) = [e for e in events.values() if e["Type"] == "SQS"]
    assert sqs_event["Properties"]["FunctionResponseTypes"] == BATCH_FAILURES
    assert sqs_event["Properties"]["Queue"] == {"Fn::GetAtt": [queue, "Arn"]}  # a reference: created after the queue
    assert sqs_event["Properties"]["BatchSize"] == 10
    assert all(e["Type"] != "SQS" for e in functions["Tick"]["Properties"]["Events"].values())
    # The real app: whatever consumers it has get the same (none yet: the lead adds the push function).
    for function in (*functions.values(), *dev.resources("AWS::Serverless::Function").values()):
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                assert event["Properties"]["FunctionResponseTypes"] == BATCH_FAILURES


def test_a_consumer_of_a_queue_the_stack_lacks_fails_the_synth(tmp_path: Path) -> None:
    project = _throwaway_project(tmp_path, CONSUMER_APP.replace('os.environ["VIGIL_DECISIONS_QUEUE"]', '"elsewhere"'))
    script = ["-c", textwrap.dedent(SYNTH_PROJECT).format(sender=SENDER), str(project)]
    with pytest.raises(AssertionError, match="consumes queue 'elsewhere', which this stack does not create"):
        _synth(tmp_path / "cdk.out", {}, script, tmp_path)


def test_outputs_name_the_api_bucket_tables_and_queues(dev: Synth) -> None:
    outputs = dev.raw["Outputs"]
    assert outputs["ApiUrl"]["Value"]["Fn::Join"][1][1] == {"Ref": "RestAPI"}
    assert {"BucketName", "JwtSecretName", "AlarmTopicArn", "FunctionRoleArn"} <= set(outputs)
    assert "BootstrapAdminFunctionName" in outputs, "docs/DEPLOY.md tells the operator to invoke it"
    for logical in dev.resources("AWS::Serverless::Function"):
        assert outputs[f"{logical}FunctionName"]["Value"] == {"Ref": logical}
    for spec in TABLES:
        assert f"{pascal(spec.logical)}TableName" in outputs
    for spec in QUEUES:
        assert {f"{pascal(spec.logical)}QueueUrl", f"{pascal(spec.logical)}DlqUrl"} <= set(outputs)


# cfn-lint


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_cfn_lint_finds_no_errors(stage: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(stage)
    matches = lint_file(synth.path, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    found = [(m.rule.id, str((getattr(m, "path", None) or ["", ""])[1:2]), m.message) for m in matches]
    listing = "\n".join(f"{rule} {where}: {message}" for rule, where, message in found)
    errors = [f for f in found if f[0].startswith("E")]
    assert not errors, listing
    unexpected = [f for f in found if not any(f[0] == rule and prefix in f[1] for rule, prefix in ACCEPTED_LINT)]
    assert not unexpected, listing


def test_the_geoip_database_ships_as_an_asset_the_functions_can_read(dev: Synth) -> None:
    """The 26 MB GeoLite2 database is not in the Lambda layer: an S3 asset, named in the environment."""
    functions = [r for r in dev.raw["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    assert functions
    for function in functions:
        source = function["Properties"]["Environment"]["Variables"]["VIGIL_GEOIP_CITY_DB"]
        assert json.dumps(source).startswith('{"Fn::Join": ["", ["s3://')
    assert any(
        "s3:GetObject*" in _as_list(s["Action"]) and "cdk-" in json.dumps(s["Resource"]) for s in _statements(dev)
    ), "the role can read the asset"
