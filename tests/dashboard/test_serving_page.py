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


def test_the_traffic_panel_sets_a_canary_and_shows_roll_outs_with_their_decisions(catalog: Catalog) -> None:
    from catalog.db import session_scope
    from catalog.models import RolloutDecision, Serving
    from tests.catalog.isolation_world import add_rollout
    from tests.dashboard.seed import versions

    trained = job(catalog.team_id, published_release(catalog.team_id).id, "gray-ecod", "completed")
    versions(trained, [{"f1": 0.5}, {"f1": 0.6}])
    serving = add_row(
        Serving,
        team_id=catalog.team_id,
        scenario="anomaly_detection",
        name="gray",
        model_id=trained.model_id,
        model_version="1",
        resolved_version="1",
        desired_state="stopped",
    )
    with session_scope() as session:
        rid = add_rollout(session, serving.id, status="rolled_back")
        session.add(
            RolloutDecision(
                rollout_id=rid,
                step=0,
                weight=10,
                action="rollback",
                reason="error rate 20.0% > 2.0%",
                figures={
                    "stable": {"requests": 90, "p99": 0.001},
                    "canary": {"requests": 10, "error_rate": 0.2, "p99": 0.002},
                    "comparison": {"agreement": 1.0},
                },
            )
        )
    at = no_exception(page("serving").run())
    at.selectbox(key="sv_pick").set_value(serving.id).run()
    assert "Traffic" in [m.value for m in at.markdown] or any("Traffic" in m.value for m in at.markdown)
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Stable"], shown["Canary"], shown["Shadow"]) == ("v1", "-", "-")
    # The roll-out the flow rolled back: its decision and the window's figures.
    assert any(e.label.startswith(f"Roll-out #{rid}: v2 over v1") for e in at.expander)
    listed = tables(at)
    assert "rollback" in listed and "error rate 20.0% > 2.0%" in listed and "0.2" in listed

    # The canary form: 20 % to version 2, sticky by x-user (a stopped serving: kept for its next start).
    at.selectbox(key=f"sv_canary_version_{serving.id}").set_value("2")
    at.slider(key=f"sv_canary_weight_{serving.id}").set_value(20)
    at.text_input(key=f"sv_canary_header_{serving.id}").set_value("x-user")
    apply = next(b for b in at.button if b.label == "Apply canary")
    at = no_exception(apply.click().run())
    assert not errors(at), errors(at)
    with session_scope() as session:
        row = session.get(Serving, serving.id)
        assert row is not None and (row.canary_version, row.canary_weight, row.routing_header) == (
            2,
            20,
            "x-user",
        )
    # A roll-out of a stopped serving: the service's refusal, shown, nothing stored.
    at.selectbox(key=f"sv_rollout_version_{serving.id}").set_value("2")
    start = next(b for b in at.button if b.label == "Start roll-out")
    at = no_exception(start.click().run())
    assert any("a roll-out needs it running" in e for e in errors(at)), errors(at)
