"""The team tree (catalog.services.team_tree): who may create, move and delete teams where, cycles refused,
a team with sub-teams or resources not deleted; and ``include_children`` on the lists (catalog.scoping's
``team_filter``): a team's subtree, never its siblings or ancestors, a team one cannot see read as missing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlmodel import Session, select

from catalog.errors import ConflictError, NotFoundError, PermissionDeniedError
from catalog.models import AuditEvent, Dataset, Membership, Team
from catalog.scoping import SYSTEM, Actor
from catalog.services import audit, datasets, team_tree, teams

pytestmark = pytest.mark.usefixtures("cheap_hashing")
PASSWORD = "tree-pass-123"


@dataclass
class Org:
    """org ─┬─ eng ── ml
            └─ ops
    padmin: admin of org; carol: maintainer of eng; dave: member of ml; olga: member of ops."""

    org: int
    eng: int
    ml: int
    ops: int


def _org(session: Session) -> Org:
    org = team_tree.create_team(session, actor=SYSTEM, name="org")
    eng = team_tree.create_team(session, actor=SYSTEM, name="eng", parent_id=org.id)
    ml = team_tree.create_team(session, actor=SYSTEM, name="ml", parent_id=eng.id)
    ops = team_tree.create_team(session, actor=SYSTEM, name="ops", parent_id=org.id)
    for username, team, role in (
        ("padmin", org, "admin"),
        ("carol", eng, "maintainer"),
        ("dave", ml, "member"),
        ("olga", ops, "member"),
    ):
        user = teams.create_user(session, actor=SYSTEM, username=username, password=PASSWORD)
        teams.add_member(session, actor=SYSTEM, team_id=team.id, user_id=user.id, role=role)  # type: ignore[arg-type]
    for team in (org, eng, ml, ops):
        session.add(Dataset(team_id=team.id, scenario="anomaly_detection", name=f"{team.name}-data"))
    session.commit()
    return Org(org.id, eng.id, ml.id, ops.id)  # type: ignore[arg-type]


def who(session: Session, username: str) -> Actor:
    return teams.actor_for(session, username=username)


def parent_of(session: Session, team_id: int) -> int | None:
    session.expire_all()
    team = session.get(Team, team_id)
    assert team is not None
    return team.parent_id


def test_who_may_change_the_tree_and_how(session: Session) -> None:
    t = _org(session)
    padmin, carol, dave = who(session, "padmin"), who(session, "carol"), who(session, "dave")

    # Creating: a team admin under their team (and below it), never at the top level; a maintainer nowhere.
    sub = team_tree.create_team(session, actor=padmin, name="ml-sub", parent_id=t.ml)
    assert sub.parent_id == t.ml
    with pytest.raises(
        PermissionDeniedError, match=r"only an administrator may do this \(permission 'admin:\*'\)"
    ):
        team_tree.create_team(session, actor=padmin, name="elsewhere")
    with pytest.raises(PermissionDeniedError, match="your role in team 'eng' does not grant 'teams:manage'"):
        team_tree.create_team(session, actor=carol, name="carols", parent_id=t.eng)
    # A team one cannot see (an ancestor, a sibling) reads like one that does not exist.
    for parent in (t.eng, t.ops, 987654):
        with pytest.raises(NotFoundError, match=f"team {parent} not found"):
            team_tree.create_team(session, actor=dave, name="daves", parent_id=parent)

    # Moving: teams:manage on both ends; never under itself or below itself.
    padmin = who(session, "padmin")
    moved = team_tree.move_team(session, actor=padmin, team_id=sub.id, parent_id=t.ops)  # type: ignore[arg-type]
    assert moved.parent_id == t.ops
    for target, problem in ((t.ml, "one of its own sub-teams"), (t.eng, "its own parent")):
        with pytest.raises(
            ConflictError, match=f"cannot move team 'eng': a team cannot (move under|be) {problem}"
        ):
            team_tree.move_team(session, actor=SYSTEM, team_id=t.eng, parent_id=target)
    with pytest.raises(PermissionDeniedError, match="admin:"):
        team_tree.move_team(session, actor=padmin, team_id=t.org, parent_id=None)
    with pytest.raises(PermissionDeniedError, match="admin:"):
        team_tree.move_team(session, actor=padmin, team_id=t.eng, parent_id=None)
    assert (parent_of(session, t.eng), parent_of(session, t.org)) == (t.org, None), "refusals moved nothing"
    # An administrator moves a whole subtree: ml (under eng) goes with it.
    team_tree.move_team(session, actor=SYSTEM, team_id=t.eng, parent_id=t.ops)
    assert parent_of(session, t.eng) == t.ops and parent_of(session, t.ml) == t.eng
    assert who(session, "olga").can_see_team(t.eng) is False, "a member's role does not include children"

    # Deleting: refused while sub-teams or resources remain, naming them, deleting nothing.
    padmin = who(session, "padmin")
    with pytest.raises(
        ConflictError, match=r"team 'ops' still has 2 sub-team\(s\), 1 dataset\(s\)"
    ) as refused:
        team_tree.delete_team(session, actor=padmin, team_id=t.ops)
    assert "nothing was deleted" in str(refused.value)
    with pytest.raises(ConflictError, match=r"team 'ml' still has 1 dataset\(s\)"):
        team_tree.delete_team(session, actor=padmin, team_id=t.ml)
    assert session.get(Team, t.ops) is not None and len(session.exec(select(Dataset)).all()) == 4
    with pytest.raises(PermissionDeniedError, match="admin:"):
        team_tree.delete_team(session, actor=padmin, team_id=t.org)
    empty = team_tree.create_team(session, actor=padmin, name="empty", parent_id=t.ml)
    teams.add_member(session, actor=SYSTEM, team_id=empty.id, user_id=carol.user_id, role="viewer")  # type: ignore[arg-type]
    team_tree.delete_team(session, actor=who(session, "padmin"), team_id=empty.id)  # type: ignore[arg-type]
    assert session.get(Team, empty.id) is None
    assert session.exec(select(Membership).where(Membership.team_id == empty.id)).all() == []

    actions = session.exec(select(AuditEvent.action, AuditEvent.outcome)).all()
    assert {("team.create", "ok"), ("team.move", "ok"), ("team.delete", "ok")} <= set(actions)


def test_lists_take_a_team_and_its_subtree(session: Session) -> None:
    t = _org(session)

    def names(actor: Actor, **kw: object) -> list[str]:
        _, rows = datasets.list_datasets(session, actor=actor, **kw)  # type: ignore[arg-type]
        return sorted(r.name for r in rows)

    carol, dave = who(session, "carol"), who(session, "dave")
    # A maintainer of eng sees eng and ml (its child), never org (its parent) or ops (a sibling).
    assert names(carol) == ["eng-data", "ml-data"]
    assert names(carol, team_id=t.eng) == ["eng-data"]
    assert names(carol, team_id=t.eng, include_children=True) == ["eng-data", "ml-data"]
    assert names(carol, team_id=t.ml, include_children=True) == ["ml-data"]
    # A member of ml sees ml only; the parent and siblings read as teams that do not exist.
    assert names(dave) == ["ml-data"]
    for team in (t.eng, t.org, t.ops, 987654):
        with pytest.raises(NotFoundError, match=f"team {team} not found"):
            names(dave, team_id=team, include_children=True)
    # An administrator's subtree of org is the whole tree; of ops, ops alone.
    teams.create_user(session, actor=SYSTEM, username="root", password=PASSWORD, is_superuser=True)
    session.commit()
    root_actor = who(session, "root")
    assert names(root_actor, team_id=t.org, include_children=True) == [
        "eng-data",
        "ml-data",
        "ops-data",
        "org-data",
    ]
    assert names(root_actor, team_id=t.ops, include_children=True) == ["ops-data"]
    # The same filter on the teams and the audit log.
    _, listed = teams.page_teams(session, actor=carol, team_id=t.eng, include_children=True)
    assert sorted(x.name for x in listed) == ["eng", "ml"]
    total, events = audit.list_events(session, actor=carol, team_id=t.eng, include_children=True)
    assert {e.team_id for e in events} == {t.eng, t.ml} and total == len(events)
