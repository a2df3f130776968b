"""Teams (organizations), users and their memberships."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from catalog.models.base import created_at_field, optional_datetime_field


class Team(SQLModel, table=True):
    __tablename__ = "team"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=100)
    description: str = Field(default="", max_length=1000)
    created_at: datetime = created_at_field()


class User(SQLModel, table=True):
    __tablename__ = "user_account"  # "user" is reserved in PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=100)
    password_hash: str = Field(max_length=255)
    is_superuser: bool = Field(default=False)
    is_active: bool = Field(default=True)
    failed_logins: int = Field(default=0)
    locked_until: datetime | None = optional_datetime_field()
    # A team's robot user for automation: acts only with API tokens, never signs in with a password.
    is_service_account: bool = Field(default=False)
    # The OIDC issuer's subject this user was matched to (``api.oidc``), unique when set.
    oidc_subject: str | None = Field(default=None, unique=True, max_length=255)
    created_at: datetime = created_at_field()


class Membership(SQLModel, table=True):
    """A user belongs to several teams; ``role`` admin may manage the team's members."""

    __tablename__ = "membership"

    user_id: int = Field(foreign_key="user_account.id", primary_key=True, ondelete="CASCADE")
    team_id: int = Field(foreign_key="team.id", primary_key=True, ondelete="CASCADE")
    role: str = Field(default="member", max_length=20)
