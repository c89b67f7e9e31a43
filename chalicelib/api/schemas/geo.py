"""Request bodies and queries of seed 000's geo-zone and geoblocking routes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from chalicelib.intel.countries import COUNTRIES

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
Zone = Literal["authorized", "hostile", "neutral"]


def _country(value: str) -> str:
    code = value.strip().upper()
    if code not in COUNTRIES:
        hint = " (the United Kingdom is GB)" if code == "UK" else ""
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code{hint}")
    return code


CountryCode = Annotated[str, AfterValidator(_country)]
"""An ISO 3166-1 alpha-2 code, upper-cased (`fr` is accepted as `FR`)."""


class GeoZoneConfigUpdate(BaseModel):
    """`PUT /geozone/config`: any subset of the fields; the lists given replace the stored ones."""

    model_config = STRICT
    enabled: bool | None = None
    authorized: list[CountryCode] | None = Field(None, max_length=len(COUNTRIES))
    hostile: list[CountryCode] | None = Field(None, max_length=len(COUNTRIES))
    default: Zone | None = None
    pending_for_authorized: bool | None = None
    ban_hostile_immediately: bool | None = None


class GeoZoneCountries(BaseModel):
    """`POST/DELETE /geozone/countries/{authorized,hostile}`: `{"country": "FR"}` or `{"countries": [...]}`."""

    model_config = STRICT
    country: CountryCode | None = None
    countries: list[CountryCode] | None = Field(None, max_length=len(COUNTRIES))

    @model_validator(mode="after")
    def _some_country(self) -> GeoZoneCountries:
        if self.country is None and not self.countries:
            raise ValueError("give `country` or a non-empty `countries` list")
        return self

    def codes(self) -> list[str]:
        return ([self.country] if self.country else []) + list(self.countries or [])


class GeoZoneClassifyQuery(BaseModel):
    """`GET /geozone/classify?country=XX` or `?ip=...` (the address is located first)."""

    model_config = ConfigDict(extra="forbid")
    country: CountryCode | None = None
    ip: str | None = Field(None, max_length=100)

    @model_validator(mode="after")
    def _one_subject(self) -> GeoZoneClassifyQuery:
        if (self.country is None) == (self.ip is None):
            raise ValueError("give exactly one of `country` and `ip`")
        return self


class GeoZoneCountriesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zone: Zone | None = None


class GeoRuleCreate(BaseModel):
    """`POST /geoblocking/rules`. `value` is a country code, or an AS number (`4134`, `"AS4134"`)."""

    model_config = STRICT
    type: Literal["country", "asn"]
    value: str | int
    action: Literal["block", "watch"] = "block"
    reason: str = Field("", max_length=500)
    enabled: bool = True


class GeoRuleUpdate(BaseModel):
    """`PUT /geoblocking/rules/{id}`: any subset of the fields."""

    model_config = STRICT
    type: Literal["country", "asn"] | None = None
    value: str | int | None = None
    action: Literal["block", "watch"] | None = None
    reason: str | None = Field(None, max_length=500)
    enabled: bool | None = None


class GeoRulesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["country", "asn"] | None = None
    action: Literal["block", "watch"] | None = None
    enabled: bool | None = None
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)
