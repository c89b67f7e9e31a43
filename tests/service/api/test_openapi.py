"""The OpenAPI document is generated from the registry: every registered route is in it."""

from __future__ import annotations

from chalicelib.api.routing import ROUTES
from tests.support.client import ApiClient


def test_every_registered_route_appears_in_the_document(api: ApiClient) -> None:
    document = api.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    missing = [
        f"{spec.method} {spec.path}"
        for spec in ROUTES
        if spec.method.lower() not in document["paths"].get(spec.path, {})
    ]
    assert ROUTES and not missing


def test_operations_declare_permission_and_security(api: ApiClient) -> None:
    document = api.get("/api/v1/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["x-permission"], f"{method} {path}"
            if operation["x-permission"] == "public":
                assert operation["security"] == []
            else:
                assert operation["security"], f"{method} {path}"


def test_docs_pages_and_assets_ship_with_the_app(api: ApiClient) -> None:
    for page in ("/docs", "/core-docs"):
        response = api.get(page)
        assert response.status == 200
        assert response.header("Content-Type").startswith("text/html")
        assert 'src="static/docs.js"' in response.text and "https://" not in response.text
    assert api.get("/static/docs.js").header("Content-Type").startswith("text/javascript")
    assert api.get("/static/docs.css").status == 200
    assert api.get("/static/app.py").status == 404
