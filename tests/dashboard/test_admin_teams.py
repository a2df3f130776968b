"""Admin › Teams and users, the team tree (Streamlit AppTest): a sub-team created under a parent picked in the
form; moving a team under its own sub-team and deleting a team that still has sub-teams or resources refused
with the reason shown, nothing changed; a move to the top level done; the member role picker offering the
custom roles beside the built-in ones."""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.seed import Catalog, add_row, errors, no_exception, page

pytestmark = pytest.mark.platform_servers("s3")


def submit(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    return no_exception(at.run())


def team(name: str) -> Any:
    from sqlmodel import select

    from catalog.db import session_scope
    from catalog.models import Team

    with session_scope() as session:
        return session.exec(select(Team).where(Team.name == name)).first()


def showing(at: AppTest, name: str) -> AppTest:
    """The page with the team list searched down to ``name`` (the team picked below it)."""
    at.text_input(key="adm_teams_search").input(name)
    return no_exception(at.run())


def test_sub_teams_moves_and_refused_deletes(catalog: Catalog) -> None:
    from catalog.db import session_scope
    from catalog.models import Dataset
    from catalog.scoping import SYSTEM
    from catalog.services import roles

    with session_scope() as session:
        roles.create_role(session, actor=SYSTEM, name="steward", permissions=["datasets:*"])
    at = no_exception(page("admin_teams", None).run())
    for name, parent in (("parent", "(top level)"), ("child", None)):
        next(t for t in at.text_input if t.label == "Team name").input(name)
        if parent is None:
            parent = f"parent (#{team('parent').id})"
        at.selectbox(key="team_parent").set_value(parent)
        at = no_exception(submit(at, "Create team").run())  # the parent picker was drawn before the create
    assert team("child").parent_id == team("parent").id
    add_row(Dataset, team_id=team("child").id, scenario="anomaly_detection", name="kept")

    at = showing(at, "parent")
    assert "steward" in at.selectbox(key="add_member_role").options
    assert {"viewer", "member", "maintainer", "admin"} <= set(at.selectbox(key="add_member_role").options)
    at.selectbox(key="move_team_parent").set_value(f"child (#{team('child').id})")
    at = submit(at, "Move team")
    assert any("a team cannot move under one of its own sub-teams" in e for e in errors(at))
    at.checkbox(key="delete_team_confirm").check()
    at = submit(at, "Delete team")
    assert any("team 'parent' still has 1 sub-team(s)" in e for e in errors(at))

    at = showing(at, "child")
    at.checkbox(key="delete_team_confirm").check()
    at = submit(at, "Delete team")
    assert any("team 'child' still has 1 dataset(s)" in e and "nothing was deleted" in e for e in errors(at))
    assert team("child") is not None and team("child").parent_id == team("parent").id
    at.selectbox(key="move_team_parent").set_value("(top level)")
    at = submit(at, "Move team")
    assert team("child").parent_id is None
    assert any("moved under (top level)" in s.value for s in at.success)
