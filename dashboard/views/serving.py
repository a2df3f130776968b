"""Serving page: the list (searched, paged in SQL; live state of the page shown, one batched runtime read; each
serving's model, version reference and the version it resolved to), create from a trained job or from a model
('latest', a pinned version, or an alias the serving follows), and the detail of one serving with its lifecycle
buttons, update form, inference URL and its gray release panel (``dashboard.views.serving_traffic``). Creating, changing, starting, stopping and deleting, and the inference
token, need ``servings:manage`` (on the current team for a new serving, on the serving's team otherwise):
without it the controls are drawn disabled and the token is not shown."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from catalog.db import session_scope
from catalog.errors import CatalogError
from catalog.model_gate import ALIASES, LATEST
from catalog.models import Model, Serving
from catalog.scoping import Actor
from catalog.services import models as models_svc
from catalog.services import names as names_svc
from catalog.services import serving as svc
from catalog.services import training as tr_svc
from dashboard.permissions import Gate, button, gate, read_only_note
from dashboard.views.common import actor, attempt, name_of, page_scenario, records, stable_picker
from dashboard.views.paging import fetch_page, pager, search_box
from dashboard.views.serving_traffic import render_traffic
from flows.launch import run_flow
from infra.runtime.base import RuntimeError_
from infra.settings import get_settings
from tasks.serving import inference_url, observe_now

FIELDS = [
    "id",
    "name",
    "model",
    "version reference",
    "resolved version",
    "training job",
    "desired_state",
    "observed_state",
    "observed_port",
    "observed_stale",
    "observed_detail",
    "error",
]
JOB_CHOICES = 100  # newest completed jobs offered; the search box finds older ones
MODEL_CHOICES = 100  # newest models of the team (and versions of a model) offered
SOURCES = ("a training job's model", "a model")
PINNED = "pinned"
REFERENCES = [LATEST, *ALIASES, PINNED]
VERSION_HELP = "'latest', a version number, or an alias (champion, challenger) the serving follows"
PICK_KEY = "sv_pick"  # the serving picker; a serving just created becomes the picked one
ACTIONS = [
    ("Start", "start"),
    ("Stop", "stop"),
    ("Remove container", "remove"),
    ("Delete", "delete"),
]


@dataclass(frozen=True, slots=True)
class Target:
    """What a new serving serves: a training job's model or a model (one of the two ids), and the version."""

    job_id: int | None
    model_id: int | None
    ref: str


def _job_target(who: Actor, scenario: str) -> Target | None:
    """A completed training job of the scenario (its model, the version reference typed in)."""
    search = st.text_input("Find a training job", key="sv_job_search", placeholder="part of the job name")
    with session_scope() as session:
        total, jobs = tr_svc.list_jobs(
            session,
            actor=who,
            scenario=scenario,
            status="completed",
            search=search.strip() or None,
            limit=JOB_CHOICES,
        )
    if not jobs:
        st.info(
            "Needs a completed training job of this scenario"
            + (" matching the search." if search.strip() else ".")
        )
        return None
    job = st.selectbox("Training job", jobs, format_func=lambda j: f"{j.name} (#{j.id})", key="sv_job")
    if total > len(jobs):
        st.caption(f"the newest {len(jobs)} of {total} completed jobs; search to find the others")
    version = st.text_input("Model version", value="latest", key="sv_version", help=VERSION_HELP)
    return Target(job_id=job.id, model_id=None, ref=version)


def _model_target(who: Actor, team_id: int, scenario: str) -> Target | None:
    """One of the team's models of the scenario, and which of its versions: 'latest', an alias it follows (it
    rolls forward when the alias moves), or a pinned version."""
    try:
        with session_scope() as session:
            _, models = models_svc.list_models(
                session, actor=who, scenario=scenario, team_id=team_id, limit=MODEL_CHOICES
            )
    except CatalogError:  # a role that manages servings but may not read models: serve a job's model
        models = []
    if not models:
        st.info("Needs a model of this scenario in the current team (a training job registers one).")
        return None
    model = st.selectbox("Model", models, format_func=lambda m: f"{m.name} (#{m.id})", key="sv_model")
    kind = st.selectbox(
        "Version",
        REFERENCES,
        format_func=lambda r: _reference_label(model, r),
        key="sv_model_ref",
        help=VERSION_HELP,
    )
    if kind != PINNED:
        return Target(job_id=None, model_id=model.id, ref=kind)
    with session_scope() as session:
        _, versions = models_svc.list_versions(session, actor=who, model_id=model.id, limit=MODEL_CHOICES)
    if not versions:
        st.info(f"Model {model.name!r} has no version yet.")
        return None
    pinned = st.selectbox(
        "Pinned version", [v.version for v in versions], format_func=lambda v: f"v{v}", key="sv_pin"
    )
    return Target(job_id=None, model_id=model.id, ref=str(pinned))


