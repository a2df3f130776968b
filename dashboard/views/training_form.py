"""Training page, new-job form: the algorithm (enabled ones of the scenario), a published release of the
current team (searched and paged in SQL), the algorithm's parameters generated from its form_config and
validated before the job can be created, the model its runs register versions in (a new one named after the
job, made if needed, or another of the team's models of the scenario) and whether each completed start asks the model's promotion
gate (auto-promote). Creating needs ``jobs:write`` on the current team: without it the form is read-only (its
button disabled, the reason said)."""

from __future__ import annotations

import streamlit as st

from catalog.db import session_scope
from catalog.errors import CatalogError
from catalog.models import ReleaseStatus
from catalog.scoping import Actor
from catalog.services import algorithms as algo_svc
from catalog.services import models as models_svc
from catalog.services import names as names_svc
from catalog.services import releases as rel_svc
from catalog.services import training as svc
from dashboard.permissions import button, gate, read_only_note
from dashboard.views.common import attempt
from dashboard.views.forms import render_form

RELEASE_CHOICES = 100  # newest published releases offered; the search box finds older ones
MODEL_CHOICES = 100  # newest models of the team offered as the job's target
JOB_PICK_KEY = "tr_pick"  # the training page's job picker; a job just created becomes the picked one


def release_choices(
    who: Actor, scenario: str, team_id: int | None, search: str | None
) -> tuple[int, list[tuple[int, str]]]:
    """(how many match, the newest ``RELEASE_CHOICES`` as (release id, "dataset version"))."""
    with session_scope() as session:
        total, rows = rel_svc.page_releases(
            session,
            actor=who,
            scenario=scenario,
            team_id=team_id,
            status=ReleaseStatus.PUBLISHED,
            search=search,
            limit=RELEASE_CHOICES,
        )
        labels = names_svc.release_labels(session, actor=who, release_ids=[r.id for r in rows])
    return total, [(r.id, labels.get(r.id, r.version)) for r in rows if r.id is not None]


def model_choices(who: Actor, scenario: str, team_id: int) -> list[tuple[int, str]]:
    """The current team's models of the scenario (newest ``MODEL_CHOICES``) a job may target: (id, name)."""
    try:
        with session_scope() as session:
            _, rows = models_svc.list_models(
                session, actor=who, scenario=scenario, team_id=team_id, limit=MODEL_CHOICES
            )
    except CatalogError:  # a role that may create jobs but not read models: only a new model is offered
        return []
    return [(m.id, m.name) for m in rows if m.id is not None]


def render_new_job(who: Actor, team_id: int | None, scenario: str) -> None:
    with st.expander("New training job"):
        if team_id is None:
            st.info("You belong to no team yet; ask an administrator.")
            return
        allowed = gate(who, "jobs:write", team_id)
        read_only_note(allowed)
        with session_scope() as session:
            algos = algo_svc.list_algorithms(session, scenario=scenario, enabled_only=True)
        search = st.text_input("Find a release", key="tr_rel_search", placeholder="dataset name or version")
        total, releases = release_choices(who, scenario, team_id, search.strip() or None)
        if not algos or not releases:
            st.info(
                "Needs an enabled algorithm and a published dataset release of this scenario"
                + (" matching the search." if search.strip() else ".")
            )
            return
        algo = st.selectbox("Algorithm", algos, format_func=lambda a: a.display_name, key="tr_algo")
        if algo.description:
            st.caption(algo.description)
        release = st.selectbox("Dataset release", releases, format_func=lambda r: r[1], key="tr_rel")
        if total > len(releases):
            st.caption(f"the newest {len(releases)} of {total} releases; search to find the others")
        name = st.text_input("Job name", key="tr_name")
        st.markdown("**Parameters**")
        form = render_form(algo.form_config, key=f"tr_form_{algo.id}")
        max_evals = st.number_input(
            "Tuning trials (0 = no tuning)",
            min_value=0,
            max_value=500,
            value=0,
            disabled=not algo.search_space,
            help=None if algo.search_space else "this algorithm has no search space",
        )
        models = dict(model_choices(who, scenario, team_id))
        model = st.selectbox(
            "Model",
            [None, *models],
            format_func=lambda m: (
                "the model named after the job (made if there is none)"
                if m is None
                else f"{models[m]} (#{m})"
            ),
            key="tr_model",
            help="the model whose versions this job's runs register (several jobs may feed one model)",
        )
        auto_promote = st.checkbox(
            "Auto-promote",
            key="tr_auto_promote",
            help="each completed start asks the model's promotion gate for the version it registered",
        )
        if not form.ok:
            st.warning("Fix the parameters above before creating the job.")
        if button("Create job", allowed, key="tr_create", disabled=not form.ok):

            def create() -> int | None:
                with session_scope() as session:
                    job, _ = svc.create_job(
                        session,
                        actor=who,
                        team_id=team_id,
                        name=name,
                        scenario=scenario,
                        algorithm=algo.name,
                        release_id=release[0],
                        params=form.params,
                        max_evals=int(max_evals),
                        model=model,
                        auto_promote=auto_promote,
                    )
                    return job.id

            job_id = attempt(create, success=f"job {name!r} created")
            if job_id is not None:
                # Picked below (the picker is drawn after this form), so Start starts the job just created.
                st.session_state[JOB_PICK_KEY] = job_id
