"""Security records: session tokens signed out before their expiry, and the API's bearer tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from catalog.models.base import created_at_field, datetime_column, optional_datetime_field


class RevokedToken(SQLModel, table=True):
    """A signed session token (dashboard URL token, CLI session) that was signed out: refused until it would
    have expired anyway, by every process and after restarts. Only its SHA-256 is kept."""

    __tablename__ = "revoked_token"

    digest: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_column=datetime_column(nullable=False, index=True))


class ApiToken(SQLModel, table=True):
    """A bearer token of the platform API (``catalog.services.tokens``): a personal access token, a service
    account's token, a CLI sign-in, or the operator's token on the platform host. Only its SHA-256 is kept:
    tokens are 256-bit random strings, so a fast hash is enough (no password-style stretching)."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    kind: str = Field(default="personal", max_length=20)
    digest: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=20)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_column=datetime_column(nullable=False))
    last_used_at: datetime | None = optional_datetime_field()
    revoked_at: datetime | None = optional_datetime_field()
    # The permissions the token is narrowed to (a subset of its user's); None acts with all of them.
    permissions: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
