"""Settings: read once from VIGIL_* variables; a bad one stops start-up naming the variable."""

from __future__ import annotations

import pytest

from chalicelib.core.errors import ConfigurationError
from chalicelib.core.settings import load_settings


def test_defaults_need_no_environment() -> None:
    settings = load_settings()
    assert settings.decisions_table == "vigil-decisions"
    assert settings.max_body_bytes == 1_048_576


def test_values_come_from_vigil_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_DECISIONS_TABLE", "prod-decisions")
    monkeypatch.setenv("VIGIL_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    settings = load_settings()
    assert settings.decisions_table == "prod-decisions"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.region == "eu-west-3"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VIGIL_MAX_BODY_BYTES", "lots"),
        ("VIGIL_MAX_BODY_BYTES", "0"),
        ("VIGIL_LOG_LEVEL", "CHATTY"),
        ("VIGIL_MAX_PREFIX_V4", "33"),
        ("VIGIL_JWT_TTL_SECONDS", "-5"),
    ],
)
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert variable in str(caught.value)


def test_aws_endpoint_url_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert load_settings().endpoint_url == "http://127.0.0.1:4566"