def _reference_label(model: Model, ref: str) -> str:
    if ref in ALIASES:
        now = getattr(model, f"{ref}_version")
        return f"{ref} (follows it; now {f'v{now}' if now is not None else 'not set'})"
    return {LATEST: "latest (the newest finished version, at start)", PINNED: "a pinned version"}[ref]


def _create_form(who: Actor, team_id: int | None, scenario: str) -> None:
    allowed = gate(who, "servings:manage", team_id)
    with st.expander("New serving"):
        read_only_note(allowed)
        source = st.radio("Serve", SOURCES, key="sv_source", horizontal=True)
        if source == SOURCES[0]:
            target = _job_target(who, scenario)
        elif team_id is not None:
            target = _model_target(who, team_id, scenario)
        else:
            target = None
        if target is None:
            return
        name = st.text_input("Serving name", key="sv_name")
        port = st.number_input(_port_label(), min_value=0, max_value=65535, value=0, key="sv_port")
        if button("Create and start", allowed, key="sv_create") and team_id is not None:

            def create() -> int | None:
                with session_scope() as session:
                    serving = svc.create_serving(
                        session,
                        actor=who,
                        team_id=team_id,
                        name=name,
                        train_job_id=target.job_id,
                        model_id=target.model_id,
                        model_version=target.ref,
                        port=int(port) or None,
                    )
                run_flow("serving-start", {"serving_id": serving.id}, wait=False)
                return serving.id

            serving_id = attempt(create, success=f"serving {name!r} starting")
            if serving_id is not None:
                st.session_state[PICK_KEY] = serving_id  # the picker is drawn after this form


def _port_label() -> str:
    lo, hi = get_settings().runtime.port_range
    # The service refuses ports outside the range, or taken by another serving or on the host.
    return f"Port (0 = any free one; else {lo}-{hi}, not taken)"


def _update_form(who: Actor, serving: Serving, allowed: Gate) -> None:
    with st.expander("Update (a running serving restarts to apply it)"):
        read_only_note(allowed)
        version = st.text_input(
            "Model version", value=serving.model_version, key=f"sv_up_version_{serving.id}"
        )
        job_id = None
        if serving.train_job_id is not None:  # made from a job: another job's model may replace it
            job_id = st.number_input(
                "Training job id", min_value=1, value=serving.train_job_id, key=f"sv_up_job_{serving.id}"
            )
        port = st.number_input(
            _port_label(),
            min_value=0,
            max_value=65535,
            value=serving.port or 0,
            key=f"sv_up_port_{serving.id}",
        )
        if button("Apply", allowed, key=f"sv_up_apply_{serving.id}"):

            def apply() -> None:
                with session_scope() as session:
                    _, restart = svc.update_serving(
                        session,
                        actor=who,
                        serving_id=serving.id,  # type: ignore[arg-type]
                        model_version=version,
                        train_job_id=int(job_id) if job_id is not None else None,
                        port=int(port) or None,
                        clear_port=not port,
                    )
                if restart:
                    run_flow("serving-restart", {"serving_id": serving.id}, wait=True)

            attempt(apply, success="updated")


def served(serving: Serving, names: PageNames) -> str:
    """What a serving serves: its model, the version reference (and the version it resolved to, when the
    reference is not a number), and the training job it was made from."""
    text = f"model {name_of(names.models, serving.model_id)}, version {serving.model_version}"
    if serving.resolved_version and serving.resolved_version != serving.model_version:
        text += f" (now v{serving.resolved_version})"
    if serving.train_job_id is not None:
        text += f", from training job {name_of(names.jobs, serving.train_job_id)}"
    return text


