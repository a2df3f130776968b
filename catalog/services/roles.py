"""Roles: the built-in ones (catalog.permissions.BUILTIN_ROLES) and the custom roles administrators define
(listed by anyone signed in; created, changed and deleted by administrators), and the grants of a user built
from their memberships (what ``catalog.scoping.Actor`` holds).

A custom role's name never clashes with a built-in one; its permissions are known ones (``check_permissions``)
and never ``admin:*``, which is the platform administrator's, not a team's. A role still held by a membership
cannot be deleted (the message says how many hold it); changing one takes effect on the next request of every
member holding it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlmodel import Session, col, func, select

from catalog.errors import ConflictError, NotFoundError, ValidationError, quote
from catalog.models import Membership, Role, Team
from catalog.permissions import ADMIN, BUILTIN_ROLES, RoleDef, TeamTree, check_permissions, compute_grants
from catalog.scoping import Actor, requires
from catalog.services.audit import audited
from catalog.services.common import flush_unique
from mlops_lite.schemas.common import ROLE_NAME_PATTERN

_ROLE_RE = re.compile(ROLE_NAME_PATTERN)


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


# ---------------------------------------------------------------- custom roles (administrators)


def list_roles(session: Session, *, actor: Actor) -> list[RoleDef]:
    """Every role a membership may have: the built-in ones, then the custom ones by name (anyone signed in:
    a team admin picks roles for members)."""
    rows = session.exec(select(Role).order_by(Role.name)).all()
    return [*BUILTIN_ROLES.values(), *(_as_def(r) for r in rows)]


def _permissions(values: Iterable[str]) -> list[str]:
    try:
        wanted = check_permissions(values)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    if not wanted:
        raise ValidationError("a role needs at least one permission")
    if ADMIN in wanted:
        raise ValidationError(
            f"{ADMIN!r} is the platform administrator's; a role grants permissions on teams"
        )
    return sorted(wanted)


def _description(value: str | None) -> str:
    if len(value or "") > 1000:  # Role.description's column
        raise ValidationError("a role's description has at most 1000 characters")
    return value or ""


def _custom(session: Session, name: str) -> Role:
    if name in BUILTIN_ROLES:
        raise ConflictError(f"role {name!r} is built in: it cannot be changed or deleted")
    row = session.exec(select(Role).where(Role.name == name)).first()
    if row is None:
        raise NotFoundError("role", name)
    return row


@requires(ADMIN)
def create_role(
    session: Session,
    *,
    actor: Actor,
    name: str,
    permissions: Iterable[str],
    includes_children: bool = False,
    description: str = "",
) -> Role:
    """A custom role (administrators): its permissions, and whether they reach the sub-teams of a member's
    team."""
    with audited(session, actor=actor, action="role.create", resource_type="role") as info:
        actor.require_superuser("define roles")
        name = (name or "").strip()
        if not _ROLE_RE.match(name):
            raise ValidationError(
                f"role name {quote(name)} is invalid: use 1-50 lowercase letters, digits, '_' or '-', "
                "starting with a letter"
            )
        if name in BUILTIN_ROLES or session.exec(select(Role.id).where(Role.name == name)).first():
            raise ConflictError(f"role {name!r} already exists")
        row = Role(
            name=name,
            description=_description(description),
            permissions=_permissions(permissions),
            includes_children=bool(includes_children),
        )
        session.add(row)
        flush_unique(session, f"role {name!r} already exists")
        info["resource_id"] = name
        info["detail"] = {"permissions": row.permissions, "includes_children": row.includes_children}
    return row


@requires(ADMIN)
def update_role(
    session: Session,
    *,
    actor: Actor,
    name: str,
    permissions: Iterable[str] | None = None,
    includes_children: bool | None = None,
    description: str | None = None,
) -> Role:
    """Change a custom role (administrators); what is None stays. Members holding it get the new
    permissions with their next request."""
    with audited(session, actor=actor, action="role.update", resource_type="role") as info:
        actor.require_superuser("change roles")
        info["resource_id"] = name
        row = _custom(session, name)
        if permissions is not None:
            row.permissions = _permissions(permissions)
        if includes_children is not None:
            row.includes_children = bool(includes_children)
        if description is not None:
            row.description = _description(description)
        session.add(row)
        session.flush()
        info["detail"] = {"permissions": row.permissions, "includes_children": row.includes_children}
    return row


@requires(ADMIN)
def delete_role(session: Session, *, actor: Actor, name: str) -> None:
    """Delete a custom role (administrators); refused while any membership holds it."""
    with audited(session, actor=actor, action="role.delete", resource_type="role") as info:
        actor.require_superuser("delete roles")
        info["resource_id"] = name
        row = _custom(session, name)
        held = session.exec(select(func.count()).select_from(Membership).where(Membership.role == name)).one()
        if held:
            raise ConflictError(
                f"role {name!r} is held by {held} membership(s): give them another role first"
            )
        session.delete(row)
        session.flush()
