"""Every dashboard page renders against a seeded catalog without an exception (Streamlit AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.flows.test_walking_skeleton import make_series


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
        dataset = ds.create_dataset(session, actor=admin, team_id=min(admin.team_ids),
                                    scenario="anomaly_detection", name="cpu")
    upload_entry(actor=admin, dataset_id=dataset.id, path=make_series(tmp_path / "a.csv", n=30, seed=1, anomalies=[]))
    return dataset.id  # type: ignore[return-value]


def _page(module: str) -> AppTest:
    script = f"""
from dashboard.views import {module}
{module}.render()
"""
    return AppTest.from_string(script, default_timeout=60)


@pytest.mark.platform_servers("s3")
@pytest.mark.parametrize("module", ["overview", "datasets", "training", "serving", "sandbox"])
def test_page_renders(seeded: int, module: str) -> None:
    at = _page(module)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title and at.title[0].value


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
