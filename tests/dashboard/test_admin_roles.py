"""Admin › Roles (Streamlit AppTest): the built-in roles listed with their permissions; a custom role created
(a clash with a built-in name refused, storing nothing); its deletion refused while a member holds it, done
once none does; the page refused to non-administrators."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.seed import Catalog, errors, no_exception, page, tables

pytestmark = pytest.mark.platform_servers("s3")


def submit(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    return no_exception(at.run())


def custom_roles() -> list[str]:
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import roles

    with session_scope() as session:
        return [r.name for r in roles.list_roles(session, actor=SYSTEM) if not r.builtin]


def test_roles_page(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import teams

    at = no_exception(page("admin_roles", None).run())
    listed = tables(at)
    assert "maintainer" in listed and "models:promote" in listed and "teams:manage" in listed
    for name, refusal in (("admin", "role 'admin' already exists"), ("steward", None)):
        at = no_exception(page("admin_roles", None).run())
        at.text_input(key="role_name").input(name)
        at.multiselect(key="role_permissions").select("datasets:read").select("audit:read")
        at.checkbox(key="role_children").check()
        at = submit(at, "Create role")
        assert errors(at) == ([refusal] if refusal else []), errors(at)
    assert custom_roles() == ["steward"] and "steward" in tables(at)

    with session_scope() as session:
        user = teams.create_user(session, actor=SYSTEM, username="kim", password="kim-pass-123")
        teams.add_member(session, actor=SYSTEM, team_id=catalog.team_id, user_id=user.id, role="steward")  # type: ignore[arg-type]
    at.selectbox(key="delete_role_name").set_value("steward")
    at = submit(at, "Delete role")
    assert any("held by 1 membership(s)" in e for e in errors(at)) and custom_roles() == ["steward"]
    with session_scope() as session:
        teams.remove_member(session, actor=SYSTEM, team_id=catalog.team_id, user_id=user.id)  # type: ignore[arg-type]
    at = submit(at, "Delete role")
    assert custom_roles() == [] and any("deleted" in s.value for s in at.success)

    monkeypatch.setenv("MLOPS_USER", "kim")
    at = no_exception(page("admin_roles", None).run())
    assert errors(at) == ["Only administrators may manage roles."] and not at.button
