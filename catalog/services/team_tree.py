"""A team's place in the team tree: creating a team (top-level or under a parent), moving it, deleting it.

One rule decides all three (``_require_place``): the change happens under a parent team, and the actor needs
``teams:manage`` there (the ``requires`` permission of each function, enforced by ``catalog.scoping``); at the
top level, where there is no parent, only an administrator (``admin:*``) may act. A team admin (whose role
includes children) therefore creates, moves and deletes sub-teams anywhere below their team, never the team
itself or anything beside it. Moving checks both ends: the team's current parent and the new one, and refuses
cycles (``catalog.permissions.TeamTree.move_problem``). Deleting refuses a team that still has sub-teams or
resources, naming them; nothing is deleted then.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from catalog.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError, quote
from catalog.models import Dataset, Membership, Serving, Team, TrainJob
from catalog.permissions import ADMIN, TeamTree
from catalog.scoping import Actor, current_permission, requires
from catalog.services.audit import audited
from catalog.services.common import flush_unique
from catalog.services.teams import get_team
from mlops_lite.schemas.common import TEAM_NAME_PATTERN

_TEAM_RE = re.compile(TEAM_NAME_PATTERN)
MAX_DESCRIPTION = 1000  # Team.description's column


def _require_place(actor: Actor, parent_id: int | None, *, named: bool = True) -> None:
    """May the actor change the tree under ``parent_id``: the call's permission (``teams:manage``) on that
    team, or ``admin:*`` at the top level. A parent the caller named and cannot see reads as nonexistent; the
    current parent of a team the caller sees (not named by them) is a refusal naming the permission."""
    if parent_id is None:
        actor.require(ADMIN)
    elif named:
        actor.require_team(parent_id)
    else:
        permission = current_permission() or "teams:manage"
        if not actor.can(permission, parent_id):
            raise PermissionDeniedError(
                f"{actor.refusal(permission, parent_id)} (changing where a team sits is its parent team's "
                "business)"
            )


def _tree(session: Session, *, lock: bool = False) -> TeamTree:
    stmt = select(Team.id, Team.parent_id)
    if lock:
        # Two moves deciding on the same tree at once could each pass the cycle check and make a cycle
        # together; on PostgreSQL the second waits here (SQLite serialises writers with BEGIN IMMEDIATE).
        stmt = stmt.with_for_update()
    return TeamTree({ident: parent for ident, parent in session.exec(stmt).all()})  # type: ignore[misc]


def _existing_parent(parent_id: int | None, exists: bool) -> None:
    # Checked before the permission so that, for an administrator, a missing parent is a clear 404 (others
    # get the same words for a parent they cannot see).
    if parent_id is not None and not exists:
        raise NotFoundError("team", parent_id)


@requires("teams:manage")
def create_team(
    session: Session, *, actor: Actor, name: str, description: str = "", parent_id: int | None = None
) -> Team:
    """A new team: top-level (administrators) or a sub-team of ``parent_id`` (``teams:manage`` there)."""
    with audited(session, actor=actor, action="team.create", resource_type="team", team_id=parent_id) as info:
        _existing_parent(parent_id, parent_id is not None and session.get(Team, parent_id) is not None)
        _require_place(actor, parent_id)
        name = (name or "").strip()
        if not _TEAM_RE.match(name):
            raise ValidationError(
                f"team name {quote(name)} is invalid: use 1-100 letters, digits, spaces, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if len(description or "") > MAX_DESCRIPTION:
            raise ValidationError(f"a team's description has at most {MAX_DESCRIPTION} characters")
        if session.exec(select(Team.id).where(Team.name == name)).first() is not None:
            raise ConflictError(f"team {name!r} already exists")
        team = Team(name=name, description=description or "", parent_id=parent_id)
        session.add(team)
        flush_unique(session, f"team {name!r} already exists")
        info.update(resource_id=team.id, team_id=team.id)
        info["detail"] = {"name": name, "parent_id": parent_id}
    return team


@requires("teams:manage")
def move_team(session: Session, *, actor: Actor, team_id: int, parent_id: int | None) -> Team:
    """Put a team (with its whole subtree) under ``parent_id``, or at the top level (None). Needs
    ``teams:manage`` on the current parent and on the new one (``admin:*`` for either end at the top level);
    a team cannot move under itself or one of its sub-teams."""
    with audited(session, actor=actor, action="team.move", resource_type="team", team_id=team_id) as info:
        team = get_team(session, team_id=team_id, actor=actor)
        info["resource_id"] = team.id
        tree = _tree(session, lock=True)
        old_parent = tree.parents.get(team_id)
        info["detail"] = {"from_parent_id": old_parent, "to_parent_id": parent_id}
        _require_place(actor, old_parent, named=False)
        _existing_parent(parent_id, parent_id in tree.parents)
        _require_place(actor, parent_id)
        problem = tree.move_problem(team_id, parent_id)
        if problem is not None:
            raise ConflictError(f"cannot move team {team.name!r}: {problem}")
        team.parent_id = parent_id
        session.add(team)
        session.flush()
    return team


def _still_holds(session: Session, team_id: int) -> list[str]:
    """What keeps a team from being deleted: its sub-teams and resources, counted."""
    counts = {
        "sub-team(s)": select(func.count()).select_from(Team).where(Team.parent_id == team_id),
        "dataset(s)": select(func.count()).select_from(Dataset).where(Dataset.team_id == team_id),
        "training job(s)": select(func.count()).select_from(TrainJob).where(TrainJob.team_id == team_id),
        "serving(s)": select(func.count()).select_from(Serving).where(Serving.team_id == team_id),
    }
    held = ((what, int(session.exec(stmt).one())) for what, stmt in counts.items())
    return [f"{n} {what}" for what, n in held if n]


@requires("teams:manage")
def delete_team(session: Session, *, actor: Actor, team_id: int) -> None:
    """Delete a team and its memberships. Refused, deleting nothing, while it has sub-teams, datasets,
    training jobs or servings (each counted in the message): move or delete them first. Needs
    ``teams:manage`` on its parent (``admin:*`` for a top-level team)."""
    with audited(session, actor=actor, action="team.delete", resource_type="team", team_id=team_id) as info:
        team = get_team(session, team_id=team_id, actor=actor)
        info["resource_id"] = team.id
        info["detail"] = {"name": team.name, "parent_id": team.parent_id}
        _require_place(actor, team.parent_id, named=False)
        held = _still_holds(session, team_id)
        if held:
            raise ConflictError(
                f"team {team.name!r} still has {', '.join(held)}: move or delete them first (nothing was "
                "deleted)"
            )
        members = session.exec(select(Membership).where(col(Membership.team_id) == team_id)).all()
        info["detail"]["members"] = len(members)
        for membership in members:
            session.delete(membership)
        session.delete(team)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            # A resource or sub-team created in it meanwhile (the foreign keys refuse the delete).
            raise ConflictError(
                f"team {team.name!r} got a sub-team or a resource meanwhile: nothing was deleted"
            ) from None
