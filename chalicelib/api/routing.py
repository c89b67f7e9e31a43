"""Route declaration: path, method, permission, contract and models, in one place per route.

`@route(bp, "/api/v1/bans", methods=["POST"], permission="decisions:write", contract=V1,
body=decision_schemas.BanCreate)` registers a Chalice view that authenticates the caller, checks the
permission, parses the path, query and body into pydantic models (named through
`chalicelib.api.schemas.models`, so a schema module is imported on first use), calls the function, and
renders its answer through the contract. The registry
`ROUTES` is what the OpenAPI document, the permission walk test and the edge middleware read.

A handler asks for what it needs by parameter name: path parameters by their names, `body`, `query`,
`principal` (the authenticated caller) and `request` (a `RequestInfo`).
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from pydantic import BaseModel, TypeAdapter, ValidationError

from chalicelib.api import contracts
from chalicelib.api.contracts import Contract, Raw, Reply
from chalicelib.api.schemas import resolve
from chalicelib.api.serialize import to_jsonable
from chalicelib.auth.principal import Principal, find_credentials
from chalicelib.core.deps import get_container
from chalicelib.core.errors import (
    AuthenticationError,
    FieldProblem,
    InternalError,
    InvalidInputError,
    MethodNotAllowedError,
    PermissionDeniedError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
    VigilError,
)
from chalicelib.core.observability import get_logger

PUBLIC = "public"
"""The permission of a route anyone may call. It must be written out: no route is public by omission."""
AUTHENTICATED = "authenticated"
"""The permission of a route any authenticated caller may use (their own profile, token refresh)."""

JSON_TYPES = ("application/json",)
FORM_TYPE = "application/x-www-form-urlencoded"

current_request_id: ContextVar[str] = ContextVar("current_request_id", default="req_unknown")


@dataclass(frozen=True)
class RouteSpec:
    path: str
    method: str
    permission: str
    contract: Contract
    handler: Callable[..., Any]
    declared_body: Any = None
    declared_query: Any = None
    declared_response: Any = None
    status: int = 200
    summary: str = ""
    tags: tuple[str, ...] = ()
    content_types: tuple[str, ...] = JSON_TYPES
    produces: str = "application/json"

    @property
    def body(self) -> Any:
        """The body's model (a schema module is imported the first time one of its models is needed)."""
        return resolve(self.declared_body)

    @property
    def query(self) -> type[BaseModel] | None:
        return resolve(self.declared_query)

    @property
    def response(self) -> Any:
        return resolve(self.declared_response)

    @property
    def public(self) -> bool:
        return self.permission == PUBLIC

    @property
    def path_params(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]


ROUTES: list[RouteSpec] = []
_BY_KEY: dict[tuple[str, str], RouteSpec] = {}


def find_spec(path: str, method: str) -> RouteSpec | None:
    """The spec of a registered route template and method."""
    return _BY_KEY.get((path, method.upper()))


def methods_of(path: str) -> list[str]:
    """Every method registered on a route template."""
    return sorted(m for (p, m) in _BY_KEY if p == path)


@dataclass(frozen=True)
class RequestInfo:
    """The parts of an HTTP request a handler may need, already decoded."""

    request_id: str
    method: str
    path: str
    source_ip: str
    user_agent: str
    headers: Mapping[str, str]
    query: Mapping[str, list[str]] = field(default_factory=dict)
    raw_body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


def _decode_query(multi: Any) -> dict[str, list[str]]:
    """Chalice's `MultiDict` of query parameters as plain lists (every value of a repeated key)."""
    if not multi:
        return {}
    return {key: list(multi.getlist(key)) for key in multi}


def request_info(request: Any) -> RequestInfo:
    """Build a `RequestInfo` from Chalice's current request."""
    context = request.context or {}
    identity = context.get("identity") or {}
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    return RequestInfo(
        request_id=current_request_id.get(),
        method=request.method,
        path=context.get("path") or context.get("resourcePath", ""),
        source_ip=identity.get("sourceIp") or "0.0.0.0",  # noqa: S104 - a placeholder, never bound
        user_agent=headers.get("user-agent", ""),
        headers=headers,
        query=_decode_query(request.query_params),
        raw_body=request.raw_body or b"",
    )


