"""The OpenAPI 3.1 document, generated from the route registry and the routes' pydantic models.

Nothing here is written by hand: each registered route becomes an operation with its parameters, request
body, success schema (wrapped in its contract's envelope), error schema, security and the permission it needs
(`x-permission`). pydantic emits JSON Schema 2020-12, which OpenAPI 3.1 uses as is.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from chalicelib.api.contracts import CONTRACTS
from chalicelib.api.routing import ROUTES, RouteSpec

REF = "#/components/schemas/{model}"
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "A JWT from a login route, or an API key"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "token"},
}
_ERROR_STATUSES = {
    "400": "Bad request",
    "401": "Not authenticated",
    "403": "Forbidden",
    "429": "Rate limited",
}


def _models(spec: RouteSpec) -> list[tuple[type[BaseModel], str]]:
    found = []
    for model, mode in (
        (spec.body, "validation"),
        (spec.query, "validation"),
        (spec.response, "serialization"),
    ):
        if isinstance(model, type) and issubclass(model, BaseModel):
            found.append((model, mode))
    return found


def _schema_of(model: Any, mode: str, refs: dict[tuple[type, str], dict[str, Any]]) -> dict[str, Any]:
    if model is None:
        return {}
    if isinstance(model, type) and issubclass(model, BaseModel):
        return refs[(model, mode)]
    return TypeAdapter(model).json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]


def _parameters(spec: RouteSpec) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in spec.path_params
    ]
    if spec.query is not None:
        schema = spec.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            entry = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                entry["description"] = prop["description"]
            params.append(entry)
    return params


def _operation(spec: RouteSpec, refs: dict[tuple[type, str], dict[str, Any]]) -> dict[str, Any]:
    response_schema = _schema_of(spec.response, "serialization", refs) or {}
    success: dict[str, Any] = {"description": "Success"}
    if spec.status != 204:
        if spec.produces == "application/json":
            schema = spec.contract.success_schema(response_schema)
        else:
            schema = {"type": "string"}
        success["content"] = {spec.produces: {"schema": schema}}
    failure = {"application/json": {"schema": spec.contract.failure_schema()}}
    operation: dict[str, Any] = {
        "operationId": f"{spec.method.lower()}_{spec.handler.__module__.rsplit('.', 1)[-1]}_{spec.handler.__name__}",
        "summary": spec.summary,
        "tags": list(spec.tags) or [spec.contract.name],
        "parameters": _parameters(spec),
        "responses": {str(spec.status): success}
        | {code: {"description": text, "content": failure} for code, text in _ERROR_STATUSES.items()},
        "x-contract": spec.contract.name,
        "x-permission": spec.permission,
    }
    if spec.public:
        operation["security"] = []
    else:
        operation["security"] = [{"bearer": []}, {"apiKeyHeader": []}, {"apiKeyQuery": []}]
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {ct: {"schema": _schema_of(spec.body, "validation", refs)} for ct in spec.content_types},
        }
    return operation


@lru_cache(maxsize=1)
def build_document(version: str) -> dict[str, Any]:
    """The whole document; computed once per process (routes do not change at run time)."""
    models = sorted({m for spec in ROUTES for m in _models(spec)}, key=lambda pair: (pair[0].__name__, pair[1]))
    refs, definitions = models_json_schema(models, ref_template=REF) if models else ({}, {})
    paths: dict[str, dict[str, Any]] = {}
    for spec in sorted(ROUTES, key=lambda s: (s.path, s.method)):
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vigil API",
            "version": version,
            "description": (
                "Vigil serves five contracts at their documented paths, each with its own envelope: "
                + ", ".join(c.name for c in CONTRACTS)
                + ". Each operation names its contract (`x-contract`) and required permission (`x-permission`)."
            ),
        },
        "paths": paths,
        "components": {"schemas": definitions.get("$defs", {}), "securitySchemes": SECURITY_SCHEMES},
    }
