"""``client.teams``, ``client.roles`` and ``client.users``: teams in a tree and their members, roles, user
accounts (administration)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mlops_lite.client.errors import InvalidRequest
from mlops_lite.client.quotas import TeamQuotas
from mlops_lite.client.transport import Transport, build, team_filter
from mlops_lite.schemas.admin import (
    AddMember,
    AddMemberById,
    AddMemberByName,
    CreateRole,
    CreateTeam,
    CreateUser,
    MemberOut,
    MoveTeam,
    Role,
    RoleOut,
    SetPassword,
    TeamOut,
    UpdateRole,
    UserOut,
)
from mlops_lite.schemas.common import Page


class Teams(TeamQuotas):
    """Every team for an administrator, otherwise the caller's own; members are managed by administrators
    and the team's admins; usage and quotas (``TeamQuotas``)."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def create(self, name: str, *, description: str = "", parent_id: int | None = None) -> TeamOut:
        """A new top-level team (administrators), or a sub-team of ``parent_id`` (teams:manage on it)."""
        body = build(CreateTeam, name=name, description=description, parent_id=parent_id)
        return self._t.send("POST", "/teams", TeamOut, body)

    def move(self, team_id: int, *, parent_id: int | None) -> TeamOut:
        """Move a team (with its sub-teams) under ``parent_id``, or to the top level (None)."""
        return self._t.send("POST", f"/teams/{team_id}/move", TeamOut, MoveTeam(parent_id=parent_id))

    def delete(self, team_id: int) -> None:
        """Delete a team with no sub-teams and no resources (refused otherwise, naming what is left)."""
        self._t.request("DELETE", f"/teams/{team_id}")

    def get(self, team_id: int) -> TeamOut:
        return self._t.get(f"/teams/{team_id}", TeamOut)

    def page(
        self,
        *,
        offset: int = 0,
        limit: int = 50,
        search: str | None = None,
        team_id: int | None = None,
        include_children: bool = False,
    ) -> Page[TeamOut]:
        return self._t.page(
            "/teams", TeamOut, offset=offset, limit=limit, q=search, **team_filter(team_id, include_children)
        )

    def members(self, team_id: int, *, search: str | None = None) -> Iterator[MemberOut]:
        """The team's members by username (pages fetched as the iteration goes)."""
        return self._t.pages(f"/teams/{team_id}/members", MemberOut, q=search)

    def add_member(
        self, team_id: int, *, user_id: int | None = None, username: str | None = None, role: Role = "member"
    ) -> MemberOut:
        """Make a user (by id or by username) a member; an existing member gets the new role."""
        if (user_id is None) == (username is None):
            raise InvalidRequest("give either user_id or username")
        body: AddMember = (
            AddMemberById(user_id=user_id, role=role)
            if user_id is not None
            else AddMemberByName(username=username, role=role)  # type: ignore[arg-type]
        )
        return self._t.send("POST", f"/teams/{team_id}/members", MemberOut, body)

    def remove_member(self, team_id: int, user_id: int) -> None:
        self._t.request("DELETE", f"/teams/{team_id}/members/{user_id}")

    def list(
        self, *, search: str | None = None, team_id: int | None = None, include_children: bool = False
    ) -> Iterator[TeamOut]:
        """The teams the caller sees, by name (``team_id``: that team, with ``include_children`` and the teams
        below it; pages fetched as the iteration goes)."""
        return self._t.pages("/teams", TeamOut, q=search, **team_filter(team_id, include_children))


class Roles:
    """Roles a membership may have: built-in and custom (listed by anyone; changed by administrators)."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def list(self) -> list[RoleOut]:
        return self._t.get_list("/roles", RoleOut)

    def create(
        self,
        name: str,
        permissions: Iterable[str],
        *,
        includes_children: bool = False,
        description: str = "",
    ) -> RoleOut:
        body = build(
            CreateRole,
            name=name,
            permissions=list(permissions),
            includes_children=includes_children,
            description=description,
        )
        return self._t.send("POST", "/roles", RoleOut, body)

    def update(
        self,
        name: str,
        *,
        permissions: Iterable[str] | None = None,
        includes_children: bool | None = None,
        description: str | None = None,
    ) -> RoleOut:
        """Change what is given; the rest stays."""
        body = build(
            UpdateRole,
            permissions=None if permissions is None else list(permissions),
            includes_children=includes_children,
            description=description,
        )
        return self._t.send("PATCH", f"/roles/{name}", RoleOut, body)

    def delete(self, name: str) -> None:
        """Refused while a membership holds the role."""
        self._t.request("DELETE", f"/roles/{name}")


class Users:
    """User accounts (administrators only)."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def create(
        self, username: str, password: str, *, is_superuser: bool = False, team_ids: Iterable[int] = ()
    ) -> UserOut:
        """A user, a member of ``team_ids`` (all or nothing)."""
        body = CreateUser(
            username=username, password=password, is_superuser=is_superuser, team_ids=list(team_ids)
        )
        return self._t.send("POST", "/users", UserOut, body)

    def get(self, user_id: int) -> UserOut:
        return self._t.get(f"/users/{user_id}", UserOut)

    def by_name(self, username: str) -> UserOut | None:
        """The user of this exact username, or None."""
        return next((u for u in self.list(search=username) if u.username == username), None)

    def set_password(self, user_id: int, password: str) -> UserOut:
        """Also lifts a lockout."""
        return self._t.send("PUT", f"/users/{user_id}/password", UserOut, SetPassword(password=password))

    def page(self, *, offset: int = 0, limit: int = 50, search: str | None = None) -> Page[UserOut]:
        return self._t.page("/users", UserOut, offset=offset, limit=limit, q=search)

    def list(self, *, search: str | None = None) -> Iterator[UserOut]:
        """Every user by username (pages fetched as the iteration goes)."""
        return self._t.pages("/users", UserOut, q=search)
