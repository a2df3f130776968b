"""Training page, run section: a job's MLflow runs (paged), one run's params and metrics (curves for metrics
logged over several steps, values for those logged once), the model
download, and links to the Prefect flow run and the MLflow run. Every read goes through
``catalog.services.runs``, so a run of a job the user cannot see is never shown. Deleting and restoring a run
need ``jobs:write`` on the job's team (drawn disabled without it); downloading the model, only reading it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from catalog.models import TrainJob
from catalog.scoping import Actor
from catalog.services import runs as runs_svc
from dashboard.permissions import button, gate
from dashboard.views.common import attempt, stable_picker
from dashboard.views.paging import pager, slice_page
from flows.launch import flow_run_url


def mlflow_run_url(experiment_id: str | None, run_id: str | None) -> str | None:
    return runs_svc.run_url(experiment_id, run_id)


def _when(millis: int | None) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S") if millis else ""


def split_metrics(
    history: dict[str, list[dict[str, Any]]],
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, float]]:
    """(metrics logged at several steps → their points, metrics logged at one step only → their value).

    Most algorithms log their scores once (step 0): a curve of one point per metric says nothing, so those
    are shown as values (a table, and bars for the scores, see ``score_values``) and only the multi-step
    metrics (epochs, trials) as curves.
    """
    curves: dict[str, list[dict[str, Any]]] = {}
    single: dict[str, float] = {}
    for name, points in history.items():
        if len({p["step"] for p in points}) > 1:
            curves[name] = sorted(points, key=lambda p: (p["step"], p.get("timestamp") or 0))
        elif points:
            single[name] = float(max(points, key=lambda p: p.get("timestamp") or 0)["value"])
    return curves, single


def metric_figure(history: dict[str, list[dict[str, Any]]]) -> go.Figure:
    """One line per metric over its steps."""
    figure = go.Figure()
    for name, points in history.items():
        figure.add_trace(
            go.Scatter(
                x=[p["step"] for p in points], y=[p["value"] for p in points], mode="lines+markers", name=name
            )
        )
    figure.update_layout(xaxis_title="step", yaxis_title="value", height=360, margin={"t": 30, "b": 30})
    return figure


def score_values(values: dict[str, float]) -> dict[str, float]:
    """The values that are scores or rates (between 0 and 1), the ones bars compare. Counts, sizes and seconds
    (a model's 2.6 million parameters beside its 0.9 mAP) would squash every score bar to nothing."""
    return {name: value for name, value in values.items() if 0.0 <= value <= 1.0}


def value_figure(values: dict[str, float]) -> go.Figure:
    """One bar per single-step metric, its value written on it."""
    names = sorted(values)
    figure = go.Figure(
        go.Bar(
            x=[values[n] for n in names],
            y=names,
            orientation="h",
            text=[f"{values[n]:.4g}" for n in names],
            textposition="auto",
        )
    )
    figure.update_layout(
        xaxis_title="value", height=max(160, 40 * len(names) + 80), margin={"t": 30, "b": 30}
    )
    return figure


def render_metrics(history: dict[str, list[dict[str, Any]]], *, key: str) -> None:
    curves, single = split_metrics(history)
    if scores := score_values(single):
        st.plotly_chart(value_figure(scores), key=f"{key}_values")
    if single:
        st.dataframe([{"metric": n, "value": v} for n, v in sorted(single.items())], hide_index=True)
    if curves:
        st.plotly_chart(metric_figure(curves), key=f"{key}_curves")


def render_links(job: TrainJob) -> None:
    links = []
    if url := flow_run_url(job.flow_run_id):
        links.append(f"[Prefect flow run]({url})")
    if url := mlflow_run_url(job.mlflow_experiment_id, job.mlflow_run_id):
        links.append(f"[MLflow run]({url})")
    if links:
        st.markdown(" · ".join(links))


def render_runs(who: Actor, job: TrainJob) -> None:
    assert job.id is not None
    show_deleted = st.checkbox("Show deleted runs", key=f"tr_deleted_{job.id}")
    runs = attempt(lambda: runs_svc.list_runs(actor=who, job_id=job.id, include_deleted=show_deleted))  # type: ignore[arg-type]
    if not runs:
        st.caption("No runs yet.")
        return
    total, runs = slice_page(f"tr_runs_{job.id}", runs)
    st.dataframe(
        [
            {
                "run": r["run_id"][:12],
                "status": r["status"],
                "start": _when(r["start_time"]),
                "end": _when(r["end_time"]),
                "duration (s)": r["duration_s"],
                "stage": r["lifecycle_stage"],
                **{k: round(v, 4) for k, v in r["metrics"].items()},
            }
            for r in runs
        ],
        hide_index=True,
    )
    pager(f"tr_runs_{job.id}", total, noun="run(s)")
    run = stable_picker(
        "Run",
        {r["run_id"]: r for r in runs},
        lambda r: f"{r['run_id'][:12]} · {_when(r['start_time'])}",
        key=f"tr_run_{job.id}",
    )
    run_id: str = run["run_id"]
    if url := mlflow_run_url(job.mlflow_experiment_id, run_id):
        st.markdown(f"[Open this run in MLflow]({url})")
    history = attempt(lambda: runs_svc.metric_history(actor=who, job_id=job.id, run_id=run_id))  # type: ignore[arg-type]
    if history:
        render_metrics(history, key=f"tr_metrics_{run_id}")
    params = attempt(lambda: runs_svc.run_params(actor=who, job_id=job.id, run_id=run_id))  # type: ignore[arg-type]
    if params:
        st.dataframe([{"param": k, "value": v} for k, v in sorted(params.items())], hide_index=True)
    cols = st.columns(2)
    if run["status"] == "FINISHED" and run["lifecycle_stage"] == "active":
        # Deferred: the zip is built only when the button is clicked, not on every rerun of the page.
        cols[0].download_button(
            "Download model (zip)",
            key=f"tr_dl_{run_id}",
            mime="application/zip",
            file_name=f"job{job.id}-{run_id}-model.zip",
            data=lambda: b"".join(runs_svc.download_model(actor=who, job_id=job.id, run_id=run_id).chunks),  # type: ignore[arg-type]
        )
    allowed = gate(who, "jobs:write", job.team_id)
    if run["lifecycle_stage"] == "deleted":
        if button("Restore run", allowed, key=f"tr_restore_{run_id}", where=cols[1]):
            attempt(
                lambda: runs_svc.restore_run(actor=who, job_id=job.id, run_id=run_id), success="run restored"
            )  # type: ignore[arg-type]
    elif button(
        "Delete run", allowed, key=f"tr_delete_{run_id}", where=cols[1], disabled=run["status"] == "RUNNING"
    ):
        attempt(lambda: runs_svc.delete_run(actor=who, job_id=job.id, run_id=run_id), success="run deleted")  # type: ignore[arg-type]
