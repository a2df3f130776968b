"""The serving page (Streamlit AppTest, real S3 and process runtime): the serving just created is the one
picked (its detail and lifecycle buttons are for it), and the pick stays on a serving while its observed state
changes (its label, which the browser sends back as the pick, does not change). The serving-start flow is
stubbed; the observed states come from the runtime."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.dashboard.seed import (
    Catalog,
    add_row,
    captions,
    errors,
    job,
    no_exception,
    page,
    published_release,
    tables,
)

pytestmark = pytest.mark.platform_servers("s3")


def test_the_list_names_each_servings_training_job_the_reader_may_see(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog.db import session_scope
    from catalog.models import Serving
    from catalog.scoping import SYSTEM
    from catalog.services import team_tree, teams

    with session_scope() as session:
        member = teams.create_user(session, actor=SYSTEM, username="mona", password="mona-pass-123")
        teams.add_member(session, actor=SYSTEM, team_id=catalog.team_id, user_id=member.id)  # type: ignore[arg-type]
        other = team_tree.create_team(session, actor=SYSTEM, name="other")
    trained = job(catalog.team_id, published_release(catalog.team_id).id, "trained-ecod", "completed")
    theirs = job(other.id, published_release(other.id, name="theirs").id, "their-secret", "completed")  # type: ignore[arg-type]
    mine = add_row(
        Serving,
        team_id=catalog.team_id,
        scenario="anomaly_detection",
        name="mine",
        train_job_id=trained.id,
        model_id=trained.model_id,
    )
    # A serving of this team pointing at another team's job and model (no service would write it): the other
    # team's job and model read like missing ones, by their ids.
    add_row(
        Serving,
        team_id=catalog.team_id,
        scenario="anomaly_detection",
        name="odd",
        train_job_id=theirs.id,
        model_id=theirs.model_id,
    )
    monkeypatch.setenv("MLOPS_USER", "mona")
    at = no_exception(page("serving").run())
    assert "2 serving(s)" in captions(at)
    listed = tables(at)
    header = listed.splitlines()[0]
    assert "training job" in header and "model" in header and "trained-ecod" in listed
    assert f"#{theirs.id}" in listed and f"#{theirs.model_id}" in listed and "their-secret" not in listed
    at.selectbox(key="sv_pick").set_value(mine.id).run()
    assert "Serves model trained-ecod, version latest, from training job trained-ecod" in captions(
        no_exception(at)
    )


def test_the_serving_just_created_is_picked_and_stays_picked_while_its_state_changes(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog.db import session_scope
    from catalog.models import Serving
    from dashboard.views import serving as serving_page
    from infra.runtime.base import ContainerKind, ContainerSpec
    from infra.runtime.registry import get_runtime

    launched: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(serving_page, "run_flow", lambda name, params, wait: launched.append((name, params)))
    trained = job(catalog.team_id, published_release(catalog.team_id).id, "trained", "completed")
    older = add_row(
        Serving,
        team_id=catalog.team_id,
        scenario="anomaly_detection",
        name="older",
        train_job_id=trained.id,
        model_id=trained.model_id,
        container_name="serve-older-pick",
    )
    at = no_exception(page("serving").run())
    assert at.selectbox(key="sv_pick").value == older.id
    at.text_input(key="sv_name").input("newer").run()
    next(b for b in at.button if b.label == "Create and start").click().run()
    no_exception(at)
    assert not errors(at), errors(at)
    with session_scope() as session:
        newer = session.query(Serving).filter_by(name="newer").one()
    assert launched == [("serving-start", {"serving_id": newer.id})]
    assert at.selectbox(key="sv_pick").value == newer.id, "the detail below would be another serving's"
    assert at.subheader[0].value == f"newer (#{newer.id})"

    at.selectbox(key="sv_pick").set_value(older.id).run()
    assert next(m.value for m in at.metric if m.label == "Observed") == "not_found"
    # The browser sends the pick back as its label: the labels must not change with the observed state.
    labels = at.selectbox(key="sv_pick").options
    assert labels == [f"newer (#{newer.id})", f"older (#{older.id})"]
    runtime = get_runtime()
    runtime.start(
        ContainerSpec(
            name="serve-older-pick",
            kind=ContainerKind.SERVE,
            port=9,
            command=[sys.executable, "-c", "import time; time.sleep(120)"],
        )
    )
    try:
        no_exception(at.run())  # the page observes the runtime: the older serving now runs
        assert next(m.value for m in at.metric if m.label == "Observed") == "running"
        assert at.selectbox(key="sv_pick").value == older.id, "the pick jumped away when the state changed"
        assert at.selectbox(key="sv_pick").options == labels, "the labels changed with the state"
    finally:
        runtime.remove("serve-older-pick", force=True)
