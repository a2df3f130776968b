"""API tokens page (Streamlit AppTest): a user creates a personal access token, shown once, that then acts as
them; lists only their own tokens; revokes one, which stops working at once; a refused name stores nothing."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.seed import Catalog, errors, no_exception, page, tables

pytestmark = pytest.mark.platform_servers("s3")


def submit(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    return no_exception(at.run())


def token_user(token: str) -> str | None:
    """Who the token acts as, or None when the platform refuses it."""
    from catalog.db import session_scope
    from catalog.errors import PermissionDeniedError
    from catalog.services import tokens

    try:
        with session_scope() as session:
            return tokens.authenticate(session, token=token).user.username
    except PermissionDeniedError:
        return None


def test_create_shown_once_then_revoke(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import teams, tokens

    with session_scope() as session:
        teams.create_user(session, actor=SYSTEM, username="carol", password="carol-pass-1")
        carol = teams.actor_for(session, username="carol")
        tokens.create_token(session, actor=catalog.admin, name="admins-own", days=1)
    monkeypatch.setenv("MLOPS_USER", "carol")  # the page rendered on its own acts as MLOPS_USER

    at = no_exception(page("tokens", None).run())
    assert at.title[0].value == "API tokens" and not at.code
    assert "admins-own" not in tables(at)

    at.text_input(key="token_name").input("ci-nightly")
    at.number_input(key="token_days").set_value(7)
    at = submit(at, "Create token")
    assert len(at.code) == 1
    plain = at.code[0].value
    assert plain.startswith("mlops_p_") and token_user(plain) == "carol"
    listed = tables(at)
    assert "ci-nightly" in listed and "active" in listed and plain not in listed
    with session_scope() as session:
        (row,) = tokens.list_tokens(session, actor=carol)
    assert 6.9 < tokens.expires_in_days(row.expires_at) <= 7

    at = no_exception(at.run())  # any rerun: the token is not shown again
    assert not at.code and plain not in tables(at)

    at.selectbox(key="revoke_token_id").set_value(row.id)
    at = submit(at, "Revoke token")
    assert token_user(plain) is None
    assert ",revoked," in tables(at) and any("revoked" in s.value for s in at.success)
    at = no_exception(at.run())  # no live token left to revoke
    assert not [b for b in at.button if b.label == "Revoke token"]

    at.text_input(key="token_name").input("  ")
    at = submit(at, "Create token")
    assert any("token name" in e for e in errors(at)) and not at.code
    with session_scope() as session:
        assert [t.name for t in tokens.list_tokens(session, actor=carol)] == ["ci-nightly"]


def test_a_token_narrowed_to_some_permissions(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import teams, tokens

    with session_scope() as session:
        user = teams.create_user(session, actor=SYSTEM, username="vic", password="vic-pass-123")
        teams.add_member(session, actor=SYSTEM, team_id=catalog.team_id, user_id=user.id, role="viewer")  # type: ignore[arg-type]
    monkeypatch.setenv("MLOPS_USER", "vic")
    at = no_exception(page("tokens", None).run())
    offered = at.multiselect(key="token_permissions").options
    assert "datasets:read" in offered and "datasets:write" not in offered, "only what a viewer holds"
    at.text_input(key="token_name").input("reader")
    at.multiselect(key="token_permissions").select("datasets:read")
    at = submit(at, "Create token")
    with session_scope() as session:
        (row,) = tokens.list_tokens(session, actor=teams.actor_for(session, username="vic"))
        assert row.permissions == ["datasets:read"]
        assert tokens.authenticate(session, token=at.code[0].value).permissions == frozenset(
            {"datasets:read"}
        )
    assert "datasets:read" in tables(at)