def problems_of(exc: ValidationError) -> list[FieldProblem]:
    """pydantic's errors as one `FieldProblem` per field."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in error["loc"] if part != "__root__") or "body"
        problems.append(FieldProblem(loc, error["msg"]))
    return problems


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    return origin in (list, tuple, set, frozenset)


def parse_query(model: type[BaseModel], query: Mapping[str, list[str]]) -> BaseModel:
    """Validate query parameters; a field typed as a list takes every value, any other the last one."""
    data: dict[str, Any] = {}
    fields = {info.alias or name: info for name, info in model.model_fields.items()}
    for key, values in query.items():
        info = fields.get(key)
        data[key] = values if info is not None and _is_list(info.annotation) else values[-1]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailedError(problems_of(exc), "Invalid query parameters") from exc


def decode_body(info: RequestInfo, accepted: tuple[str, ...]) -> Any:
    """The request body as Python data: JSON, or a form as a flat dict. Empty bodies are `None`."""
    if not info.raw_body.strip():
        return None
    content_type = info.header("content-type", "application/json").split(";")[0].strip().lower()
    if content_type == FORM_TYPE and FORM_TYPE in accepted:
        try:
            form = parse_qs(info.raw_body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError as exc:
            raise InvalidInputError("Form body is not valid UTF-8") from exc
        return {key: values[-1] for key, values in form.items()}
    if content_type not in accepted and not content_type.endswith("+json"):
        raise UnsupportedMediaTypeError(f"Unsupported media type: {content_type}")
    try:
        return json.loads(info.raw_body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError("Request body is not valid JSON", details={"position": str(exc)}) from exc


def parse_body(model: Any, data: Any) -> Any:
    """Validate decoded body data against a pydantic model or any type pydantic can validate."""
    if data is None:
        raise ValidationFailedError([FieldProblem("body", "Request body is required")])
    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model.model_validate(data)
        return TypeAdapter(model).validate_python(data)
    except ValidationError as exc:
        raise ValidationFailedError(problems_of(exc)) from exc


def authorize(spec: RouteSpec, info: RequestInfo) -> Principal | None:
    """Authenticate the caller and check the route's permission; public routes need neither."""
    if spec.public:
        return None
    credentials = find_credentials(info.headers, {k: v[-1] for k, v in info.query.items() if v})
    if credentials is None:
        # Seed 002 authenticates agents "at network level": trusted sensor networks may post events without a
        # key (off unless VIGIL_INGEST_TRUSTED_CIDRS is set); nothing else is reachable that way.
        network = get_container().network_principal(spec.permission, info.source_ip)
        if network is not None:
            return network
        raise AuthenticationError("Authentication required")
    principal = get_container().authenticate(credentials, info)
    if spec.permission != AUTHENTICATED and not principal.can(spec.permission):
        raise PermissionDeniedError(f"Permission '{spec.permission}' is required")
    return principal


def try_authenticate(info: RequestInfo) -> Principal | None:
    """The caller if they presented valid credentials, else None (for public routes that use a token if given)."""
    credentials = find_credentials(info.headers, {k: v[-1] for k, v in info.query.items() if v})
    if credentials is None:
        return None
    try:
        return get_container().authenticate(credentials, info)
    except AuthenticationError:
        return None


def render(spec_contract: Contract, result: Any, status: int, request_id: str) -> Any:
    """Turn a handler's return value into a Chalice `Response`."""
    from chalice import Response  # noqa: PLC0415

    if isinstance(result, Raw):
        headers = {"Content-Type": result.content_type, **result.headers}
        return Response(body=result.body, status_code=result.status, headers=headers)
    reply = result if isinstance(result, Reply) else Reply(body=result, status=status)
    body = to_jsonable(reply.body)
    if not reply.raw:
        body = spec_contract.success(body, meta=to_jsonable(reply.meta), request_id=request_id)
    if reply.status == 204:
        return Response(body="", status_code=204, headers=dict(reply.headers))
    return Response(
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=reply.status,
        headers={"Content-Type": "application/json", **reply.headers},
    )


