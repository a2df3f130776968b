"""Teams, their members, and user accounts (administration)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from mlops_lite.schemas.common import Body, Id, Password, Row, TeamName, Username

Role = Literal["member", "admin"]


class TeamOut(Row):
    id: int
    name: str
    description: str
    created_at: datetime


class CreateTeam(Body):
    name: TeamName
    description: str = Field(default="", max_length=1000)


class MemberOut(Row):
    user_id: int
    username: str
    role: str = Field(description="member, or admin (may manage the team's members)")
    is_superuser: bool
    is_active: bool


class AddMemberById(Body):
    """The user by id; an existing member gets the new role."""

    user_id: Id
    role: Role = "member"


class AddMemberByName(Body):
    """The user by username (a team's admins add people whose id they cannot look up); an existing member gets
    the new role."""

    username: Username
    role: Role = "member"


AddMember = AddMemberById | AddMemberByName


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
    username: Username
    password: Password
    is_superuser: bool = Field(default=False, description="An administrator sees and manages everything.")
    team_ids: list[Id] = Field(default_factory=list, max_length=100, description="Teams to join as a member.")


class SetPassword(Body):
    password: Password = Field(description="The new password; also lifts a lockout.")
