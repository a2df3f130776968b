"""Dashboard sign-in (Streamlit AppTest): wrong password, lockout, the team switcher changing what the datasets
list shows, administration pages only for administrators (the audit log for members too, of their teams),
and the admin and audit pages at work."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from streamlit.testing.v1 import AppTest

from catalog.services import team_tree
from catalog.services import teams as teams_service

PASSWORD = "dash-login-pass"
ADMIN_PASSWORD = "dash-admin-pass"
pytestmark = pytest.mark.platform_servers("s3")


@dataclass
class World:
    team_a: int
    team_b: int


@pytest.fixture
def world(platform_env, cheap_hashing: None) -> World:  # type: ignore[no-untyped-def]
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import datasets as ds
    from catalog.services.init import initialize

    initialize(admin_password=ADMIN_PASSWORD, echo=lambda *a, **k: None)
    with session_scope() as session:
        a = team_tree.create_team(session, actor=SYSTEM, name="alpha")
        b = team_tree.create_team(session, actor=SYSTEM, name="beta")
        carol = teams_service.create_user(session, actor=SYSTEM, username="carol", password=PASSWORD)
        dave = teams_service.create_user(session, actor=SYSTEM, username="dave", password=PASSWORD)
        for user, team in ((carol, a), (carol, b), (dave, a)):
            teams_service.add_member(session, actor=SYSTEM, team_id=team.id, user_id=user.id)  # type: ignore[arg-type]
        ds.create_dataset(
            session, actor=SYSTEM, team_id=a.id, scenario="anomaly_detection", name="alpha-data"
        )  # type: ignore[arg-type]
        ds.create_dataset(session, actor=SYSTEM, team_id=b.id, scenario="anomaly_detection", name="beta-data")  # type: ignore[arg-type]
        ids = World(team_a=a.id, team_b=b.id)  # type: ignore[arg-type]
    return ids


def app() -> AppTest:
    return AppTest.from_file("../../dashboard/app.py", default_timeout=60)


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button[0].click()
    return at.run()


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_signed_out_sees_only_the_sign_in_page(world: World) -> None:
    at = app().run()
    assert not at.exception
    assert at.title[0].value == "Sign in to mlops-lite"
    assert not at.dataframe  # nothing of the catalog leaks before signing in


def test_wrong_password_is_refused(world: World) -> None:
    at = sign_in(app().run(), "carol", "not-the-password")
    assert errors(at) == [teams_service.LOGIN_FAILED]
    assert at.title[0].value == "Sign in to mlops-lite"
    # An unknown user reads exactly the same.
    assert errors(sign_in(at, "nobody", "whatever-pass")) == [teams_service.LOGIN_FAILED]


def test_lockout_after_five_failures(world: World) -> None:
    at = app().run()
    for _ in range(teams_service.MAX_FAILED_LOGINS):
        at = sign_in(at, "carol", "wrong-password")
        assert errors(at) == [teams_service.LOGIN_FAILED]
    at = sign_in(at, "carol", PASSWORD)  # even the right password is refused while locked
    assert len(errors(at)) == 1 and "locked" in errors(at)[0]
    assert at.title[0].value == "Sign in to mlops-lite"


def test_sign_in_then_out(world: World) -> None:
    at = sign_in(app().run(), "carol", PASSWORD)
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "mlops-lite"  # the overview
    assert any("carol" in c.value for c in at.sidebar.caption)
    at.sidebar.button(key="sign_out").click()
    at.run()
    assert at.title[0].value == "Sign in to mlops-lite"


SWITCHER_SCRIPT = """
import streamlit as st
from dashboard import auth
from dashboard.views import datasets, login
from dashboard.views.common import team_switcher

st.session_state[auth.GATE_KEY] = True
if auth.session_actor() is None:
    login.render()
else:
    team_switcher()
    datasets.render()
"""


def listed(at: AppTest) -> str:
    return " ".join(df.value.to_csv() for df in at.dataframe)


def test_team_switch_changes_the_datasets_list(world: World) -> None:
    at = sign_in(AppTest.from_string(SWITCHER_SCRIPT, default_timeout=60).run(), "carol", PASSWORD)
    assert not at.exception, [e.message for e in at.exception]
    assert "alpha-data" in listed(at) and "beta-data" not in listed(at)
    at.sidebar.selectbox(key="team_switcher").select(world.team_b)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert "beta-data" in listed(at) and "alpha-data" not in listed(at)


def test_superuser_sees_every_team(world: World) -> None:
    at = sign_in(AppTest.from_string(SWITCHER_SCRIPT, default_timeout=60).run(), "admin", ADMIN_PASSWORD)
    assert "alpha-data" in listed(at) and "beta-data" in listed(at)


def test_admin_pages_only_for_administrators_the_audit_log_for_members_too(world: World) -> None:
    from catalog.db import session_scope
    from dashboard.navigation import page_specs

    with session_scope() as session:
        dave = teams_service.actor_for(session, username="dave")
        admin = teams_service.actor_for(session, username="admin")
    user_titles = {title for _, title, _ in page_specs(dave)}
    admin_titles = {title for _, title, _ in page_specs(admin)}
    assert "Teams and users" not in user_titles and "Audit log" in user_titles  # dave: a member (audit:read)
    assert {"Teams and users", "Audit log"} <= admin_titles


PAGE_SCRIPT = """
import streamlit as st
from dashboard import auth
from dashboard.views import {module}, login

st.session_state[auth.GATE_KEY] = True
if auth.session_actor() is None:
    login.render()
else:
    {module}.render()
"""


def test_admin_pages_refuse_a_non_administrator(world: World) -> None:
    at = sign_in(
        AppTest.from_string(PAGE_SCRIPT.format(module="admin_teams"), default_timeout=60).run(),
        "dave",
        PASSWORD,
    )
    assert any("Only administrators" in e for e in errors(at))
    assert not at.dataframe


def test_a_member_reads_the_audit_log_of_their_team_only(world: World) -> None:
    at = sign_in(
        AppTest.from_string(PAGE_SCRIPT.format(module="audit"), default_timeout=60).run(), "dave", PASSWORD
    )
    assert not at.exception, [e.message for e in at.exception]
    events = listed(at)
    assert "alpha-data" in events and "beta-data" not in events
    assert at.selectbox(key="audit_team").options == ["all", "alpha"]


def test_admin_creates_a_user_and_the_audit_log_shows_it(world: World) -> None:
    at = sign_in(
        AppTest.from_string(PAGE_SCRIPT.format(module="admin_teams"), default_timeout=60).run(),
        "admin",
        ADMIN_PASSWORD,
    )
    assert not at.exception, [e.message for e in at.exception]
    at.text_input(key="new_username").input("erin")
    at.text_input(key="new_password").input("erin-password-1")
    teams = at.multiselect(key="new_user_teams")
    teams.select(next(team for team in teams.options if team == "beta"))
    next(b for b in at.button if b.label == "Create user").click()
    at.run()
    assert not errors(at), errors(at)
    assert any("erin" in s.value for s in at.success)

    audit = sign_in(
        AppTest.from_string(PAGE_SCRIPT.format(module="audit"), default_timeout=60).run(),
        "admin",
        ADMIN_PASSWORD,
    )
    audit.text_input(key="audit_action").input("user.create")
    audit.run()
    shown = listed(audit)
    assert "erin" in shown and "dataset.create" not in shown
    audit.text_input(key="audit_action").input("team.add_member")
    audit.selectbox(key="audit_team").select(world.team_b)
    audit.run()
    assert "erin" in listed(audit)
