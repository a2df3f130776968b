"""The training page with a finished job (real servers): runs table, metric curves (plotly), params, the
model download button, and the Prefect flow run and MLflow run links."""

from __future__ import annotations

import uuid

import pytest
from streamlit.testing.v1 import AppTest

from tests.flows.training_support import create_job, job_row, seed_catalog, set_training

pytestmark = pytest.mark.slow


def test_training_page_shows_runs_curves_params_and_links(platform_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MLOPS_MLFLOW_EXPERIMENT_PREFIX", f"t{uuid.uuid4().hex[:10]}")
    set_training(monkeypatch, poll_seconds=0.3)
    seeded = seed_catalog()
    from flows.training import train

    job_id = create_job(seeded, "dash-job")
    assert train(job_id)["status"] == "completed"
    job = job_row(job_id)

    at = AppTest.from_string("from dashboard.views import training\ntraining.render()\n", default_timeout=120)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    markdown = " ".join(m.value for m in at.markdown)
    assert f"/runs/flow-run/{job.flow_run_id}" in markdown
    assert f"/runs/{job.mlflow_run_id}" in markdown
    charts = at.get("plotly_chart")
    assert charts, "metric curves are drawn"
    frames = [str(df.value) for df in at.dataframe]
    assert any("contamination" in f for f in frames), "params are listed"
    assert any(job.mlflow_run_id[:12] in f for f in frames), "the run is listed"
    buttons = at.get("download_button")
    assert buttons and "Download model" in str(buttons[0].proto.label)
    # The run picker's options are run ids labelled without the status (a status label would stop matching
    # once the run ends and the pick would fall back to the first run).
    picker = at.selectbox(key=f"tr_run_{job_id}")
    assert picker.value == job.mlflow_run_id
    assert len(picker.options) == 1 and picker.options[0].startswith(job.mlflow_run_id[:12])
    assert "FINISHED" not in picker.options[0]
