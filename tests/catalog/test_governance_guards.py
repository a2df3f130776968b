"""Guards of the permission model found by probing it: a team admin cannot take over another team's service
account, whoever manages members gives no role beyond their own rights, a superuser's narrowed token is not an
administrator's, a deleted team's id is never given to a new team, and NATS include_children reaches the
subtree for a direct member of a parent and its child as the API does."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from catalog.errors import PermissionDeniedError
from catalog.scoping import SYSTEM, team_filter
from catalog.services import audit, modules, roles, team_tree, teams, tokens

pytestmark = pytest.mark.usefixtures("cheap_hashing")
PASSWORD = "guard-pass-1234"


def _user(session: Session, name: str, team_id: int | None, role: str = "member", **kw: bool) -> int:
    user = teams.create_user(session, actor=SYSTEM, username=name, password=PASSWORD, **kw)
    if team_id is not None:
        teams.add_member(session, actor=SYSTEM, team_id=team_id, user_id=user.id, role=role)  # type: ignore[arg-type]
    session.commit()
    return user.id  # type: ignore[return-value]


def test_a_team_admin_cannot_take_over_another_teams_service_account(session: Session) -> None:
    a = team_tree.create_team(session, actor=SYSTEM, name="team-a")
    b = team_tree.create_team(session, actor=SYSTEM, name="team-b")
    bot = tokens.create_service_account(session, actor=SYSTEM, team_id=b.id, name="b-bot")  # type: ignore[arg-type]
    _user(session, "alice", a.id, "admin")
    alice = teams.actor_for(session, username="alice")
    with pytest.raises(PermissionDeniedError, match="stays in the team it was made for"):
        teams.add_member(session, actor=alice, team_id=a.id, username="b-bot", role="viewer")  # type: ignore[arg-type]
    # Joined to her team by an administrator, it is still not hers to manage: it holds team B's rights too.
    teams.add_member(session, actor=SYSTEM, team_id=a.id, user_id=bot.id, role="viewer")  # type: ignore[arg-type]
    session.commit()
    with pytest.raises(PermissionDeniedError, match="members:manage"):
        tokens.create_service_token(session, actor=alice, user_id=bot.id, name="stolen", days=1)  # type: ignore[arg-type]
    tokens.create_service_token(session, actor=SYSTEM, user_id=bot.id, name="ok", days=1)  # type: ignore[arg-type]


def test_managing_members_gives_no_role_beyond_ones_own_rights(session: Session) -> None:
    team = team_tree.create_team(session, actor=SYSTEM, name="t")
    child = team_tree.create_team(session, actor=SYSTEM, name="t-child", parent_id=team.id)
    roles.create_role(
        session,
        actor=SYSTEM,
        name="onboarder",
        permissions=["members:manage", "datasets:read", "jobs:read", "servings:read", "models:read"],
    )
    hr_id = _user(session, "hr", team.id, "onboarder")
    kim_id = _user(session, "kim", team.id, "admin")
    newbie = _user(session, "newbie", None)
    hr = teams.actor_for(session, username="hr")
    for user_id, role in ((hr_id, "admin"), (newbie, "member"), (newbie, "maintainer")):
        with pytest.raises(PermissionDeniedError, match="beyond your own rights"):
            teams.add_member(session, actor=hr, team_id=team.id, user_id=user_id, role=role)  # type: ignore[arg-type]
    with pytest.raises(PermissionDeniedError, match="beyond your own rights"):
        teams.remove_member(session, actor=hr, team_id=team.id, user_id=kim_id)  # type: ignore[arg-type]
    teams.add_member(session, actor=hr, team_id=team.id, user_id=newbie, role="viewer")  # type: ignore[arg-type]
    session.commit()
    assert not teams.actor_for(session, username="hr").can_see_team(child.id)
    # A team admin (whose role reaches sub-teams) may give every built-in role there.
    kim = teams.actor_for(session, username="kim")
    teams.add_member(session, actor=kim, team_id=team.id, user_id=newbie, role="admin")  # type: ignore[arg-type]


def test_a_superusers_narrowed_token_is_not_an_administrators(session: Session) -> None:
    team = team_tree.create_team(session, actor=SYSTEM, name="t")
    _user(session, "root", None, is_superuser=True)
    _user(session, "bob", team.id)
    row, _ = tokens.create_token(session, actor=teams.actor_for(session, username="bob"), name="bobs", days=1)
    session.commit()
    narrowed = teams.actor_for(session, username="root", permissions=["datasets:read"])
    with pytest.raises(Exception) as refused:
        tokens.revoke_token(session, actor=narrowed, token_id=row.id)  # type: ignore[arg-type]
    assert type(refused.value).__name__ == "NotFoundError"  # another user's token reads as missing
    assert tokens.revoke_token(
        session,
        actor=teams.actor_for(session, username="root"),
        token_id=row.id,  # type: ignore[arg-type]
    ).revoked_at


def test_a_deleted_teams_id_and_audit_go_to_no_new_team(session: Session) -> None:
    old = team_tree.create_team(session, actor=SYSTEM, name="old-secret")
    leaver = _user(session, "leaver", old.id)
    teams.remove_member(session, actor=SYSTEM, team_id=old.id, user_id=leaver)  # type: ignore[arg-type]
    team_tree.delete_team(session, actor=SYSTEM, team_id=old.id)  # type: ignore[arg-type]
    session.commit()
    new = team_tree.create_team(session, actor=SYSTEM, name="newcomers")
    _user(session, "eve", new.id)
    assert new.id != old.id
    _, events = audit.list_events(session, actor=teams.actor_for(session, username="eve"))
    assert events and all(e.team_id == new.id for e in events)


def test_nats_include_children_reaches_the_subtree_like_the_api(session: Session) -> None:
    parent = team_tree.create_team(session, actor=SYSTEM, name="p")
    child = team_tree.create_team(session, actor=SYSTEM, name="c", parent_id=parent.id)
    uid = _user(session, "m", parent.id)
    teams.add_member(session, actor=SYSTEM, team_id=child.id, user_id=uid, role="member")  # type: ignore[arg-type]
    session.commit()
    api_actor = teams.actor_for(session, username="m")
    nats_actor = modules.actor_from_context(session, actor_context={"username": "m"})
    wanted = sorted([parent.id, child.id])  # type: ignore[type-var]
    assert sorted(team_filter(api_actor, parent.id, True) or []) == wanted  # type: ignore[arg-type]
    assert sorted(team_filter(nats_actor, parent.id, True) or []) == wanted  # type: ignore[arg-type]
