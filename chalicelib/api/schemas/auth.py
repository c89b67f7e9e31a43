"""Request and response bodies of the identity routes (seeds 000, 001, 003, 004)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Schema(BaseModel):
    """Validators are built on first use, not at import: a cold start declares a hundred models and uses few."""

    model_config = ConfigDict(defer_build=True)


STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
HONEYPOT = ConfigDict(extra="ignore", str_strip_whitespace=True)


class Honeypot(Schema):
    """Fields no human fills in (they are hidden in forms); bots do."""

    model_config = HONEYPOT
    website: str | None = None
    hp_check: str | None = None
    url2: str | None = None

    def filled(self) -> dict[str, str | None]:
        return {"website": self.website, "hp_check": self.hp_check, "url2": self.url2}


class EmailLogin(Honeypot):
    """Seed 000 and seed 001 logins: `{email, password}` (`username` accepted as the email)."""

    email: str | None = Field(None, max_length=254)
    username: str | None = Field(None, max_length=254)
    password: str = Field(min_length=1, max_length=1024)

    def address(self) -> str:
        return (self.email or self.username or "").strip()


class FormLogin(Honeypot):
    """Seed 004 login (form or JSON): `username` is the email."""

    username: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class Registration(Honeypot):
    email: str = Field(max_length=254)
    password: str = Field(min_length=1, max_length=1024)
    full_name: str = Field("", max_length=200)


class TokenOut(Schema):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class UserOut(Schema):
    id: int
    email: str
    full_name: str | None = None
    roles: list[str]
    is_active: bool
    last_login: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class MeOut(UserOut):
    permissions: list[str]


class LoginOut(TokenOut):
    user: UserOut


class UserCreate(Schema):
    model_config = STRICT
    email: str = Field(max_length=254)
    password: str = Field(min_length=1, max_length=1024)
    full_name: str = Field("", max_length=200)
    roles: list[str] = Field(default_factory=lambda: ["viewer"])
    is_active: bool = True


class UserUpdate(Schema):
    model_config = STRICT
    email: str | None = Field(None, max_length=254)
    full_name: str | None = Field(None, max_length=200)
    roles: list[str] | None = None
    is_active: bool | None = None


class PasswordReset(Schema):
    """Admin reset: set `password`, or leave it out to email the user a reset code."""

    model_config = STRICT
    password: str | None = Field(None, min_length=1, max_length=1024)


class PasswordChange(Schema):
    model_config = STRICT
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class ForgotPassword(Honeypot):
    email: str = Field(max_length=254)


class ResetWithCode(Schema):
    model_config = STRICT
    token: str = Field(min_length=10, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class UserPageQuery(Schema):
    """Seed 004's list parameters."""

    model_config = ConfigDict(extra="forbid")
    skip: int = Field(0, ge=0)
    limit: int = Field(20, ge=1, le=100)
    search: str | None = Field(None, max_length=200)
    is_active: bool | None = None
    sort_by: Literal["id", "email", "full_name", "created_at", "last_login", "is_active"] = "id"
    sort_order: Literal["asc", "desc"] = "asc"


class PageQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    skip: int = Field(0, ge=0)
    limit: int = Field(20, ge=1, le=100)


class RoleCreate(Schema):
    model_config = STRICT
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")
    description: str = Field("", max_length=255)
    permissions: list[str] = Field(default_factory=list)


class RoleUpdate(Schema):
    model_config = STRICT
    name: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")
    description: str | None = Field(None, max_length=255)
    permissions: list[str] | None = None


class PermissionCreate(Schema):
    model_config = STRICT
    name: str = Field(min_length=3, max_length=64, pattern=r"^[a-z][a-z0-9_-]*:[a-z*][a-z0-9_-]*$")
    description: str = Field("", max_length=255)
    resource: str | None = Field(None, max_length=32)
    action: str | None = Field(None, max_length=32)


class ApiKeyCreate(Schema):
    model_config = STRICT
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Literal["READ", "WRITE", "INGEST"]] = Field(min_length=1)
    expires_at: datetime | None = None
    expires_in_days: int | None = Field(None, ge=1, le=3650)
    sensor: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")


class SecurityLogQuery(Schema):
    """Seed 001's filters (camelCase, as documented)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    limit: int = Field(100, ge=1, le=1000)
    eventType: str | None = None
    riskLevel: Literal["low", "medium", "high"] | None = None
    userId: str | None = None
    success: bool | None = None
    startDate: datetime | None = None
    endDate: datetime | None = None
    lang: str | None = None


class SecurityExportQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    startDate: datetime | None = None
    endDate: datetime | None = None
    eventType: str | None = None
    riskLevel: Literal["low", "medium", "high"] | None = None
    lang: str | None = None
