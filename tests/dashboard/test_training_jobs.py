"""Training page without a training run (Streamlit AppTest, real S3 for job configs): the new-job form generated
from ECOD's form_config refuses bad parameters before anything is submitted and creates the job with good
ones; a failed job shows its reason; job details show formatted timestamps; single-step metrics are drawn as
values and multi-step metrics as curves."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.dashboard.seed import Catalog, errors, job, no_exception, page, published_release, tables

pytestmark = pytest.mark.platform_servers("s3")


def create_button(at: Any) -> Any:
    return next(b for b in at.button if b.label == "Create job")


def test_the_jobs_list_names_algorithm_and_release(catalog: Catalog) -> None:
    release = published_release(catalog.team_id, name="cpu-load")
    job(catalog.team_id, release.id, "named-job", "completed")
    listed = tables(no_exception(page("training").run()))
    header, row = listed.splitlines()[:2]
    assert "algorithm" in header and "release" in header and "_id" not in header, header
    assert "named-job" in row and ",ECOD," in row and ",cpu-load v1," in row, row


def test_new_job_form_validates_before_creating(catalog: Catalog) -> None:
    from catalog.db import session_scope
    from catalog.services import training

    published_release(catalog.team_id)
    at = no_exception(page("training").run())
    contamination = next(n for n in at.number_input if n.label == "Contamination")
    assert (contamination.value, contamination.min, contamination.max) == (0.1, 0.001, 0.5)
    lags = next(t for t in at.text_input if t.label == "Lags")
    lags.input("1, 0").run()  # 0 is below the minimum lag of 1
    assert any("lags item 2: 0 is below the minimum 1" in e for e in errors(at))
    assert create_button(at).disabled, "a form with errors cannot be submitted"
    next(t for t in at.text_input if t.label == "Lags").input("1, 2")
    at.text_input(key="tr_name").input("ecod-a").run()
    assert not create_button(at).disabled
    create_button(at).click().run()
    no_exception(at)
    assert not errors(at), errors(at)
    with session_scope() as session:
        total, jobs = training.list_jobs(session, actor=catalog.admin)
    assert total == 1 and jobs[0].name == "ecod-a"
    assert jobs[0].params["lags"] == [1, 2] and jobs[0].params["contamination"] == 0.1


def test_the_job_just_created_is_picked_and_stays_picked_while_its_status_changes(catalog: Catalog) -> None:
    """Start acts on the picked job: after "Create job" that is the new one (not the one picked before), and
    the pick stays on a job while its status changes (created → running → completed)."""
    from catalog.db import session_scope
    from catalog.models import TrainJob

    release = published_release(catalog.team_id)
    older = job(catalog.team_id, release.id, "older", "created")
    at = no_exception(page("training").run())
    assert at.selectbox(key="tr_pick").value == older.id
    at.text_input(key="tr_name").input("newer").run()
    create_button(at).click().run()
    no_exception(at)
    with session_scope() as session:
        newer = session.query(TrainJob).filter_by(name="newer").one()
    assert at.selectbox(key="tr_pick").value == newer.id, "Start would act on the job picked before"
    assert at.metric[0].value == "created"
    at.selectbox(key="tr_pick").set_value(older.id).run()
    # The browser sends the pick back as its label: the labels must not change with the status.
    labels = at.selectbox(key="tr_pick").options
    assert labels == [f"newer (#{newer.id})", f"older (#{older.id})"]
    for status in ("running", "completed"):
        with session_scope() as session:
            row = session.get(TrainJob, older.id)
            row.status = status  # type: ignore[union-attr]
            session.add(row)
        no_exception(at.run())
        assert at.selectbox(key="tr_pick").value == older.id, f"the pick jumped away when {status}"
        assert at.selectbox(key="tr_pick").options == labels, f"the labels changed when {status}"
        assert next(m.value for m in at.metric if m.label == "Status") == status


def test_a_failed_job_shows_its_reason_and_readable_times(catalog: Catalog) -> None:
    release = published_release(catalog.team_id)
    job(
        catalog.team_id,
        release.id,
        "broken",
        "failed",
        error="ValueError: the release has no train split",
        started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        finished_at=datetime(2026, 1, 2, 3, 4, 9, tzinfo=UTC),
    )
    at = no_exception(page("training").run())
    assert "Training failed: ValueError: the release has no train split" in errors(at)
    details = " ".join(str(j.value) for j in at.json)
    assert "2026-01-02 03:04:05 UTC" in details and "datetime.datetime" not in details
    assert any(m.label == "Ran for" and m.value == "4 s" for m in at.metric)


def test_single_step_metrics_as_values_multi_step_as_curves() -> None:
    from dashboard.views.training_runs import split_metrics

    history = {
        "f1": [{"step": 0, "timestamp": 1, "value": 0.8}],
        "loss": [
            {"step": 2, "timestamp": 3, "value": 0.2},
            {"step": 0, "timestamp": 1, "value": 0.9},
            {"step": 1, "timestamp": 2, "value": 0.5},
        ],
        "auc": [{"step": 0, "timestamp": 1, "value": 0.7}, {"step": 0, "timestamp": 5, "value": 0.75}],
    }
    curves, single = split_metrics(history)
    assert single == {"f1": 0.8, "auc": 0.75}  # logged again at the same step: the latest value
    assert list(curves) == ["loss"] and [p["step"] for p in curves["loss"]] == [0, 1, 2]


def test_metrics_render_as_bars_and_table() -> None:
    from streamlit.testing.v1 import AppTest

    def script() -> None:
        from dashboard.views.training_runs import render_metrics

        render_metrics(
            {
                "f1": [{"step": 0, "timestamp": 1, "value": 0.8}],
                "precision": [{"step": 0, "timestamp": 1, "value": 0.6}],
            },
            key="m",
        )

    at = AppTest.from_function(script, default_timeout=30).run()
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 1 and '"type":"bar"' in charts[0].proto.spec.replace(" ", "")
    assert "precision" in at.dataframe[0].value.to_csv()


def test_bars_compare_only_the_scores_every_value_is_in_the_table() -> None:
    from streamlit.testing.v1 import AppTest

    def script() -> None:
        from dashboard.views.training_runs import render_metrics

        render_metrics(
            {
                "mAP50": [{"step": 0, "timestamp": 1, "value": 0.91}],
                "recall": [{"step": 0, "timestamp": 1, "value": 0.85}],
                "parameters": [{"step": 0, "timestamp": 1, "value": 2_590_000.0}],
                "fit_seconds": [{"step": 0, "timestamp": 1, "value": 90.9}],
            },
            key="m",
        )

    at = AppTest.from_function(script, default_timeout=30).run()
    assert not at.exception
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert bars["y"] == ["mAP50", "recall"] and bars["x"] == [0.91, 0.85]
    assert at.dataframe[0].value["metric"].tolist() == ["fit_seconds", "mAP50", "parameters", "recall"]


def test_a_running_job_is_followed_live(catalog: Catalog) -> None:
    from catalog.db import session_scope
    from catalog.models import TrainJob

    release = published_release(catalog.team_id)
    running = job(catalog.team_id, release.id, "busy", "running", started_at=datetime.now(UTC))
    at = no_exception(page("training").run())
    bars = at.get("progress")
    assert bars and "refreshing every 2 s" in bars[0].proto.text
    assert any(m.label == "Running for" for m in at.metric)
    with session_scope() as session:
        row = session.get(TrainJob, running.id)
        row.status, row.error = "failed", "killed by the watchdog"  # type: ignore[union-attr]
        session.add(row)
    no_exception(at.run())
    assert not at.get("progress") and "Training failed: killed by the watchdog" in errors(at)


def test_a_requested_start_is_followed_until_the_job_reports_it() -> None:
    from streamlit.testing.v1 import AppTest

    def script() -> None:
        import time

        import streamlit as st

        from catalog.models import TrainJob
        from dashboard.views.training import _following

        st.session_state["tr_follow_1"] = ("run-2", time.time())
        jobs = {
            "idle": TrainJob(id=1, status="created", flow_run_id=None),
            "claimed by the requested run": TrainJob(id=1, status="running", flow_run_id="run-2"),
            "finished by the requested run": TrainJob(id=1, status="completed", flow_run_id="run-2"),
            "an older run's outcome": TrainJob(id=1, status="completed", flow_run_id="run-1"),
        }
        st.session_state["seen"] = {name: _following(j) for name, j in jobs.items()}
        st.session_state["tr_follow_1"] = ("run-2", time.time() - 3600)
        st.session_state["stale"] = _following(jobs["idle"])

    at = AppTest.from_function(script, default_timeout=30).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["seen"] == {
        "idle": True,
        "claimed by the requested run": True,
        "finished by the requested run": False,
        "an older run's outcome": True,
    }
    assert at.session_state["stale"] is False, "a start that never arrives is not followed forever"
