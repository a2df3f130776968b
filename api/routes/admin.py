"""Teams and users: teams listed (administrators: every team; others: their own, paged and searched like the
dashboard; optionally one team and its sub-teams), created (top-level: administrators; a sub-team: whoever
holds teams:manage on its parent), moved and deleted (``catalog.services.team_tree`` decides), shown with their
members, members added with any role and removed (administrators and the team's admins, as
``catalog.services.teams`` decides); user accounts (administrators only): listed, created, shown, their
passwords set."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import ActorDep, AdminDep, IdPath, SessionDep, TeamFilter
from api.paging import Page, PageDep
from catalog.models import Team, User
from catalog.services import team_tree
from catalog.services import teams as teams_service
from mlops_lite.schemas.admin import (
    AddMember,
    AddMemberById,
    AddMemberByName,
    CreateTeam,
    CreateUser,
    MemberOut,
    MoveTeam,
    SetPassword,
    TeamOut,
    UserOut,
)

router = APIRouter(tags=["admin"])


# ---------------------------------------------------------------- teams


@router.get("/teams", response_model=Page[TeamOut], summary="List teams")
def list_teams(actor: ActorDep, session: SessionDep, paging: PageDep, teams: TeamFilter) -> Page[TeamOut]:
    """Every team for an administrator; otherwise the caller's own teams (``team_id``: that team, with
    ``include_children`` and the teams below it)."""
    total, rows = teams_service.page_teams(
        session,
        actor=actor,
        search=paging.q,
        team_id=teams.team_id,
        include_children=teams.include_children,
        offset=paging.offset,
        limit=paging.limit,
    )
    return Page(
        items=[TeamOut.model_validate(r) for r in rows],
        total=total,
        offset=paging.offset,
        limit=paging.limit,
    )


@router.post("/teams", response_model=TeamOut, status_code=201, summary="Create a team or a sub-team")
def create_team(body: CreateTeam, actor: ActorDep, session: SessionDep) -> Team:
    """A top-level team (administrators), or with ``parent_id`` a sub-team (teams:manage on the parent: its
    team admins, and admins of a team above it)."""
    return team_tree.create_team(
        session, actor=actor, name=body.name, description=body.description, parent_id=body.parent_id
    )


@router.post("/teams/{team_id:int}/move", response_model=TeamOut, summary="Move a team in the tree")
def move_team(team_id: IdPath, body: MoveTeam, actor: ActorDep, session: SessionDep) -> Team:
    """Under another parent (null: to the top level, administrators), with its sub-teams. Needs teams:manage
    on the current parent and on the new one; moving a team under itself or one of its sub-teams is refused
    (409)."""
    return team_tree.move_team(session, actor=actor, team_id=team_id, parent_id=body.parent_id)


@router.delete(
    "/teams/{team_id:int}", status_code=204, response_class=Response, summary="Delete an empty team"
)
def delete_team(team_id: IdPath, actor: ActorDep, session: SessionDep) -> Response:
    """Deletes the team and its memberships. Refused (409, naming what is left, nothing deleted) while it has
    sub-teams, datasets, training jobs or servings. Needs teams:manage on its parent (a top-level team:
    administrators)."""
    team_tree.delete_team(session, actor=actor, team_id=team_id)
    return Response(status_code=204)


@router.get("/teams/{team_id:int}", response_model=TeamOut, summary="Show a team")
def get_team(team_id: IdPath, actor: ActorDep, session: SessionDep) -> Team:
    return teams_service.get_team(session, team_id=team_id, actor=actor)


@router.get("/teams/{team_id:int}/members", response_model=Page[MemberOut], summary="List a team's members")
def list_members(team_id: IdPath, actor: ActorDep, session: SessionDep, paging: PageDep) -> Page[MemberOut]:
    """The team's members by username (``q``: usernames containing it)."""
    members = teams_service.list_members(session, actor=actor, team_id=team_id)
    if paging.q:
        needle = paging.q.casefold()
        members = [m for m in members if needle in m.username.casefold()]
    shown = members[paging.offset : paging.offset + paging.limit]
    return Page(
        items=[MemberOut.model_validate(m) for m in shown],
        total=len(members),
        offset=paging.offset,
        limit=paging.limit,
    )


@router.post(
    "/teams/{team_id:int}/members",
    response_model=MemberOut,
    status_code=201,
    summary="Add a member (administrators and the team's admins)",
)
def add_member(team_id: IdPath, body: AddMember, actor: ActorDep, session: SessionDep) -> MemberOut:
    """Make a user a member of the team; an existing member gets the new role."""
    membership = teams_service.add_member(
        session,
        actor=actor,
        team_id=team_id,
        user_id=body.user_id if isinstance(body, AddMemberById) else None,
        username=body.username if isinstance(body, AddMemberByName) else None,
        role=body.role,
    )
    user = session.get(User, membership.user_id)
    assert user is not None  # add_member found it in this transaction
    return MemberOut(
        user_id=membership.user_id,
        username=user.username,
        role=membership.role,
        is_superuser=user.is_superuser,
        is_active=user.is_active,
    )


@router.delete(
    "/teams/{team_id:int}/members/{user_id:int}",
    status_code=204,
    response_class=Response,
    summary="Remove a member (administrators and the team's admins)",
)
def remove_member(team_id: IdPath, user_id: IdPath, actor: ActorDep, session: SessionDep) -> Response:
    teams_service.remove_member(session, actor=actor, team_id=team_id, user_id=user_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- users


@router.get("/users", response_model=Page[UserOut], summary="List users (administrators)")
def list_users(actor: AdminDep, session: SessionDep, paging: PageDep) -> Page[UserOut]:
    total, rows = teams_service.page_users(
        session, actor=actor, search=paging.q, offset=paging.offset, limit=paging.limit
    )
    return Page(
        items=[UserOut.model_validate(r) for r in rows],
        total=total,
        offset=paging.offset,
        limit=paging.limit,
    )


@router.post("/users", response_model=UserOut, status_code=201, summary="Create a user (administrators)")
def create_user(body: CreateUser, actor: AdminDep, session: SessionDep) -> User:
    """A user account, a member of ``team_ids`` (all in one transaction: a team that does not exist stores
    nothing)."""
    user = teams_service.create_user(
        session,
        actor=actor,
        username=body.username,
        password=body.password,
        is_superuser=body.is_superuser,
    )
    for team_id in dict.fromkeys(body.team_ids):
        teams_service.add_member(session, actor=actor, team_id=team_id, user_id=user.id)
    return user


@router.get("/users/{user_id:int}", response_model=UserOut, summary="Show a user (administrators)")
def get_user(user_id: IdPath, actor: AdminDep, session: SessionDep) -> User:
    return teams_service.get_user(session, user_id=user_id, actor=actor)


@router.put(
    "/users/{user_id:int}/password", response_model=UserOut, summary="Set a user's password (administrators)"
)
def set_password(user_id: IdPath, body: SetPassword, actor: AdminDep, session: SessionDep) -> User:
    """Also lifts a lockout."""
    return teams_service.set_password(session, actor=actor, user_id=user_id, password=body.password)
