"""Request and response models of the API, one module per domain, imported on first use.

A cold start registers every route but serves one: a route names its models through `models(<module>)`
(`body=auth_schemas.EmailLogin`), a reference that imports the schema module when a request or the OpenAPI
document first needs it. A misspelt name fails the OpenAPI test, which resolves every route's models.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import Any

PACKAGE = __name__


@dataclass(frozen=True)
class ModelRef:
    """A model named by its schema module and class, not yet imported."""

    module: str
    name: str

    def __repr__(self) -> str:
        return f"{self.module}.{self.name}"


class SchemaModule:
    """`models("auth").EmailLogin` is `ModelRef("auth", "EmailLogin")`: the module is imported by `resolve`."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> ModelRef:
        if name.startswith("_"):
            raise AttributeError(name)
        return ModelRef(self._module, name)


def models(module: str) -> SchemaModule:
    """References to the models of `chalicelib/api/schemas/<module>.py`."""
    return SchemaModule(module)


@cache
def _load(ref: ModelRef) -> Any:
    return getattr(import_module(f"{PACKAGE}.{ref.module}"), ref.name)


def resolve(declared: Any) -> Any:
    """The model (or type) a route declared: references imported, `list[ref]` rebuilt; anything else as is."""
    if isinstance(declared, ModelRef):
        return _load(declared)
    args = typing.get_args(declared)
    if args and any(isinstance(arg, ModelRef) for arg in args):
        return typing.get_origin(declared)[tuple(resolve(arg) for arg in args)]
    return declared
