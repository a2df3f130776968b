"""Administration (superusers only): the algorithm catalog. List (by scenario, searched, paged), enable and
disable (refused while a training job of the algorithm is starting or running: the page names them), and
view and edit an algorithm's form_config and search space as JSON, checked by ``catalog.forms`` (the same
validation the service applies on save) with a preview of the form it generates."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from catalog.db import session_scope
from catalog.errors import ValidationError
from catalog.forms import validate_form_config, validate_search_space
from catalog.models import AlgorithmConfig
from catalog.scenarios import Scenario
from catalog.scoping import Actor
from catalog.services import algorithms as svc
from catalog.services import names as names_svc
from dashboard.views.common import actor, attempt, name_of, plain
from dashboard.views.forms import render_form
from dashboard.views.paging import pager, slice_page

ALL = "all"


def _json(text: str, what: str) -> Any:
    """Decoded JSON, or ValidationError saying where it breaks."""
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None


def check_edit(form_text: str, space_text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(form_config, search_space) parsed and validated together, or ValidationError with the reason."""
    form = _json(form_text, "form_config")
    if form is None:
        raise ValidationError("form_config is empty")
    checked = validate_form_config(form)
    return checked, validate_search_space(_json(space_text, "search_space") or {}, checked)


def _table(algos: list[AlgorithmConfig], running: dict[int, int]) -> list[dict[str, Any]]:
    return [
        {
            "id": a.id,
            "scenario": a.scenario,
            "name": a.name,
            "display name": a.display_name,
            "enabled": a.enabled,
            "built-in": a.builtin,
            "fields": len(a.form_config.get("fields", [])),
            "running jobs": running.get(a.id, 0),
            "updated": plain(a.updated_at),
        }
        for a in algos
    ]  # type: ignore[arg-type]


def _enable(who: Actor, algo: AlgorithmConfig) -> None:
    with session_scope() as session:
        running = svc.running_jobs_of(session, actor=who, algorithm_id=algo.id)  # type: ignore[arg-type]
    st.markdown(f"**{algo.display_name}** is **{'enabled' if algo.enabled else 'disabled'}**.")
    if running:
        st.warning(
            f"{len(running)} training job(s) of it are starting or running; it cannot be disabled "
            "until they end."
        )
        with session_scope() as session:
            teams = names_svc.team_names(session, actor=who, team_ids=[j.team_id for j in running])
        st.dataframe(
            [
                {"id": j.id, "name": j.name, "team": name_of(teams, j.team_id), "status": j.status}
                for j in running
            ],
            hide_index=True,
        )
    label = "Disable" if algo.enabled else "Enable"
    if st.button(label, key=f"alg_toggle_{algo.id}"):

        def toggle() -> AlgorithmConfig:
            with session_scope() as session:
                return svc.set_enabled(
                    session, actor=who, scenario=algo.scenario, name=algo.name, enabled=not algo.enabled
                )

        if attempt(toggle, success=f"{algo.name} {'disabled' if algo.enabled else 'enabled'}") is not None:
            st.rerun()


def _edit(who: Actor, algo: AlgorithmConfig) -> None:
    st.subheader("Form")
    with st.expander("Preview of the training form"):
        render_form(algo.form_config, key=f"alg_preview_{algo.id}")
    with st.form(f"alg_edit_{algo.id}"):
        form_text = st.text_area(
            "form_config (JSON)",
            value=json.dumps(algo.form_config, indent=2),
            height=360,
            key=f"alg_form_{algo.id}",
        )
        space_text = st.text_area(
            "search_space (JSON)",
            value=json.dumps(algo.search_space, indent=2),
            height=160,
            key=f"alg_space_{algo.id}",
        )
        cols = st.columns(2)
        check = cols[0].form_submit_button("Validate")
        save = cols[1].form_submit_button("Save form")
    if check and attempt(lambda: check_edit(form_text, space_text)) is not None:
        st.success("valid: the form and the search space can be saved")
    if save:

        def store() -> AlgorithmConfig:
            form, space = check_edit(form_text, space_text)
            with session_scope() as session:
                return svc.update_form_config(
                    session,
                    actor=who,
                    algorithm_id=algo.id,  # type: ignore[arg-type]
                    form_config=form,
                    search_space=space,
                )

        if attempt(store, success=f"form of {algo.name} saved") is not None:
            st.rerun()


def render() -> None:
    st.title("Algorithms")
    who, _ = actor()
    if not who.is_superuser:
        st.error("Only administrators may manage algorithms.")
        return
    cols = st.columns([1, 2])
    scenario = cols[0].selectbox(
        "Scenario",
        [ALL, *[s.value for s in Scenario]],
        key="alg_scenario",
        format_func=lambda v: "all scenarios" if v == ALL else Scenario(v).display_name,
    )
    search = cols[1].text_input("Search", key="alg_search", placeholder="part of the name").strip().lower()
    with session_scope() as session:
        algos = svc.list_algorithms(session, scenario=None if scenario == ALL else scenario)
        running = {
            a.id: len(svc.running_jobs_of(session, actor=who, algorithm_id=a.id))  # type: ignore[arg-type]
            for a in algos
        }
    # The catalog holds a few algorithms per scenario: filtered and paged in memory.
    algos = [a for a in algos if not search or search in a.name.lower() or search in a.display_name.lower()]
    total, shown = slice_page("alg_list", algos)
    if shown:
        st.dataframe(_table(shown, running), hide_index=True)
    pager("alg_list", total, noun="algorithm(s)")
    if not shown:
        return
    algo = st.selectbox(
        "Algorithm", shown, key="alg_pick", format_func=lambda a: f"{a.display_name} ({a.scenario}, #{a.id})"
    )
    with session_scope() as session:
        algo = svc.get_algorithm_by_id(session, algorithm_id=algo.id)  # type: ignore[arg-type]
    _enable(who, algo)
    _edit(who, algo)
