"""Admin › Algorithms (Streamlit AppTest): the catalog listed and searched; disabling refused while a job of the
algorithm runs (the page names it) and allowed after; the form_config and search space edited as JSON and
checked by ``catalog.forms`` — broken JSON, a malformed field and a search space that does not fit the form
are refused with their reason and change nothing; a valid edit is saved and audited."""

from __future__ import annotations

import json
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.seed import (
    Catalog,
    captions,
    errors,
    job,
    no_exception,
    page,
    published_release,
)

pytestmark = pytest.mark.platform_servers("s3")


def ecod() -> Any:
    from catalog.db import session_scope
    from catalog.services import algorithms

    with session_scope() as session:
        return algorithms.get_algorithm(session, scenario="anomaly_detection", name="ECOD")


def ecod_page() -> AppTest:
    at = no_exception(page("admin_algorithms", None).run())
    at.text_input(key="alg_search").input("ecod").run()
    assert "1 algorithm(s)" in captions(at)
    return no_exception(at)


def button(at: AppTest, label: str) -> Any:
    return next(b for b in at.button if b.label == label)


def test_lists_and_filters_the_catalog(catalog: Catalog) -> None:
    at = no_exception(page("admin_algorithms", None).run())
    assert "10 algorithm(s)" in captions(at)
    at.selectbox(key="alg_scenario").set_value("text_classification").run()
    assert "3 algorithm(s)" in captions(at)
    assert "XGBoost" in at.dataframe[0].value.to_csv()


def test_running_jobs_name_their_team(catalog: Catalog) -> None:
    from catalog.db import session_scope
    from catalog.models import Team

    with session_scope() as session:
        team = session.get(Team, catalog.team_id)
        assert team is not None
        team_name = team.name
    job(catalog.team_id, published_release(catalog.team_id).id, "busy", "running")
    at = ecod_page()
    running = at.dataframe[-1].value.to_csv()
    assert "busy" in running and f",{team_name}," in running, running


def test_disable_is_refused_while_a_job_runs(catalog: Catalog) -> None:
    from catalog.db import session_scope
    from catalog.models import TrainJob

    release = published_release(catalog.team_id)
    busy = job(catalog.team_id, release.id, "busy", "running")
    at = ecod_page()
    assert any("cannot be disabled until they end" in w.value for w in at.warning)
    button(at, "Disable").click().run()
    assert any("training jobs using it are still running: 'busy'" in e for e in errors(at)), errors(at)
    assert ecod().enabled

    with session_scope() as session:
        row = session.get(TrainJob, busy.id)
        row.status = "completed"  # type: ignore[union-attr]
        session.add(row)
    at.run()
    button(at, "Disable").click().run()
    no_exception(at)
    assert not ecod().enabled
    assert button(at, "Enable"), "the page now offers to enable it again"
    button(at, "Enable").click().run()
    assert ecod().enabled


def edit(at: AppTest, form: str | None = None, space: str | None = None) -> None:
    algo_id = ecod().id
    if form is not None:
        at.text_area(key=f"alg_form_{algo_id}").input(form)
    if space is not None:
        at.text_area(key=f"alg_space_{algo_id}").input(space)


@pytest.mark.parametrize(
    ("form", "space", "reason"),
    [
        ('{"fields": [', None, "form_config is not valid JSON: Expecting value at line 1, column 13"),
        ('{"fields": [{"name": "k", "type": "int", "min": 5, "max": 1}]}', "{}", "k: min 5 is above max 1"),
        (
            '{"fields": [{"name": "k", "type": "int"}]}',
            '{"contamination": {"type": "uniform", "low": 0, "high": 1}}',
            "contamination: not a parameter of this algorithm",
        ),
        (
            None,
            '{"contamination": {"type": "uniform", "low": 0.2, "high": 0.9}}',
            "high 0.9 is above the parameter's maximum 0.5",
        ),
    ],
)
def test_a_bad_form_edit_is_refused_and_changes_nothing(
    catalog: Catalog, form: str | None, space: str | None, reason: str
) -> None:
    before = ecod()
    for label in ("Validate", "Save form"):
        at = ecod_page()
        edit(at, form, space)
        button(at, label).click().run()
        no_exception(at)
        assert any(reason in e for e in errors(at)), errors(at)
    after = ecod()
    assert (after.form_config, after.search_space) == (before.form_config, before.search_space)


def test_a_valid_form_edit_is_saved_and_audited(catalog: Catalog) -> None:
    from catalog.db import session_scope
    from catalog.services import audit

    form = ecod().form_config
    form["fields"][0]["default"] = 0.05
    form["fields"].append({"name": "note", "type": "str", "label": "Note", "help": "free text"})
    at = ecod_page()
    edit(at, json.dumps(form), '{"contamination": {"type": "uniform", "low": 0.01, "high": 0.2}}')
    button(at, "Validate").click().run()
    assert any("valid" in s.value for s in at.success)
    assert ecod().form_config["fields"][0]["default"] == 0.1, "validating does not save"
    button(at, "Save form").click().run()
    no_exception(at)
    saved = ecod()
    assert (
        saved.form_config["fields"][0]["default"] == 0.05
        and saved.form_config["fields"][-1]["name"] == "note"
    )
    assert saved.search_space == {"contamination": {"type": "uniform", "low": 0.01, "high": 0.2}}
    with session_scope() as session:
        total, events = audit.list_events(session, actor=catalog.admin, action="algorithm.update_form")
    assert total == 1 and events[0].detail["name"] == "ECOD"
    # The training form follows the edit at once.
    published_release(catalog.team_id)
    training = no_exception(page("training").run())
    assert next(n for n in training.number_input if n.label == "Contamination").value == 0.05
    assert any(t.label == "Note" for t in training.text_input)
