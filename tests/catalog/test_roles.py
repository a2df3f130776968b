"""Custom roles (catalog.services.roles): listed with the built-in ones, defined by administrators only, checked
(names, permissions), given to members, reaching sub-teams when they say so, changed for every holder at once,
and not deleted while held."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from catalog.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from catalog.permissions import BUILTIN_ROLES
from catalog.scoping import SYSTEM
from catalog.services import roles, team_tree, teams

pytestmark = pytest.mark.usefixtures("cheap_hashing")
PASSWORD = "roles-pass-123"


def test_custom_roles(session: Session) -> None:
    parent = team_tree.create_team(session, actor=SYSTEM, name="parent")
    child = team_tree.create_team(session, actor=SYSTEM, name="child", parent_id=parent.id)
    user = teams.create_user(session, actor=SYSTEM, username="sam", password=PASSWORD)
    teams.add_member(session, actor=SYSTEM, team_id=parent.id, user_id=user.id, role="admin")  # type: ignore[arg-type]
    session.commit()
    team_admin = teams.actor_for(session, username="sam")

    # Only administrators define roles; everyone lists them (built-in first).
    with pytest.raises(PermissionDeniedError, match="only an administrator may define roles"):
        roles.create_role(session, actor=team_admin, name="steward", permissions=["datasets:read"])
    for name, permissions, error, words in (
        ("admin", ["datasets:read"], ConflictError, "role 'admin' already exists"),
        ("Steward", ["datasets:read"], ValidationError, "role name 'Steward' is invalid"),
        ("steward", ["datasets:fly"], ValidationError, "unknown permission 'datasets:fly'"),
        ("steward", ["admin:*"], ValidationError, "the platform administrator's"),
        ("steward", [], ValidationError, "at least one permission"),
    ):
        with pytest.raises(error, match=words):
            roles.create_role(session, actor=SYSTEM, name=name, permissions=permissions)
    steward = roles.create_role(
        session, actor=SYSTEM, name="steward", permissions=["datasets:*", "audit:read"], description="data"
    )
    assert steward.permissions == ["audit:read", "datasets:*"] and steward.includes_children is False
    listed = roles.list_roles(session, actor=team_admin)
    assert [r.name for r in listed] == [*BUILTIN_ROLES, "steward"]
    assert listed[-1].permissions == frozenset({"datasets:*", "audit:read"}) and not listed[-1].builtin

    # A team admin gives it (any existing role; an unknown one is refused).
    member = teams.create_user(session, actor=SYSTEM, username="kim", password=PASSWORD)
    with pytest.raises(ValidationError, match="role 'ghost' does not exist; roles: viewer, .*steward"):
        teams.add_member(session, actor=team_admin, team_id=parent.id, user_id=member.id, role="ghost")  # type: ignore[arg-type]
    teams.add_member(session, actor=team_admin, team_id=parent.id, user_id=member.id, role="steward")  # type: ignore[arg-type]
    session.commit()
    kim = teams.actor_for(session, username="kim")
    assert kim.can("datasets:write", parent.id) and not kim.can("jobs:read", parent.id)
    assert not kim.can_see_team(child.id), "the role does not include children"

    # A change reaches every holder with their next actor; built-in roles cannot change.
    roles.update_role(
        session, actor=SYSTEM, name="steward", includes_children=True, permissions=["datasets:read"]
    )
    session.commit()
    kim = teams.actor_for(session, username="kim")
    assert kim.can("datasets:read", child.id) and not kim.can("datasets:write", parent.id)
    with pytest.raises(ConflictError, match="role 'member' is built in"):
        roles.update_role(session, actor=SYSTEM, name="member", permissions=["datasets:read"])
    with pytest.raises(NotFoundError, match="role 'ghost' not found"):
        roles.delete_role(session, actor=SYSTEM, name="ghost")
    with pytest.raises(PermissionDeniedError):
        roles.delete_role(session, actor=team_admin, name="steward")

    # Not deleted while held.
    with pytest.raises(ConflictError, match=r"role 'steward' is held by 1 membership\(s\)"):
        roles.delete_role(session, actor=SYSTEM, name="steward")
    teams.remove_member(session, actor=team_admin, team_id=parent.id, user_id=member.id)  # type: ignore[arg-type]
    roles.delete_role(session, actor=SYSTEM, name="steward")
    assert [r.name for r in roles.list_roles(session, actor=team_admin)] == list(BUILTIN_ROLES)
