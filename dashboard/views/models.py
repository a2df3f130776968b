"""Models page of a scenario: the scenario's models (searched, paged in SQL) with their aliases and how many
versions each has, and one model: its versions, the buttons that move its aliases, the promotion gate
(``model_panels``), its results and alias history, a comparison of two versions and a version's lineage
(``model_compare``).

Promote asks the gate (``model_promotion.request_promotion``, then the ``promote-model`` flow) and follows the
evaluation with a fragment that re-reads it every ``MLOPS_DASHBOARD_REFRESH_SECONDS`` until it ends, then
reruns the page so the versions and the gate's results show the decision. Roll back and setting an alias by
hand move the alias in the catalog, then launch ``model-aliases-moved`` (MLflow's aliases and the servings that
follow them catch up). Promote and Roll back need ``models:promote`` on the model's team, setting an alias and
the gate ``models:manage``: without it the controls are drawn disabled, the refusal as their tooltip.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st

from catalog.db import session_scope
from catalog.model_gate import ALIASES, metrics_of
from catalog.models import OPEN_EVALUATIONS, EvaluationStatus, Model, ModelEvaluation, ModelVersion
from catalog.scoping import Actor
from catalog.services import model_promotion as promo
from catalog.services import models as svc
from catalog.services import names as names_svc
from dashboard.permissions import button, gate, read_only_note
from dashboard.views.common import actor, attempt, name_of, page_scenario, stable_picker, when
from dashboard.views.model_compare import render_compare, render_lineage
from dashboard.views.model_panels import STATUS_LABEL, render_alias_history, render_evaluations, render_gate
from dashboard.views.paging import fetch_page, pager, search_box
from flows.launch import flow_run_url, run_flow
from infra.settings import get_settings

PICK_KEY = "md_pick"
VERSION_CHOICES = 100  # newest versions offered by the pickers (promote, alias, compare, lineage)
DECISIONS_READ = 100  # newest evaluations read for the versions list's "gate" column and the follow panel
FOLLOW_SECONDS = 300.0  # a pending evaluation no flow run claimed within this is no longer followed
KEY_METRICS = 3  # metric columns of the versions list when none of the scenario's gate metrics was logged


def aliases_of(model: Model, version: int) -> list[str]:
    return [alias for alias in ALIASES if getattr(model, f"{alias}_version") == version]


def key_metrics(scenario: str, versions: list[ModelVersion]) -> list[str]:
    """The metrics the versions list shows: the scenario's gate metrics that some version logged, else the
    first few metric names logged (the comparison shows every metric)."""
    logged = {name for v in versions for name in v.metrics}
    preferred = [m.name for m in metrics_of(scenario) if m.name in logged]
    return preferred or sorted(logged)[:KEY_METRICS]


def version_rows(
    who: Actor, model: Model, versions: list[ModelVersion], decisions: dict[int, str]
) -> list[dict[str, Any]]:
    """The versions list's rows: each version's job by name and release as ``dataset version`` (looked up for the
    page at once), run status, key metrics, aliases and the gate's last decision on it."""
    with session_scope() as session:
        jobs = names_svc.job_names(session, actor=who, job_ids=[v.job_id for v in versions])
        releases = names_svc.release_labels(session, actor=who, release_ids=[v.release_id for v in versions])
    shown = key_metrics(model.scenario, versions)
    return [
        {
            "version": v.version,
            "aliases": ", ".join(aliases_of(model, v.version)),
            "job": name_of(jobs, v.job_id),
            "dataset version": name_of(releases, v.release_id),
            "run status": v.run_status,
            **{name: _rounded(v.metrics.get(name)) for name in shown},
            "gate": decisions.get(v.version, ""),
            "registered": when(v.created_at),
        }
        for v in versions
    ]


