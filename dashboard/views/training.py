"""Training page: the scenario's jobs (searched, filtered by status, paged in SQL), the new-job form
(``training_form``), and one job: start / stop, its live status, and its runs (``training_runs``).

The status panel follows running work without a manual refresh: while the job is starting or running (or a
start was just requested) it re-reads the job every ``MLOPS_DASHBOARD_REFRESH_SECONDS`` (a Streamlit
fragment), shows how long it has run and the run's latest metrics, and when the job ends reruns the whole
page so the list and the runs show the outcome. A failed job shows its reason.

Start and stop need ``jobs:start`` on the job's team (a maintainer of a parent team acts on its sub-teams'
jobs); without it the buttons are drawn disabled, their tooltip naming the permission.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st

from catalog.db import session_scope
from catalog.models import ACTIVE_STATUSES, JobStatus, TrainJob
from catalog.scoping import Actor
from catalog.services import names as names_svc
from catalog.services import runs as runs_svc
from catalog.services import training as svc
from dashboard.permissions import button, gate
from dashboard.views.common import actor, attempt, name_of, page_scenario, plain, records, stable_picker, when
from dashboard.views.paging import fetch_page, pager, search_box
from dashboard.views.training_form import JOB_PICK_KEY, render_new_job
from dashboard.views.training_runs import render_links, render_runs
from flows.launch import flow_run_url, run_flow
from infra.settings import get_settings

JOB_FIELDS = ["id", "name", "status", "algorithm", "release", "error", "started_at", "finished_at"]
STATUS_FILTER = ["any", *[s.value for s in JobStatus]]
FOLLOW_SECONDS = 120.0  # how long a requested start is followed before the job itself reports it
SHOWN = (
    "status",
    "error",
    "params",
    "max_evals",
    "mlflow_run_id",
    "flow_run_id",
    "started_at",
    "finished_at",
)


def _follow_key(job_id: int) -> str:
    return f"tr_follow_{job_id}"


def _following(job: TrainJob) -> bool:
    """Whether the panel should keep refreshing: the job is active, or a start was requested moments ago and
    the job has not picked it up yet."""
    if job.status in ACTIVE_STATUSES:
        return True
    requested = st.session_state.get(_follow_key(job.id))  # type: ignore[arg-type]
    if not isinstance(requested, tuple):
        return False
    flow_run_id, at = requested
    return job.flow_run_id != flow_run_id and time.time() - at < FOLLOW_SECONDS


def _elapsed(job: TrainJob) -> str:
    if job.started_at is None:
        return ""
    end = job.finished_at or datetime.now(UTC)
    return f"{int((end - job.started_at).total_seconds())} s"


def _live_metrics(who: Actor, job: TrainJob) -> None:
    if not job.mlflow_run_id:
        return
    try:
        runs = runs_svc.list_runs(actor=who, job_id=job.id)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - MLflow down must not break the page; say so instead
        st.caption(f"metrics unavailable: {exc}")
        return
    current = next((r for r in runs if r["run_id"] == job.mlflow_run_id), None)
    if current and current["metrics"]:
        cols = st.columns(min(4, len(current["metrics"])))
        for i, (name, value) in enumerate(sorted(current["metrics"].items())[:4]):
            cols[i].metric(name, f"{value:.4g}")


def status_panel(who: Actor, job_id: int) -> None:
    """The job's live status (a fragment refreshing itself while there is something to follow)."""
    with session_scope() as session:
        job = svc.get_job(session, actor=who, job_id=job_id)
    every = timedelta(seconds=get_settings().dashboard.refresh_seconds) if _following(job) else None

    @st.fragment(run_every=every)
    def panel() -> None:
        with session_scope() as session:
            fresh = svc.get_job(session, actor=who, job_id=job_id)
        active = fresh.status in ACTIVE_STATUSES
        cols = st.columns(3)
        cols[0].metric("Status", fresh.status)
        cols[1].metric("Running for" if active else "Ran for", _elapsed(fresh) or "-")
        if fresh.started_at:
            cols[2].caption(
                f"started {when(fresh.started_at)}"
                + (f"  \nfinished {when(fresh.finished_at)}" if fresh.finished_at else "")
            )
        if active:
            st.progress(
                0.5 if fresh.status == JobStatus.RUNNING else 0.1,
                text=f"{fresh.status}… (refreshing every {every.total_seconds():g} s)" if every else None,
            )
            _live_metrics(who, fresh)
        if fresh.status == JobStatus.FAILED and fresh.error:
            st.error(f"Training failed: {fresh.error}")
        elif fresh.error:
            st.warning(fresh.error)
        render_links(fresh)
        if every is not None and not _following(fresh):
            st.session_state.pop(_follow_key(job_id), None)
            st.rerun()  # finished: the whole page (list, runs) shows the outcome

    panel()