def _detail(who: Actor, serving: Serving, names: PageNames) -> None:
    allowed = gate(who, "servings:manage", serving.team_id)
    st.subheader(f"{serving.name} (#{serving.id})")
    st.caption(f"Serves {served(serving, names)}")
    cols = st.columns(4)
    cols[0].metric("Observed", serving.observed_state + (" (stale)" if serving.observed_stale else ""))
    cols[1].metric("Desired", serving.desired_state)
    cols[2].metric("Model version", serving.resolved_version or serving.model_version)
    cols[3].metric("Port", str(serving.observed_port or serving.port or "-"))
    if serving.observed_detail:
        st.caption(serving.observed_detail)
    if serving.error:
        st.error(serving.error)
    if serving.observed_state == "running" and not serving.observed_stale:
        try:
            url = inference_url(serving)
            st.code(url, language=None)
            if allowed.ok:
                _calling_it(who, serving, url)
            else:
                st.caption(f"🔒 Its bearer token is shown to those who manage it: {allowed.refusal}.")
        except RuntimeError_ as exc:
            st.warning(f"inference URL unavailable: {exc}")
    buttons = st.columns(len(ACTIONS) + 1)
    for col_, (label, action) in zip(buttons, ACTIONS, strict=False):
        if button(label, allowed, key=f"sv_serving-{action}_{serving.id}", where=col_):
            attempt(lambda a=action: _lifecycle(who, serving, a), success=f"{label} done")
    if buttons[-1].button("Refresh", key=f"sv_refresh_{serving.id}"):
        st.rerun()
    _update_form(who, serving, allowed)
    render_traffic(who, serving, allowed)


def _calling_it(who: Actor, serving: Serving, url: str) -> None:
    """How to call the serving from a script, with its bearer token (for those who may manage it only)."""
    with st.expander("Calling it from a script (bearer token)"):
        with session_scope() as session:  # servings:manage
            token = svc.token_for(session, actor=who, serving_id=serving.id)  # type: ignore[arg-type]
        st.caption(
            "The inference server answers only callers presenting this serving's token; treat it like a "
            "password."
        )
        st.code(
            f"curl -X POST {url} -H 'Authorization: Bearer {token}' "
            "-H 'Content-Type: application/json' -d @request.json",
            language="bash",
        )


def _lifecycle(who: Actor, serving: Serving, action: str) -> object:
    """The serving's lifecycle flow, once the service allows it (servings:manage; a start: the quotas)."""
    with session_scope() as session:
        svc.request_lifecycle(session, actor=who, serving_id=serving.id, action=action)  # type: ignore[arg-type]
    return run_flow(f"serving-{action}", {"serving_id": serving.id}, wait=True)


def servings_picker(rows: list[Serving]) -> Serving:
    """The serving picker, labelled by name and id (the observed state is in the list above and the detail
    below)."""
    return stable_picker("Serving", {s.id: s for s in rows}, lambda s: f"{s.name} (#{s.id})", key=PICK_KEY)


@dataclass(frozen=True, slots=True)
class PageNames:
    models: dict[int, str]
    jobs: dict[int, str]


def page_names(who: Actor, rows: list[Serving]) -> PageNames:
    """The names of the page's servings' models and training jobs, looked up at once."""
    with session_scope() as session:
        return PageNames(
            models=names_svc.model_names(session, actor=who, model_ids=[r.model_id for r in rows]),
            jobs=names_svc.job_names(session, actor=who, job_ids=[r.train_job_id for r in rows]),
        )


def render(scenario: str | None = None) -> None:
    st.title("Serving")
    who, team_id = actor()
    scenario = page_scenario(scenario, "sv_scenario")
    _create_form(who, team_id, scenario)
    search = search_box("sv_list")

    def fetch(offset: int, limit: int) -> tuple[int, list[Serving]]:
        with session_scope() as session:
            return svc.list_servings(
                session, actor=who, scenario=scenario, search=search, offset=offset, limit=limit
            )

    _, rows, _ = fetch_page("sv_list", fetch)
    # Live state of the servings shown: one batched runtime call (stale marks if it cannot be reached).
    observe_now([r.id for r in rows if r.id is not None])
    total, rows, _ = fetch_page("sv_list", fetch)
    names = page_names(who, rows)
    if rows:
        st.dataframe(
            records(
                rows,
                FIELDS,
                {
                    "model": lambda r: name_of(names.models, r.model_id),
                    "version reference": lambda r: r.model_version,
                    "resolved version": lambda r: r.resolved_version,
                    "training job": lambda r: name_of(names.jobs, r.train_job_id),
                },
            ),
            hide_index=True,
        )
    pager("sv_list", total, noun="serving(s)")
    if not rows:
        return
    stale = [r for r in rows if r.observed_stale]
    if stale:
        st.warning(
            "The runtime could not be reached; the states shown are the last known ones. "
            f"{stale[0].observed_detail}"
        )
    _detail(who, servings_picker(rows), names)
