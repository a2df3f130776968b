"""Teams (in a tree), their members with a role, custom roles, and user accounts (administration)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from mlops_lite.schemas.common import Body, Id, Password, RoleName, RolePermissions, Row, TeamName, Username

# Any role's name: built-in (viewer, member, maintainer, admin) or custom (``GET /roles`` lists them; the
# server refuses one that does not exist).
Role = RoleName


class TeamOut(Row):
    id: int
    name: str
    description: str
    parent_id: int | None = Field(default=None, description="The team above this one; null at the top.")
    created_at: datetime


class CreateTeam(Body):
    name: TeamName
    description: str = Field(default="", max_length=1000)
    parent_id: Id | None = Field(
        default=None,
        description="Create a sub-team of this team (needs teams:manage on it); without one, a top-level "
        "team (administrators).",
    )


class MoveTeam(Body):
    parent_id: Id | None = Field(
        description="The new parent team; null moves the team to the top level (administrators)."
    )


class MemberOut(Row):
    user_id: int
    username: str
    role: str = Field(description="The member's role: viewer, member, maintainer, admin or a custom one.")
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


class RoleOut(Row):
    name: str
    description: str
    permissions: list[str]
    includes_children: bool = Field(description="Whether the role's permissions reach the team's sub-teams.")
    builtin: bool


class CreateRole(Body):
    name: RoleName = Field(description="Lowercase; not a built-in role's name.")
    permissions: RolePermissions
    includes_children: bool = False
    description: str = Field(default="", max_length=1000)


class UpdateRole(Body):
    """What is given changes; what is left out stays."""

    permissions: RolePermissions | None = None
    includes_children: bool | None = None
    description: str | None = Field(default=None, max_length=1000)


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