def _rounded(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def _models(who: Actor, scenario: str) -> list[Model]:
    search = search_box("md_list", "Search models")

    def fetch(offset: int, limit: int) -> tuple[int, list[Model]]:
        with session_scope() as session:
            return svc.list_models(
                session, actor=who, scenario=scenario, search=search, offset=offset, limit=limit
            )

    total, rows, _ = fetch_page("md_list", fetch)
    if rows:
        with session_scope() as session:
            counts = names_svc.version_counts(session, actor=who, model_ids=[m.id for m in rows])
            teams = names_svc.team_names(session, actor=who, team_ids=[m.team_id for m in rows])
        st.dataframe(
            [
                {
                    "id": m.id,
                    "name": m.name,
                    "team": name_of(teams, m.team_id),
                    "versions": counts.get(m.id, 0),  # type: ignore[arg-type]
                    "champion": _version_label(m.champion_version),
                    "challenger": _version_label(m.challenger_version),
                    "gate metric": m.gate_metric or "default",
                    "updated": when(m.updated_at),
                }
                for m in rows
            ],
            hide_index=True,
        )
    pager("md_list", total, noun="model(s)")
    return rows


def _version_label(version: int | None) -> str:
    return f"v{version}" if version is not None else "-"


def models_picker(rows: list[Model]) -> Model:
    return stable_picker("Model", {m.id: m for m in rows}, lambda m: f"{m.name} (#{m.id})", key=PICK_KEY)


# ---------------------------------------------------------------- following an evaluation


def _following(evaluation: ModelEvaluation) -> bool:
    """Whether the gate's evaluation is worth refreshing for: running, or pending since moments ago (a pending one
    that no flow run claimed for long is stuck; the page says so instead of refreshing forever)."""
    if evaluation.status == EvaluationStatus.RUNNING:
        return True
    if evaluation.status != EvaluationStatus.PENDING:
        return False
    return (datetime.now(UTC) - evaluation.created_at).total_seconds() < FOLLOW_SECONDS


def evaluation_panel(who: Actor, evaluation: ModelEvaluation) -> None:
    """The open evaluation, re-read every few seconds while it is followed; the page reruns when it ends."""
    refresh = get_settings().dashboard.refresh_seconds
    every = timedelta(seconds=refresh) if _following(evaluation) else None

    @st.fragment(run_every=every)
    def panel() -> None:
        with session_scope() as session:
            fresh = promo.get_evaluation(session, actor=who, evaluation_id=evaluation.id)  # type: ignore[arg-type]
        if fresh.status in OPEN_EVALUATIONS:
            text = f"The gate is evaluating v{fresh.version} ({fresh.status})"
            if every is not None:
                st.progress(
                    0.5 if fresh.status == EvaluationStatus.RUNNING else 0.1,
                    text=f"{text}… (refreshing every {refresh:g} s)",
                )
            else:
                st.warning(f"{text} since {when(fresh.created_at)}: no flow run has finished it.")
            if url := flow_run_url(fresh.flow_run_id):
                st.markdown(f"[Prefect flow run]({url})")
        if every is not None and not _following(fresh):
            st.rerun()  # decided: the whole page (versions, aliases, gate results) shows the outcome

    panel()


def _outcome(newest: ModelEvaluation) -> None:
    """The gate's latest decision, where it cannot be missed (a rejection in red, with its reason)."""
    label = f"Gate, evaluation #{newest.id} of v{newest.version}: {newest.status}"  # its colour says the rest
    if newest.status == EvaluationStatus.PROMOTED:
        st.success(f"{label}. {newest.reason}")
    elif newest.status == EvaluationStatus.REJECTED:
        st.error(f"{label}. {newest.reason}")
    elif newest.status == EvaluationStatus.FAILED:
        st.warning(f"{label}. {newest.reason}")


# ---------------------------------------------------------------- actions


def _aliases_moved(model_id: int) -> None:
    """MLflow's aliases (and the servings following an alias) catch up with the catalog's move."""
    try:
        run_flow("model-aliases-moved", {"model_id": model_id}, wait=False)
    except (LookupError, RuntimeError, TimeoutError) as exc:
        st.warning(
            f"The alias moved in the catalog, but model-aliases-moved could not be launched ({exc}): MLflow's "
            "aliases and the servings following it are not updated yet."
        )


def _promote(who: Actor, model: Model, version: int) -> int:
    with session_scope() as session:
        evaluation = promo.request_promotion(
            session,
            actor=who,
            model_id=model.id,
            version=version,
            scenario=model.scenario,  # type: ignore[arg-type]
        )
        evaluation_id: int = evaluation.id  # type: ignore[assignment]
    try:
        run_flow("promote-model", {"evaluation_id": evaluation_id}, wait=False)
    except (LookupError, RuntimeError, TimeoutError) as exc:
        # Nothing will run it: the evaluation ends failed with the reason, as the API's launch failure does
        # (api/routes/model_aliases.py), instead of staying pending for ever.
        with session_scope() as session:
            promo.abandon_evaluation(
                session,
                actor=who,
                evaluation_id=evaluation_id,
                error=str(exc),
            )
        raise RuntimeError(
            f"evaluation #{evaluation_id} of v{version} failed: the gate could not be launched: {exc}"
        ) from None
    return evaluation_id


def _rollback(who: Actor, model: Model) -> None:
    before = model.champion_version
    with session_scope() as session:
        moved = promo.rollback(session, actor=who, model_id=model.id)  # type: ignore[arg-type]
        after = moved.champion_version
    st.success(f"champion rolled back from {_version_label(before)} to {_version_label(after)}")
    _aliases_moved(model.id)  # type: ignore[arg-type]


def _set_alias(who: Actor, model: Model, alias: str, version: int | None) -> None:
    with session_scope() as session:
        promo.set_alias(session, actor=who, model_id=model.id, alias=alias, version=version)  # type: ignore[arg-type]
    st.success(f"{alias} now {_version_label(version)}" if version is not None else f"{alias} cleared")
    _aliases_moved(model.id)  # type: ignore[arg-type]


def _actions(who: Actor, model: Model, choices: list[ModelVersion]) -> None:
    promote = gate(who, "models:promote", model.team_id)
    finished = [v.version for v in choices if v.run_status == "FINISHED"]
    candidates = [v for v in finished if v != model.champion_version]
    cols = st.columns([2, 1, 1])
    picked = cols[0].selectbox(
        "Version to promote",
        candidates or [None],
        format_func=lambda v: f"v{v}" if v is not None else "no version to promote",
        key=f"md_promote_version_{model.id}",
        **promote.widget_args,
    )
    if button(
        "Promote",
        promote,
        key=f"md_promote_{model.id}",
        where=cols[1],
        disabled=picked is None,
        help="ask the promotion gate: the version becomes champion if it passes",
    ):
        evaluation_id = attempt(lambda: _promote(who, model, int(picked)))
        if evaluation_id is not None:
            st.success(f"the gate is evaluating v{picked} (evaluation #{evaluation_id})")
    if button(
        "Roll back",
        promote,
        key=f"md_rollback_{model.id}",
        where=cols[2],
        disabled=model.champion_version is None,
        help="move the champion back to the previous champion",
    ):
        attempt(lambda: _rollback(who, model))
    with st.expander("Set an alias by hand (bypasses the gate)"):
        manage = gate(who, "models:manage", model.team_id)
        read_only_note(manage)
        cols = st.columns(3)
        alias = cols[0].selectbox("Alias", list(ALIASES), key=f"md_alias_{model.id}", **manage.widget_args)
        target = cols[1].selectbox(
            "Points at",
            [*finished, None],
            format_func=lambda v: f"v{v}" if v is not None else "nothing (clear it)",
            key=f"md_alias_version_{model.id}",
            **manage.widget_args,
        )
        if button("Set alias", manage, key=f"md_alias_set_{model.id}", where=cols[2]):
            attempt(lambda: _set_alias(who, model, alias, target))


# ---------------------------------------------------------------- detail


def _versions(who: Actor, model: Model, decisions: dict[int, str]) -> None:
    key = f"md_versions_{model.id}"

    def fetch(offset: int, limit: int) -> tuple[int, list[ModelVersion]]:
        with session_scope() as session:
            return svc.list_versions(session, actor=who, model_id=model.id, offset=offset, limit=limit)  # type: ignore[arg-type]

    total, versions, _ = fetch_page(key, fetch)
    if versions:
        st.dataframe(version_rows(who, model, versions, decisions), hide_index=True)
    else:
        st.caption(
            "No version yet: a training job targeting this model registers one when its run completes."
        )
    pager(key, total, noun="version(s)")


def _header(who: Actor, model_id: int, total: int) -> None:
    with session_scope() as session:  # read last: what the actions and the gate form below just changed
        model = svc.get_model(session, actor=who, model_id=model_id)
    cols = st.columns(4)
    cols[0].metric("Champion", _version_label(model.champion_version))
    cols[1].metric("Challenger", _version_label(model.challenger_version))
    cols[2].metric("Versions", str(total))
    cols[3].metric("Gate metric", model.gate_metric or "default")


def _detail(who: Actor, model: Model) -> None:
    with session_scope() as session:
        total, choices = svc.list_versions(session, actor=who, model_id=model.id, limit=VERSION_CHOICES)  # type: ignore[arg-type]
    st.subheader(f"{model.name} (#{model.id})")
    st.caption(
        f"MLflow registered model `{model.mlflow_name}`"
        + (f" · {model.description}" if model.description else "")
    )
    # Everything above the tabs sits in containers that are always drawn: a message coming or going must not
    # move the tabs, or the browser would show the first tab again after the rerun.
    header = st.container()  # drawn above the actions, filled after them (and after the gate form)
    with st.container():
        _actions(who, model, choices)
    with session_scope() as session:  # after the actions: a promotion just asked for is followed at once
        model = svc.get_model(session, actor=who, model_id=model.id)  # type: ignore[arg-type]
        _, evaluations = promo.list_evaluations(session, actor=who, model_id=model.id, limit=DECISIONS_READ)  # type: ignore[arg-type]
    with st.container():
        if evaluations and evaluations[0].status in OPEN_EVALUATIONS:
            evaluation_panel(who, evaluations[0])
        elif evaluations:
            _outcome(evaluations[0])
    decisions: dict[int, str] = {}
    for evaluation in reversed(evaluations):  # oldest first: the newest decision on a version wins
        decisions[evaluation.version] = STATUS_LABEL.get(evaluation.status, evaluation.status)
    tabs = st.tabs(["Versions", "Gate", "Gate results", "Alias history", "Compare", "Lineage"])
    with tabs[0]:
        _versions(who, model, decisions)
    with tabs[1]:
        render_gate(who, model)
    with tabs[2]:
        render_evaluations(who, model)
    with tabs[3]:
        render_alias_history(who, model)
    with tabs[4]:
        render_compare(who, model, choices)
    with tabs[5]:
        render_lineage(who, model, choices)
    with header:
        _header(who, model.id, total)  # type: ignore[arg-type]


def render(scenario: str | None = None) -> None:
    st.title("Models")
    who, _ = actor()
    scenario = page_scenario(scenario, "md_scenario")
    rows = _models(who, scenario)
    if not rows:
        st.info(
            "No model yet. A training job registers its versions in a model (named after the job unless it "
            "targets an existing one)."
        )
        return
    _detail(who, models_picker(rows))
