"""Security records: session tokens signed out before their expiry."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from catalog.models.base import datetime_column


class RevokedToken(SQLModel, table=True):
    """A signed session token (dashboard URL token, CLI session) that was signed out: refused until it would
    have expired anyway, by every process and after restarts. Only its SHA-256 is kept."""

    __tablename__ = "revoked_token"

    digest: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_column=datetime_column(nullable=False, index=True))