def _actions(who: Actor, job: TrainJob) -> None:
    allowed = gate(who, "jobs:start", job.team_id)
    cols = st.columns(3)
    if button("Start", allowed, key="tr_start", where=cols[0], disabled=job.status in ACTIVE_STATUSES):
        launched = attempt(lambda: _start(who, job))
        if launched:
            st.session_state[_follow_key(job.id)] = (launched.flow_run_id, time.time())  # type: ignore[arg-type]
            url = flow_run_url(launched.flow_run_id)
            st.success("started" + (f" — [flow run]({url})" if url else ""))
            if launched.message:
                st.error(launched.message)
    if button("Stop", allowed, key="tr_stop", where=cols[1], disabled=job.status not in ACTIVE_STATUSES):
        attempt(lambda: _stop(who, job), success="stopped")
    if cols[2].button("Refresh"):
        st.rerun()


def _start(who: Actor, job: TrainJob) -> Any:
    """The `train` flow, once the service allows the start (jobs:start, the team's quotas)."""
    with session_scope() as session:
        svc.request_start(session, actor=who, job_id=job.id)  # type: ignore[arg-type]
    return run_flow("train", {"job_id": job.id}, wait=False)


def _stop(who: Actor, job: TrainJob) -> Any:
    with session_scope() as session:
        svc.request_stop(session, actor=who, job_id=job.id)  # type: ignore[arg-type]
    return run_flow("stop-training", {"job_id": job.id}, wait=True)


def job_rows(who: Actor, jobs: list[TrainJob]) -> list[dict[str, object]]:
    """The jobs list's rows: each job's algorithm by name and its release as ``dataset version``, looked up
    for the whole page at once."""
    with session_scope() as session:
        algorithms = names_svc.algorithm_names(session, algorithm_ids=[j.algorithm_id for j in jobs])
        releases = names_svc.release_labels(session, actor=who, release_ids=[j.release_id for j in jobs])
    return records(
        jobs,
        JOB_FIELDS,
        {
            "algorithm": lambda j: name_of(algorithms, j.algorithm_id),
            "release": lambda j: name_of(releases, j.release_id),
        },
    )


def _jobs(who: Actor, scenario: str) -> tuple[int, list[TrainJob]]:
    cols = st.columns([3, 1])
    with cols[0]:
        search = search_box("tr_jobs", "Search jobs")
    status = cols[1].selectbox("Status", STATUS_FILTER, key="tr_status")

    def fetch(offset: int, limit: int) -> tuple[int, list[TrainJob]]:
        with session_scope() as session:
            return svc.list_jobs(
                session,
                actor=who,
                scenario=scenario,
                search=search,
                status=None if status == "any" else status,
                offset=offset,
                limit=limit,
            )

    total, jobs, _ = fetch_page("tr_jobs", fetch)
    if jobs:
        st.dataframe(job_rows(who, jobs), hide_index=True)
    pager("tr_jobs", total, noun="job(s)")
    return total, jobs


def jobs_picker(jobs: list[TrainJob]) -> TrainJob:
    """The job picker, labelled by name and id (the status is in the list above and the panel below)."""
    return stable_picker("Job", {j.id: j for j in jobs}, lambda j: f"{j.name} (#{j.id})", key=JOB_PICK_KEY)


def render(scenario: str | None = None) -> None:
    st.title("Training")
    who, team_id = actor()
    scenario = page_scenario(scenario, "tr_scenario")
    render_new_job(who, team_id, scenario)
    _, jobs = _jobs(who, scenario)
    if not jobs:
        return
    job = jobs_picker(jobs)
    _actions(who, job)
    status_panel(who, job.id)  # type: ignore[arg-type]
    with session_scope() as session:
        job = svc.get_job(session, actor=who, job_id=job.id)  # type: ignore[arg-type]
    with st.expander("Job details"):
        st.json(plain({k: v for k, v in job.model_dump().items() if k in SHOWN}))
    if job.log_tail:
        st.caption("Last container log lines")
        st.code(job.log_tail)
    render_runs(who, job)
