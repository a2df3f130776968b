"""Teams, their members, and user accounts (administration)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from mlops_lite.schemas.common import Body, Id, Row

Role = Literal["member", "admin"]


class TeamOut(Row):
    id: int
    name: str
    description: str
    created_at: datetime


class CreateTeam(Body):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=1000)


class MemberOut(Row):
    user_id: int
    username: str
    role: str = Field(description="member, or admin (may manage the team's members)")
    is_superuser: bool
    is_active: bool


class AddMember(Body):
    """The user by id or by username (exactly one); an existing member gets the new role."""

    user_id: Id | None = None
    username: str | None = Field(default=None, min_length=1, max_length=100)
    role: Role = "member"

    @model_validator(mode="after")
    def _one_user(self) -> AddMember:
        if (self.user_id is None) == (self.username is None):
            raise ValueError("give either user_id or username")
        return self


class UserOut(Row):
    id: int
    username: str
    is_superuser: bool
    is_active: bool
    is_service_account: bool
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime


class CreateUser(Body):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000, description="At least 8 characters.")
    is_superuser: bool = Field(default=False, description="An administrator sees and manages everything.")
    team_ids: list[Id] = Field(default_factory=list, max_length=100, description="Teams to join as a member.")


class SetPassword(Body):
    password: str = Field(
        min_length=1, max_length=1000, description="At least 8 characters; also lifts a lockout."
    )
