"""Routes name their models by reference: the schema modules load on first use, never at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from chalicelib.api.routing import ROUTES
from chalicelib.api.schemas import ModelRef, models, resolve
from chalicelib.api.schemas.auth import UserOut

ROOT = Path(__file__).resolve().parents[3]


def test_a_reference_resolves_to_the_model_and_lists_of_references_are_rebuilt() -> None:
    ref = models("auth").UserOut
    assert ref == ModelRef("auth", "UserOut")
    assert resolve(ref) is UserOut
    assert resolve(list[ref]) == list[UserOut]
    assert resolve(dict) is dict and resolve(None) is None


def test_a_misspelt_model_fails_when_resolved() -> None:
    with pytest.raises(AttributeError):
        resolve(models("auth").NoSuchModel)
    with pytest.raises(ModuleNotFoundError):
        resolve(models("no_such_module").Anything)


def test_every_route_declares_models_that_resolve() -> None:
    for spec in ROUTES:
        for declared in (spec.body, spec.query, spec.response):
            assert not isinstance(declared, ModelRef), f"{spec.method} {spec.path}"
        assert spec.query is None or issubclass(spec.query, BaseModel), f"{spec.method} {spec.path}"


def test_importing_the_app_loads_no_schema_module() -> None:
    probe = "import json, sys, app; print(json.dumps(sorted(m for m in sys.modules if m.startswith('chalicelib'))))"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert "chalicelib.api.routing" in loaded
    assert [name for name in loaded if name.startswith("chalicelib.api.schemas.")] == []
