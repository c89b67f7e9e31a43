"""Health routes: seed 000 + 002 at /api/v1/health, seed 004 at /health; 503 when a dependency is down."""

from __future__ import annotations

from tests.support.client import ApiClient


def test_v1_health_satisfies_seed_000_and_seed_002(api: ApiClient) -> None:
    response = api.get("/api/v1/health")
    assert response.status == 200
    body = response.json()
    # seed 002
    assert body["success"] is True and body["status"] == "healthy"
    assert isinstance(body["uptime_seconds"], int) and body["db_connected"] is True
    assert isinstance(body["active_vms"], int)
    # seed 000
    assert set(body["data"]["checks"]) == {"dynamodb", "s3", "sqs"}
    assert all(check["ok"] for check in body["data"]["checks"].values())
    assert body["meta"]["request_id"] == response.header("X-Request-Id")


def test_core_health_has_seed_004_shape(api: ApiClient) -> None:
    body = api.get("/health").json()
    assert set(body) == {"status", "checks", "timestamp", "version", "uptime"}
    assert body["checks"] == {"database": True, "storage": True, "queue": True}
    assert body["timestamp"].endswith("Z")


def test_a_missing_table_makes_both_health_routes_503(api: ApiClient, aws, settings) -> None:
    aws.client("dynamodb").delete_table(TableName=settings.events_table)
    v1 = api.get("/api/v1/health")
    assert v1.status == 503
    assert v1.json()["success"] is False and v1.json()["db_connected"] is False
    assert v1.json()["data"]["checks"]["dynamodb"]["error"] == "ResourceNotFoundException"
    core = api.get("/health")
    assert core.status == 503 and core.json()["checks"]["database"] is False


def test_a_missing_bucket_is_reported_as_storage(api: ApiClient, aws, settings) -> None:
    s3 = aws.client("s3")
    s3.delete_bucket(Bucket=settings.bucket)
    body = api.get("/health").json()
    assert body["status"] == "unhealthy" and body["checks"]["storage"] is False
