"""Roles: the built-in ones (catalog.permissions.BUILTIN_ROLES) and the custom roles administrators define,
and the grants of a user built from their memberships (what ``catalog.scoping.Actor`` holds)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from catalog.errors import ValidationError, quote
from catalog.models import Membership, Role, Team
from catalog.permissions import BUILTIN_ROLES, RoleDef, TeamTree, compute_grants


def _as_def(row: Role) -> RoleDef:
    return RoleDef(
        name=row.name,
        permissions=frozenset(row.permissions),
        includes_children=row.includes_children,
        description=row.description,
    )


def role_defs(session: Session, names: Iterable[str]) -> dict[str, RoleDef]:
    """The definitions of the named roles that exist (built-in or custom); unknown names are left out."""
    wanted = set(names)
    found = {n: BUILTIN_ROLES[n] for n in wanted if n in BUILTIN_ROLES}
    custom = wanted - set(found)
    if custom:
        rows = session.exec(select(Role).where(col(Role.name).in_(sorted(custom)))).all()
        found.update({r.name: _as_def(r) for r in rows})
    return found


def require_role(session: Session, name: str) -> RoleDef:
    """A role by name, or a ValidationError listing the roles there are."""
    role = role_defs(session, [name]).get(name)
    if role is None:
        custom = session.exec(select(Role.name).order_by(Role.name)).all()
        raise ValidationError(
            f"role {quote(name)} does not exist; roles: {', '.join([*BUILTIN_ROLES, *custom])}"
        )
    return role


def team_tree(session: Session) -> tuple[TeamTree, dict[int, str]]:
    """The whole team tree and every team's name."""
    rows = session.exec(select(Team.id, Team.parent_id, Team.name)).all()
    return TeamTree({r[0]: r[1] for r in rows}), {r[0]: r[2] for r in rows}


def grants_of(session: Session, user_id: int, tree: TeamTree) -> tuple[dict[int, frozenset[str]], set[int]]:
    """A user's permissions on each team (memberships, reaching sub-teams per role) and the teams they are a
    direct member of. A membership whose custom role was deleted grants nothing."""
    memberships = session.exec(
        select(Membership.team_id, Membership.role).where(Membership.user_id == user_id)
    ).all()
    defs = role_defs(session, {role for _, role in memberships})
    held = [(team, defs[role]) for team, role in memberships if role in defs]
    return compute_grants(held, tree), {team for team, _ in memberships}
