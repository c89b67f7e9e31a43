"""The OpenAPI document and the human-readable reference pages (`/docs`, seed 004's `/core-docs`).

The page and its assets ship inside the package (no CDN), and the page loads its script and style as
separate files so it works under the `default-src 'self'` content security policy every response carries.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from chalice import Blueprint

from chalicelib.api.contracts import CORE, V1, Raw, Reply
from chalicelib.api.routing import PUBLIC, route
from chalicelib.core.deps import get_container
from chalicelib.core.errors import NotFoundError

bp = Blueprint(__name__)

STATIC_DIR = Path(__file__).parent / "static"
ASSETS = {"docs.js": "text/javascript; charset=utf-8", "docs.css": "text/css; charset=utf-8"}


@lru_cache(maxsize=4)
def _read(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


@route(bp, "/api/v1/openapi.json", permission=PUBLIC, contract=V1, tags=("docs",))
def openapi_document() -> Reply:
    """The OpenAPI 3.1 document of every route Vigil serves."""
    from chalicelib.api.openapi import build_document  # noqa: PLC0415 - JSON Schema generation is heavy

    return Reply(body=build_document(get_container().settings.version), raw=True)


@route(bp, "/docs", permission=PUBLIC, contract=CORE, produces="text/html", tags=("docs",))
def docs_page() -> Raw:
    """The API reference, rendered from the OpenAPI document."""
    return Raw(_read("docs.html"), "text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})


@route(bp, "/core-docs", permission=PUBLIC, contract=CORE, produces="text/html", tags=("docs",))
def core_docs_page() -> Raw:
    """Seed 004's documentation page: the same reference."""
    return docs_page()


@route(bp, "/static/{name}", permission=PUBLIC, contract=CORE, produces="text/plain", tags=("docs",))
def static_asset(name: str) -> Raw:
    """The docs page's script and style; only the files shipped for it, never a path from the request."""
    if name not in ASSETS:
        raise NotFoundError(f"No static file named {name!r}")
    return Raw(_read(name), ASSETS[name], headers={"Cache-Control": "public, max-age=3600"})