def error_response(contract: Contract, exc: VigilError, request_id: str) -> Any:
    """Render a `VigilError` in a contract's failure envelope."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from chalice import Response  # noqa: PLC0415

    body = contract.failure(exc, request_id=request_id, now=datetime.now(UTC))
    headers = {"Content-Type": "application/json", **contracts.error_headers(exc)}
    return Response(
        body=json.dumps(to_jsonable(body), separators=(",", ":")),
        status_code=contract.status_of(exc),
        headers=headers,
    )


def _call(spec: RouteSpec, request: Any, path_params: dict[str, str]) -> Any:
    info = request_info(request)
    principal = authorize(spec, info)
    available: dict[str, Any] = {name: unquote(value) for name, value in path_params.items()}
    available["request"] = info
    available["principal"] = principal
    wanted = inspect.signature(spec.handler).parameters
    if spec.query is not None:
        available["query"] = parse_query(spec.query, info.query)
    if spec.body is not None and "body" in wanted:
        data = decode_body(info, spec.content_types)
        # A handler whose body defaults to None (`body: Model | None = None`) takes a request without one.
        optional = wanted["body"].default is None
        available["body"] = None if data is None and optional else parse_body(spec.body, data)
    elif "body" in wanted:
        available["body"] = decode_body(info, spec.content_types)
    return spec.handler(**{name: available[name] for name in wanted if name in available})


def route(
    bp: Any,
    path: str,
    *,
    permission: str,
    contract: Contract,
    methods: tuple[str, ...] | list[str] = ("GET",),
    body: Any = None,
    query: Any = None,
    response: Any = None,
    status: int = 200,
    summary: str = "",
    tags: tuple[str, ...] = (),
    content_types: tuple[str, ...] = JSON_TYPES,
    produces: str = "application/json",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a route; see the module docstring."""
    if not permission:
        raise ValueError(f"{path}: every route declares a permission (or PUBLIC)")

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        specs = [
            RouteSpec(
                path=path,
                method=method.upper(),
                permission=permission,
                contract=contract,
                handler=handler,
                declared_body=body,
                declared_query=query,
                declared_response=response,
                status=status,
                summary=summary or _first_line(handler.__doc__),
                tags=tags,
                content_types=content_types,
                produces=produces,
            )
            for method in methods
        ]
        for spec in specs:
            key = (spec.path, spec.method)
            if key in _BY_KEY:
                raise ValueError(f"route {spec.method} {spec.path} is declared twice")
            _BY_KEY[key] = spec
            ROUTES.append(spec)
        by_method = {spec.method: spec for spec in specs}

        def view(**path_params: str) -> Any:
            spec = by_method[bp.current_request.method.upper()]
            request_id = current_request_id.get()
            try:
                result = _call(spec, bp.current_request, path_params)
                return render(spec.contract, result, spec.status, request_id)
            except VigilError as exc:
                return error_response(spec.contract, exc, request_id)
            except Exception:
                # The one place an unexpected error is logged and answered: the caller gets a 500 in its
                # contract's envelope with the request id; the traceback stays in the log.
                get_logger().exception("unhandled error", route=spec.path, method=spec.method)
                return error_response(spec.contract, InternalError("Internal server error"), request_id)

        view.__name__ = handler.__name__
        view.__doc__ = handler.__doc__
        bp.route(path, methods=[m.upper() for m in methods], content_types=list(content_types))(view)
        _ensure_preflight(bp, path)
        return handler

    return decorate


HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def install_method_fallbacks(app: Any) -> None:
    """Give every path a view for the methods it does not serve, answering 405 with `Allow`.

    API Gateway answers a method a path does not declare exactly as it answers an unknown path (its gateway
    response becomes our 404), so the 405 of the contracts has to come from the app: every path declares
    every method, and the ones nobody serves land here. Called by app.py after all blueprints."""
    for path in sorted({spec.path for spec in ROUTES}):
        served = methods_of(path)
        missing = [m for m in HTTP_METHODS if m not in served]
        if not missing:
            continue
        contract = next(spec.contract for spec in ROUTES if spec.path == path)

        def not_allowed(
            _path: str = path, _contract: Contract = contract, _served: list[str] = served, **_: str
        ) -> Any:
            method = app.current_request.method.upper()
            error = MethodNotAllowedError(f"Unsupported method: {method}", allowed=[*_served, "OPTIONS"])
            return error_response(_contract, error, current_request_id.get())

        not_allowed.__name__ = "method_not_allowed_" + "".join(ch if ch.isalnum() else "_" for ch in path)
        app.route(path, methods=missing)(not_allowed)


_PREFLIGHT_PATHS: set[str] = set()


def _ensure_preflight(bp: Any, path: str) -> None:
    """One OPTIONS view per path answers CORS preflights from the settings' origins, locally and in AWS."""
    if path in _PREFLIGHT_PATHS:
        return
    _PREFLIGHT_PATHS.add(path)

    def preflight(**_: str) -> Any:
        from chalice import Response  # noqa: PLC0415

        from chalicelib.api.edge import preflight_headers  # noqa: PLC0415 - edge imports this module

        origin = (bp.current_request.headers or {}).get("origin")
        return Response(body="", status_code=204, headers=preflight_headers(path, origin))

    preflight.__name__ = "preflight_" + "".join(ch if ch.isalnum() else "_" for ch in path)
    bp.route(path, methods=["OPTIONS"])(preflight)


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""
