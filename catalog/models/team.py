"""Teams (organizations) in a tree, their quotas, users, memberships with a role, and custom roles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from catalog.models.base import created_at_field, json_field, optional_datetime_field


class Team(SQLModel, table=True):
    __tablename__ = "team"
    # Ids never reused on SQLite (PostgreSQL sequences never reuse them): a new team must not inherit a deleted
    # team's audit records or anything else keyed by its id.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=100)
    description: str = Field(default="", max_length=1000)
    # The team above this one (catalog.permissions.TeamTree); None for a top-level team.
    parent_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    # Quotas (catalog.services.quotas), None = no limit. Each applies to the team's whole subtree.
    max_trainings: int | None = Field(default=None, ge=0, description="Concurrent trainings")
    max_servings: int | None = Field(default=None, ge=0, description="Running servings")
    max_stored_bytes: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True), description="Datasets + releases + models"
    )
    max_cpus: float | None = Field(default=None, ge=0, description="CPUs of running containers")
    max_memory_mb: int | None = Field(default=None, ge=0, description="Memory of running containers, MiB")
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
    """A user belongs to several teams, each with a role: a built-in one (catalog.permissions.BUILTIN_ROLES)
    or a custom ``Role`` by name."""

    __tablename__ = "membership"

    user_id: int = Field(foreign_key="user_account.id", primary_key=True, ondelete="CASCADE")
    team_id: int = Field(foreign_key="team.id", primary_key=True, ondelete="CASCADE")
    role: str = Field(default="member", max_length=100)


class Role(SQLModel, table=True):
    """A custom role defined by an administrator: permissions, and whether they reach sub-teams."""

    __tablename__ = "role"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=100)
    description: str = Field(default="", max_length=1000)
    permissions: list[str] = json_field(default_factory=list)
    includes_children: bool = Field(default=False)
    created_at: datetime = created_at_field()
