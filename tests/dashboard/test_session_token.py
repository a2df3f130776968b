"""A login survives a browser reload: the app keeps a signed token in the URL (query parameter ``session``), and
a new Streamlit session (what a reload starts) presenting it is signed in without the password. Altered,
expired, signed-out and pre-password-change tokens are refused and removed from the URL."""

from __future__ import annotations

import base64
import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.seed import ADMIN_PASSWORD, Catalog, no_exception

pytestmark = pytest.mark.platform_servers("s3")
SIGN_IN = "Sign in to mlops-lite"


def app(token: str | None = None) -> AppTest:
    at = AppTest.from_file("../../dashboard/app.py", default_timeout=60)
    if token is not None:
        at.query_params["session"] = token
    return at


def signed_in(password: str = ADMIN_PASSWORD) -> AppTest:
    at = app().run()
    at.text_input(key="login_username").input("admin")
    at.text_input(key="login_password").input(password)
    at.button[0].click()
    return no_exception(at.run())


def title(at: AppTest) -> str:
    return at.title[0].value


def token_of(at: AppTest) -> str:
    token = at.query_params.get("session")
    assert token, f"no session token in the URL: {at.query_params}"
    return token[0] if isinstance(token, list) else token


def test_a_reload_resumes_the_login(catalog: Catalog) -> None:
    first = signed_in()
    assert title(first) == "mlops-lite"
    token = token_of(first)
    reloaded = no_exception(app(token).run())  # a new session: empty state, only the URL
    assert title(reloaded) == "mlops-lite"
    assert any("admin" in c.value for c in reloaded.sidebar.caption)
    assert token_of(reloaded) == token


def test_an_altered_token_is_refused(catalog: Catalog) -> None:
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import teams

    with session_scope() as session:
        teams.create_user(session, actor=SYSTEM, username="mallory", password="mallory-pass-1")
    body, signature = token_of(signed_in()).split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert claims["u"] == "admin"
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "u": "mallory"}).encode()).rstrip(b"=").decode()
    for bad in (f"{forged}.{signature}", f"{body}.{signature[:-2]}AA", "garbage", f"{body}."):
        at = no_exception(app(bad).run())
        assert title(at) == SIGN_IN, bad
        assert "session" not in at.query_params, "a refused token is removed from the URL"


def test_an_expired_token_is_refused(catalog: Catalog) -> None:
    from dashboard import auth

    old = auth.Login(
        username="admin", team_id=catalog.team_id, signed_in_at=time.time() - 100, expires_at=time.time() - 1
    )
    assert title(no_exception(app(auth.issue_token(old)).run())) == SIGN_IN
    fresh = auth.Login(
        username="admin", team_id=catalog.team_id, signed_in_at=time.time(), expires_at=time.time() + 600
    )
    assert title(no_exception(app(auth.issue_token(fresh)).run())) == "mlops-lite"


def test_a_password_change_revokes_older_tokens(catalog: Catalog) -> None:
    from catalog.db import session_scope
    from catalog.services import teams

    token = token_of(signed_in())
    with session_scope() as session:
        teams.set_password(
            session,
            actor=catalog.admin,
            user_id=catalog.admin.user_id,  # type: ignore[arg-type]
            password="a-new-password-1",
        )
    assert title(no_exception(app(token).run())) == SIGN_IN


def test_signing_out_removes_and_revokes_the_token(catalog: Catalog) -> None:
    at = signed_in()
    token = token_of(at)
    at.sidebar.button(key="sign_out").click()
    no_exception(at.run())
    assert title(at) == SIGN_IN and "session" not in at.query_params
    assert title(no_exception(app(token).run())) == SIGN_IN, "a signed-out token does not sign in again"
