"""Overview: counts per domain and the platform's links."""

from __future__ import annotations

import streamlit as st

from catalog.db import session_scope
from catalog.services import datasets as ds_svc
from catalog.services import serving as sv_svc
from catalog.services import training as tr_svc
from dashboard.views.common import actor
from infra.settings import get_settings


def render() -> None:
    st.title("mlops-lite")
    who, _ = actor()
    with session_scope() as session:
        n_ds, _ = ds_svc.list_datasets(session, actor=who, limit=1)
        n_jobs, _ = tr_svc.list_jobs(session, actor=who, limit=1)
        n_running, running = tr_svc.list_jobs(session, actor=who, status="running", limit=20)
        n_sv, _ = sv_svc.list_servings(session, actor=who, limit=1)
    cols = st.columns(4)
    cols[0].metric("Datasets", n_ds)
    cols[1].metric("Training jobs", n_jobs)
    cols[2].metric("Running jobs", n_running)
    cols[3].metric("Servings", n_sv)
    s = get_settings()
    st.markdown(f"[Prefect UI]({s.prefect.ui_url}) · [MLflow UI]({s.mlflow.uri})")
    st.caption(f"Signed in as {who.username}")
