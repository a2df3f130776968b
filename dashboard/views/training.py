"""Training page: create a job from the algorithm's form, start, stop, live status; the runs section (runs,
curves, params, model download, links) lives in ``dashboard.views.training_runs``."""

from __future__ import annotations

import streamlit as st
from sqlmodel import col, select

from catalog.db import session_scope
from catalog.models import Dataset, DatasetRelease
from catalog.scoping import scoped
from catalog.services import algorithms as algo_svc
from catalog.services import training as svc
from dashboard.views.common import actor, attempt, records, scenario_picker
from dashboard.views.forms import render_form
from dashboard.views.training_runs import render_links, render_runs
from flows.launch import flow_run_url, run_flow

JOB_FIELDS = ["id", "name", "status", "algorithm_id", "release_id", "error", "started_at", "finished_at"]


def _releases(who, scenario: str) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    with session_scope() as session:
        stmt = scoped(select(DatasetRelease), DatasetRelease, who)
        if who.is_superuser:
            stmt = stmt.join(Dataset, Dataset.id == DatasetRelease.dataset_id)
        stmt = stmt.where(Dataset.scenario == scenario, DatasetRelease.status == "published")
        # execute, not exec: sqlmodel's exec keeps a SELECT of one entity scalar even with added columns.
        rows = session.execute(stmt.add_columns(Dataset.name).order_by(col(DatasetRelease.id).desc())).all()
    return [(r[0].id, f"{r[1]} {r[0].version}") for r in rows]


def render() -> None:
    st.title("Training")
    who, team_id = actor()
    scenario = scenario_picker("tr_scenario")
    with session_scope() as session:
        algos = algo_svc.list_algorithms(session, scenario=scenario, enabled_only=True)
    with st.expander("New training job"):
        releases = _releases(who, scenario)
        if not algos or not releases:
            st.info("Needs an enabled algorithm and a published dataset release of this scenario.")
        else:
            algo = st.selectbox("Algorithm", algos, format_func=lambda a: a.display_name, key="tr_algo")
            release = st.selectbox("Dataset release", releases, format_func=lambda r: r[1], key="tr_rel")
            name = st.text_input("Job name", key="tr_name")
            params = render_form(algo.form_config, key=f"tr_form_{algo.id}")
            max_evals = st.number_input("Tuning trials (0 = no tuning)", min_value=0, max_value=500, value=0)
            if st.button("Create job") and team_id is not None:
                def create() -> None:
                    with session_scope() as session:
                        svc.create_job(session, actor=who, team_id=team_id, name=name, scenario=scenario,
                                       algorithm=algo.name, release_id=release[0], params=params,
                                       max_evals=int(max_evals))
                attempt(create, success=f"job {name!r} created")
    with session_scope() as session:
        total, jobs = svc.list_jobs(session, actor=who, scenario=scenario, limit=200)
    st.caption(f"{total} job(s)")
    if not jobs:
        return
    st.dataframe(records(jobs, JOB_FIELDS), hide_index=True)
    job = st.selectbox("Job", jobs, format_func=lambda j: f"{j.name} (#{j.id}, {j.status})", key="tr_pick")
    cols = st.columns(3)
    if cols[0].button("Start", disabled=job.status in ("starting", "running")):
        launched = attempt(lambda: run_flow("train", {"job_id": job.id}, wait=False))
        if launched:
            st.success(f"started — [flow run]({flow_run_url(launched.flow_run_id)})")
    if cols[1].button("Stop", disabled=job.status not in ("starting", "running")):
        attempt(lambda: run_flow("stop-training", {"job_id": job.id}, wait=True), success="stopped")
    if cols[2].button("Refresh"):
        st.rerun()
    st.json({k: v for k, v in job.model_dump().items()
             if k in ("status", "error", "params", "mlflow_run_id", "started_at", "finished_at")})
    render_links(job)
    if job.log_tail:
        st.caption("Last container log lines")
        st.code(job.log_tail)
    render_runs(who, job)
