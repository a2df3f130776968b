"""Serving page: create from a trained job, lifecycle buttons, live state (one batched runtime read)."""

from __future__ import annotations

import streamlit as st

from catalog.db import session_scope
from catalog.services import serving as svc
from catalog.services import training as tr_svc
from dashboard.views.common import actor, attempt, records, scenario_picker
from flows.launch import run_flow
from tasks.serving import sync_states

FIELDS = ["id", "name", "train_job_id", "model_version", "resolved_version", "desired_state", "observed_state",
          "observed_port", "observed_stale", "observed_detail", "error"]


def render() -> None:
    st.title("Serving")
    who, team_id = actor()
    scenario = scenario_picker("sv_scenario")
    with session_scope() as session:
        _, jobs = tr_svc.list_jobs(session, actor=who, scenario=scenario, status="completed", limit=200)
    with st.expander("New serving"):
        if not jobs:
            st.info("Needs a completed training job of this scenario.")
        else:
            job = st.selectbox("Training job", jobs, format_func=lambda j: f"{j.name} (#{j.id})", key="sv_job")
            name = st.text_input("Serving name", key="sv_name")
            version = st.text_input("Model version", value="latest", key="sv_version")
            if st.button("Create and start") and team_id is not None:
                def create() -> None:
                    with session_scope() as session:
                        serving = svc.create_serving(session, actor=who, team_id=team_id, name=name,
                                                     train_job_id=job.id, model_version=version)
                    run_flow("serving-start", {"serving_id": serving.id}, wait=False)
                attempt(create, success=f"serving {name!r} starting")
    with session_scope() as session:
        _, rows = svc.list_servings(session, actor=who, scenario=scenario, limit=200)
    # Live state: one batched runtime call for every serving shown (stale marks if it cannot be reached).
    sync_states.fn([r.id for r in rows if r.id is not None])
    with session_scope() as session:
        total, rows = svc.list_servings(session, actor=who, scenario=scenario, limit=200)
    st.caption(f"{total} serving(s)")
    if not rows:
        return
    st.dataframe(records(rows, FIELDS), hide_index=True)
    if any(r.observed_stale for r in rows):
        st.warning("The runtime could not be reached: states shown are the last known ones.")
    serving = st.selectbox("Serving", rows, format_func=lambda s: f"{s.name} (#{s.id}, {s.observed_state})",
                           key="sv_pick")
    cols = st.columns(5)
    for col_, (label, flow) in zip(cols, [("Start", "serving-start"), ("Stop", "serving-stop"),
                                          ("Remove container", "serving-remove"), ("Delete", "serving-delete")],
                                   strict=False):
        if col_.button(label, key=f"sv_{flow}_{serving.id}"):
            attempt(lambda f=flow: run_flow(f, {"serving_id": serving.id}, wait=True), success=f"{label} done")
    if cols[4].button("Refresh"):
        st.rerun()
