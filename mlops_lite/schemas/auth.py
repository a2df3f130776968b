"""Tokens, identity and service accounts."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from mlops_lite.schemas.common import Body, Id, Permissions, Row, ShortName, Username

MAX_TOKEN_DAYS = 366


class Health(Row):
    status: str
    version: str


class TokenRequest(Body):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)
    name: str | None = Field(
        default=None, min_length=1, max_length=100, description="Default: 'login on <host>'."
    )


class TokenOut(Row):
    id: int
    name: str
    kind: str = Field(description="personal, service, login or operator")
    prefix: str = Field(description="First characters of the token, to tell tokens apart.")
    user_id: int
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    permissions: list[str] | None = Field(
        default=None, description="The permissions the token is narrowed to; null: all of its user's."
    )


class NewToken(TokenOut):
    token: str = Field(description="The token itself: shown only in this answer, never again.")


class TeamRef(Row):
    id: int
    name: str


class Me(Row):
    id: int | None
    username: str
    is_superuser: bool
    teams: list[TeamRef]
    current_team_id: int | None


class CreateToken(Body):
    name: ShortName
    days: float | None = Field(
        default=None, gt=0, le=MAX_TOKEN_DAYS, description="Lifetime in days (default MLOPS_API_TOKEN_DAYS)."
    )
    permissions: Permissions | None = Field(
        default=None,
        description="Narrow the token to these permissions (each held by its user on some team, e.g. "
        "datasets:read); omitted: the token acts with all of its user's. A narrowed token only creates tokens "
        "narrowed at least as much.",
    )


class CreateServiceAccount(Body):
    name: Username
    team_id: Id


class ServiceAccount(Row):
    id: int
    username: str
    is_active: bool
    created_at: datetime
