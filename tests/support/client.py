"""An in-process HTTP client for the Chalice app that behaves like API Gateway (404s, caller addresses).

Chalice's own `chalice.test.Client` answers unknown routes with 403 and reports every caller as 127.0.0.1;
this one goes through `devstack.gateway.VigilGateway`, the same gateway the local server uses.
"""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from chalice.config import Config

from devstack.gateway import VigilGateway


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class ApiClient:
    def __init__(self, app: Any, source_ip: str = "198.51.100.10") -> None:
        self._gateway = VigilGateway(app, Config.create(chalice_stage="dev", lambda_timeout=60))
        self.source_ip = source_ip
        self.token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
        source_ip: str | None = None,
        token: str | None = None,
    ) -> ApiResponse:
        sent = {"host": "testserver"}
        bearer = token if token is not None else self.token
        if bearer:
            sent["authorization"] = f"Bearer {bearer}"
        if json is not None:
            body = jsonlib.dumps(json)
            sent["content-type"] = "application/json"
        elif form is not None:
            body = urlencode(form)
            sent["content-type"] = "application/x-www-form-urlencoded"
        sent.update({k.lower(): v for k, v in (headers or {}).items()})
        if query:
            path = f"{path}?{urlencode(query, doseq=True)}"
        raw = body.encode("utf-8") if isinstance(body, str) else body
        if raw is not None:
            sent["content-length"] = str(len(raw))
        response = self._gateway.handle_request(method.upper(), path, sent, raw, source_ip=source_ip or self.source_ip)
        out_headers = dict(response.get("headers") or {})
        for key, values in (response.get("multiValueHeaders") or {}).items():
            out_headers[key] = ", ".join(values)
        payload = response.get("body") or b""
        if response.get("isBase64Encoded"):
            import base64  # noqa: PLC0415

            payload = base64.b64decode(payload)
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        return ApiResponse(response["statusCode"], out_headers, payload)

    def get(self, path: str, **kw: Any) -> ApiResponse:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> ApiResponse:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> ApiResponse:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> ApiResponse:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> ApiResponse:
        return self.request("DELETE", path, **kw)
