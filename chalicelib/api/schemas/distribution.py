"""Request bodies of the distribution routes: targets and sync."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class Schema(BaseModel):
    """Validators are built on first use, not at import: a cold start declares a hundred models and uses few."""

    model_config = ConfigDict(defer_build=True)


STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
# Credentials are kept exactly as given: a password may begin or end with a space, and stripping it (what STRICT
# does to every other string) would store a password the firewall then refuses.
Secret = Annotated[str, StringConstraints(strip_whitespace=False)]
Kind = Literal["sophos-xgs", "ssh-nftables", "ssh-ipset", "aws-waf", "webhook", "crowdsec-bouncer", "pull-only"]


class SelectorIn(Schema):
    model_config = STRICT
    global_bans: bool = True
    sensors: list[str] = Field(default_factory=list, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=100)
    origins: list[str] = Field(default_factory=list, max_length=20)


class TargetCreate(Schema):
    model_config = STRICT
    name: str = Field(min_length=1, max_length=64)
    kind: Kind
    address: str = Field("", max_length=2048)
    settings: dict[str, Any] = Field(default_factory=dict)
    selector: SelectorIn = Field(default_factory=SelectorIn)
    credentials: dict[str, Secret] | None = None
    enabled: bool = True


class TargetUpdate(Schema):
    model_config = STRICT
    name: str | None = Field(None, min_length=1, max_length=64)
    address: str | None = Field(None, max_length=2048)
    settings: dict[str, Any] | None = None
    selector: SelectorIn | None = None
    credentials: dict[str, Secret] | None = None
    enabled: bool | None = None


class SyncRequest(Schema):
    model_config = STRICT
    targets: list[str] | None = None
