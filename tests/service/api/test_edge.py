"""The API edge: envelopes, headers, and the errors produced before or around any route."""

from __future__ import annotations

import pytest

from chalicelib.api.edge import SECURITY_HEADERS
from chalicelib.core.settings import Settings
from tests.support.client import ApiClient


def assert_security_headers(response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.header(name) == value, name
    assert response.header(
        "X-Request-Id",
    ).startswith("req_") or response.header("X-Request-Id")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/nope", lambda b: b["error"]["code"] == "NOT_FOUND" and "request_id" in b["error"]),
        ("/api/admin/nope", lambda b: b["success"] is False and b["code"] == "NOT_FOUND"),
        ("/api/nope", lambda b: b["status"] == "error" and b["code"] == "NOT_FOUND"),
        ("/nope/deeper", lambda b: b["error"]["code"] == "NOT_FOUND" and "timestamp" in b["error"]),
    ],
)
def test_unknown_route_is_404_in_the_contract_of_its_path(api: ApiClient, path, expected) -> None:
    response = api.get(path)
    assert response.status == 404
    assert expected(response.json())
    assert_security_headers(response)


def test_wrong_method_is_405_with_allow_header(api: ApiClient) -> None:
    response = api.delete("/api/v1/health")
    assert response.status == 405
    body = response.json()
    assert body["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert "GET" in response.header("Allow")
    assert_security_headers(response)


def test_every_response_carries_a_request_id_and_security_headers(api: ApiClient) -> None:
    first = api.get("/api/v1/openapi.json")
    second = api.get("/api/v1/openapi.json")
    assert first.status == 200
    assert_security_headers(first)
    assert first.header("X-Request-Id") != second.header("X-Request-Id")


def test_a_well_formed_client_request_id_is_echoed_and_a_bad_one_replaced(api: ApiClient) -> None:
    echoed = api.get("/api/v1/openapi.json", headers={"X-Request-Id": "agent-7f3a9c21"})
    assert echoed.header("X-Request-Id") == "agent-7f3a9c21"
    replaced = api.get("/api/v1/openapi.json", headers={"X-Request-Id": "bad id\r\nx"})
    assert replaced.header("X-Request-Id").startswith("req_")


def test_body_over_the_limit_is_413_before_the_route_runs(api: ApiClient, container) -> None:
    limit = container.settings.max_body_bytes
    response = api.post("/api/v1/health", body="x" * (limit + 1), headers={"content-type": "application/json"})
    assert response.status == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert_security_headers(response)


def test_cors_headers_only_for_configured_origins(api: ApiClient, container, monkeypatch) -> None:
    monkeypatch.setattr(container, "settings", Settings(cors_origins=["https://console.example"]))
    allowed = api.get("/api/v1/openapi.json", headers={"Origin": "https://console.example"})
    assert allowed.header("Access-Control-Allow-Origin") == "https://console.example"
    refused = api.get("/api/v1/openapi.json", headers={"Origin": "https://evil.example"})
    assert refused.header("Access-Control-Allow-Origin") is None
    preflight = api.request("OPTIONS", "/api/v1/health", headers={"Origin": "https://console.example"})
    assert preflight.status == 204
    assert "GET" in preflight.header("Access-Control-Allow-Methods")
    assert "X-API-Key" in preflight.header("Access-Control-Allow-Headers")
