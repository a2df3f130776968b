"""Every dashboard page renders against a seeded catalog without an exception (Streamlit AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from catalog.permissions import BUILTIN_ROLES
from tests.flows.test_walking_skeleton import make_series

MEMBER_PERMISSIONS = BUILTIN_ROLES["member"].permissions


@pytest.fixture
def seeded(platform_env, tmp_path: Path) -> int:  # type: ignore[no-untyped-def]
    from catalog.db import session_scope
    from catalog.services import datasets as ds
    from catalog.services.init import initialize
    from catalog.services.teams import actor_for
    from catalog.uploads import upload_entry

    initialize(admin_password="dash-pass-123", echo=lambda *a, **k: None)
    with session_scope() as session:
        admin = actor_for(session, username="admin")
        dataset = ds.create_dataset(
            session, actor=admin, team_id=min(admin.team_ids), scenario="anomaly_detection", name="cpu"
        )
    upload_entry(
        actor=admin, dataset_id=dataset.id, path=make_series(tmp_path / "a.csv", n=30, seed=1, anomalies=[])
    )
    return dataset.id  # type: ignore[return-value]


def _page(module: str) -> AppTest:
    script = f"""
from dashboard.views import {module}
{module}.render()
"""
    return AppTest.from_string(script, default_timeout=60)


@pytest.mark.platform_servers("s3")
@pytest.mark.parametrize(
    "module",
    [
        "overview",
        "datasets",
        "training",
        "models",
        "serving",
        "sandbox",
        "tokens",
        "admin_algorithms",
        "admin_teams",
        "audit",
    ],
)
def test_page_renders(seeded: int, module: str) -> None:
    at = _page(module)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title and at.title[0].value


def test_navigation_has_a_section_per_scenario_account_and_admin_for_administrators() -> None:
    from catalog.scenarios import Scenario
    from catalog.scoping import Actor
    from dashboard.navigation import page_sections, page_specs

    admin = page_sections(Actor(user_id=1, username="a", is_superuser=True))
    member = page_sections(Actor(user_id=2, username="m", grants={1: MEMBER_PERMISSIONS}))
    assert list(admin) == ["", *[s.display_name for s in Scenario], "Account", "Admin"]
    # A member reads their team's audit log in the Team section (an administrator's is in Admin).
    assert list(member) == [*list(admin)[:-1], "Team"]
    assert [title for _, title, _ in member["Team"]] == ["Audit log"]
    for scenario in Scenario:
        assert [title for _, title, _ in admin[scenario.display_name]] == [
            "Datasets",
            "Training",
            "Models",
            "Serving",
            "Sandbox",
        ]
    assert [path for _, _, path in admin["Anomaly detection"]] == [
        "anomaly-detection-datasets",
        "anomaly-detection-training",
        "anomaly-detection-models",
        "anomaly-detection-serving",
        "anomaly-detection-sandbox",
    ]
    assert [title for _, title, _ in member["Account"]] == ["API tokens"]
    assert [title for _, title, _ in admin["Admin"]] == [
        "Algorithms",
        "Teams and users",
        "Roles",
        "Audit log",
    ]
    paths = [path for _, _, path in page_specs(Actor(user_id=1, username="a", is_superuser=True))]
    assert len(paths) == len(set(paths)) == 1 + 6 * 5 + 1 + 4


@pytest.mark.platform_servers("s3")
def test_every_page_of_the_app_renders_for_an_administrator(seeded: int) -> None:
    """Through dashboard/app.py itself: sign in, then open each navigation entry. AppTest.switch_page only
    knows file pages, so the page is chosen the way a browser's URL chooses it: by the hash of its url_path
    (streamlit.util.calc_hash, as st.Page computes it)."""
    from streamlit.util import calc_hash

    from catalog.db import session_scope
    from catalog.services.teams import actor_for
    from dashboard.navigation import page_specs

    at = AppTest.from_file("../../dashboard/app.py", default_timeout=60).run()
    at.text_input(key="login_username").input("admin")
    at.text_input(key="login_password").input("dash-pass-123")
    at.button[0].click()
    at.run()
    with session_scope() as session:
        admin = actor_for(session, username="admin")
    for _, title, path in page_specs(admin):
        at._page_hash = calc_hash(path)
        at.run()
        assert not at.exception, (path, [e.message for e in at.exception])
        assert at.title and at.title[0].value == ("mlops-lite" if title == "Overview" else title), path


@pytest.mark.platform_servers("s3")
def test_datasets_page_lists_entries(seeded: int) -> None:
    at = _page("datasets")
    at.run()
    assert not at.exception
    frames = [df.value for df in at.dataframe]
    assert any("a.csv" in str(frame) for frame in frames), "the uploaded entry is listed"


@pytest.mark.platform_servers("s3")
def test_new_dataset_form_reports_a_bad_name(seeded: int) -> None:
    at = _page("datasets")
    at.run()
    name_inputs = [t for t in at.text_input if t.label == "Name"]
    name_inputs[0].input("../bad name!")
    submit = [b for b in at.button if b.label == "Create"]
    submit[0].click()
    at.run()
    assert any("invalid" in e.value for e in at.error), [e.value for e in at.error]
