"""Overview: counts per domain, what runs now (training jobs, servings), the recent failures with their
reasons, and the platform's links. Everything is counted and paged in SQL; the live part refreshes itself."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from catalog.db import session_scope
from catalog.models import ACTIVE_STATUSES, JobStatus, ReleaseStatus
from catalog.scenarios import Scenario
from catalog.scoping import Actor
from catalog.services import datasets as ds_svc
from catalog.services import names as names_svc
from catalog.services import releases as rel_svc
from catalog.services import serving as sv_svc
from catalog.services import training as tr_svc
from dashboard.views.common import actor, name_of, when
from dashboard.views.paging import paged_list
from dashboard.views.team_usage import render_usage
from infra.settings import get_settings

FAILURES_SHOWN = 10


def _scenario(value: str) -> str:
    try:
        return Scenario(value).display_name
    except ValueError:
        return value


def _counts(who: Actor) -> None:
    with session_scope() as session:
        n_ds, _ = ds_svc.list_datasets(session, actor=who, limit=1)
        n_rel, _ = rel_svc.page_releases(session, actor=who, status=ReleaseStatus.PUBLISHED, limit=1)
        n_jobs, _ = tr_svc.list_jobs(session, actor=who, limit=1)
        n_sv, _ = sv_svc.list_servings(session, actor=who, limit=1)
    cols = st.columns(4)
    cols[0].metric("Datasets", n_ds)
    cols[1].metric("Published releases", n_rel)
    cols[2].metric("Training jobs", n_jobs)
    cols[3].metric("Servings", n_sv)
    _first_steps(n_ds, n_rel, n_jobs)


def _first_steps(n_datasets: int, n_releases: int, n_jobs: int) -> None:
    """Where a new user goes from here, while there is nothing yet to train, or nothing trained."""
    if n_datasets == 0:
        st.info(
            "No datasets yet. `./mlops demo` (in a shell, in the checkout) loads a sample dataset for every "
            "scenario and publishes it; or create one on a scenario's **Datasets** page and publish a release."
        )
    elif n_releases and n_jobs == 0:
        st.info(
            "Next, a first prediction: pick a scenario in the sidebar, then **Training** → *New training job* "
            "(choose the algorithm and a published release, *Create job*, *Start*); once it completes, "
            "**Serving** → *New serving* → *Create and start*; then **Sandbox**: upload an input, *Predict*."
        )


def _running(who: Actor) -> None:
    st.subheader("Running training jobs")

    def jobs(offset: int, limit: int):  # type: ignore[no-untyped-def]
        with session_scope() as session:
            return tr_svc.list_jobs(session, actor=who, statuses=ACTIVE_STATUSES, offset=offset, limit=limit)

    _, rows = paged_list("ov_jobs", jobs, noun="running job(s)")
    if rows:
        st.dataframe(
            [
                {
                    "id": j.id,
                    "name": j.name,
                    "scenario": _scenario(j.scenario),
                    "status": j.status,
                    "started": when(j.started_at),
                }
                for j in rows
            ],
            hide_index=True,
        )
    st.subheader("Running servings")

    def servings(offset: int, limit: int):  # type: ignore[no-untyped-def]
        with session_scope() as session:
            return sv_svc.list_servings(
                session, actor=who, observed_state="running", offset=offset, limit=limit
            )

    _, running = paged_list("ov_servings", servings, noun="running serving(s)")
    if running:
        st.dataframe(
            [
                {
                    "id": s.id,
                    "name": s.name,
                    "scenario": _scenario(s.scenario),
                    "model version": s.resolved_version or s.model_version,
                    "port": s.observed_port,
                    "last seen": when(s.observed_at),
                    "stale": s.observed_stale,
                }
                for s in running
            ],
            hide_index=True,
        )


def _failures(who: Actor) -> None:
    st.subheader("Recent failures")
    with session_scope() as session:
        _, jobs = tr_svc.list_jobs(session, actor=who, status=JobStatus.FAILED, limit=FAILURES_SHOWN)
        _, releases = rel_svc.page_releases(
            session, actor=who, status=ReleaseStatus.FAILED, limit=FAILURES_SHOWN
        )
        labels = names_svc.release_labels(session, actor=who, release_ids=[r.id for r in releases])
        _, servings = sv_svc.list_servings(session, actor=who, failed=True, limit=FAILURES_SHOWN)
    rows = [
        {
            "what": "training job",
            "name": j.name,
            "scenario": _scenario(j.scenario),
            "when": j.finished_at or j.updated_at,
            "reason": j.error,
        }
        for j in jobs
    ]
    rows += [
        {
            "what": "release",
            "name": name_of(labels, r.id),
            "scenario": "",
            "when": r.updated_at,
            "reason": r.error,
        }
        for r in releases
    ]
    rows += [
        {
            "what": "serving",
            "name": s.name,
            "scenario": _scenario(s.scenario),
            "when": s.updated_at,
            "reason": s.error,
        }
        for s in servings
    ]
    if not rows:
        st.caption("No failures.")
        return
    rows.sort(key=lambda r: when(r["when"]), reverse=True)
    st.dataframe([{**r, "when": when(r["when"])} for r in rows[:FAILURES_SHOWN]], hide_index=True)


def render() -> None:
    st.title("mlops-lite")
    who, team_id = actor()
    _counts(who)
    render_usage(who, team_id)
    s = get_settings()
    st.markdown(f"[Prefect UI]({s.prefect.ui_url}) · [MLflow UI]({s.mlflow.uri})")

    @st.fragment(run_every=timedelta(seconds=s.dashboard.refresh_seconds * 5))
    def live() -> None:
        _running(who)
        _failures(who)

    live()
