"""Models page, a model's gate: its configuration (metric, threshold, tolerance, evaluation release; changed
with ``models:manage``, read-only otherwise), the gate's results (every evaluation: its decision, metric,
candidate against champion, and the reason — a rejection marked as such), and the history of its aliases."""

from __future__ import annotations

from typing import Any

import streamlit as st

from catalog.db import session_scope
from catalog.errors import CatalogError
from catalog.model_gate import metrics_of
from catalog.models import EvaluationStatus, Model, ModelEvaluation
from catalog.scoping import Actor
from catalog.services import model_promotion as promo
from catalog.services import models as svc
from catalog.services import names as names_svc
from dashboard.permissions import button, gate, read_only_note
from dashboard.views.common import attempt, name_of, records, when
from dashboard.views.paging import fetch_page, pager
from dashboard.views.training_form import release_choices

STATUS_LABEL: dict[str, str] = {
    EvaluationStatus.PENDING: "⏳ pending",
    EvaluationStatus.RUNNING: "⏳ running",
    EvaluationStatus.PROMOTED: "✅ promoted",
    EvaluationStatus.REJECTED: "❌ rejected",
    EvaluationStatus.FAILED: "⚠️ failed",
}
DEFAULT_METRIC = "the scenario's first metric the evaluation computes"
FIRST_RELEASE = "the first candidate's training release (fixed when a promotion is first asked for)"


def _direction(direction: str) -> str:
    return "higher is better" if direction == "max" else "lower is better"


def render_gate(who: Actor, model: Model) -> None:
    """The gate's configuration as a form: saved at once with ``models:manage``; read-only otherwise."""
    allowed = gate(who, "models:manage", model.team_id)
    st.caption(
        "A candidate is promoted when its metric on the evaluation release meets the threshold and is no worse "
        "than the champion's on the same release by more than the tolerance."
    )
    read_only_note(allowed)
    metrics = {m.name: m for m in metrics_of(model.scenario)}
    metric_options: list[str | None] = [None, *metrics]
    try:
        _, releases = release_choices(who, model.scenario, model.team_id, None)
    except CatalogError:  # a role reading models but not the team's datasets: no choice but the current one
        releases = []
    labels = dict(releases)
    if model.evaluation_release_id is not None and model.evaluation_release_id not in labels:
        with session_scope() as session:  # archived since, or older than the newest choices
            labels |= names_svc.release_labels(session, actor=who, release_ids=[model.evaluation_release_id])
    release_options: list[int | None] = [None, *labels]
    with st.form(f"md_gate_{model.id}"):
        metric = st.selectbox(
            "Metric",
            metric_options,
            index=metric_options.index(model.gate_metric) if model.gate_metric in metric_options else 0,
            format_func=lambda n: (
                DEFAULT_METRIC
                if n is None
                else f"{n}: {metrics[n].label} ({_direction(metrics[n].direction)})"
            ),
            key=f"md_gate_metric_{model.id}",
            **allowed.widget_args,
        )
        # A checkbox, not an empty number: a form does not rerun, and "no threshold" must be a clear choice.
        bounded = st.checkbox(
            "Require a threshold",
            value=model.gate_threshold is not None,
            key=f"md_gate_bounded_{model.id}",
            **allowed.widget_args,
        )
        threshold = st.number_input(
            "Threshold (the metric's worst acceptable value)",
            value=model.gate_threshold if model.gate_threshold is not None else 0.0,
            format="%.6g",
            key=f"md_gate_threshold_{model.id}",
            **allowed.widget_args,
        )
        tolerance = st.number_input(
            "Tolerance against the champion",
            min_value=0.0,
            value=float(model.gate_tolerance),
            format="%.6g",
            key=f"md_gate_tolerance_{model.id}",
            **allowed.widget_args,
        )
        release = st.selectbox(
            "Evaluation release",
            release_options,
            index=release_options.index(model.evaluation_release_id)
            if model.evaluation_release_id in release_options
            else 0,
            format_func=lambda r: FIRST_RELEASE if r is None else name_of(labels, r),
            key=f"md_gate_release_{model.id}",
            **allowed.widget_args,
        )
        if button("Save gate", allowed, key=f"md_gate_save_{model.id}", submit=True):
            attempt(
                lambda: _save_gate(who, model, metric, threshold if bounded else None, tolerance, release),
                success="gate saved",
            )


def _save_gate(
    who: Actor,
    model: Model,
    metric: str | None,
    threshold: float | None,
    tolerance: float,
    release_id: int | None,
) -> None:
    # An empty field unsets what the model holds (the service's ``clear``); a value sets it.
    clear = [
        name
        for name, value in (
            ("metric", metric),
            ("threshold", threshold),
            ("evaluation_release_id", release_id),
        )
        if value is None
    ]
    with session_scope() as session:
        svc.configure_gate(
            session,
            actor=who,
            model_id=model.id,  # type: ignore[arg-type]
            metric=metric,
            threshold=threshold,
            tolerance=tolerance,
            evaluation_release_id=release_id,
            clear=clear,
        )


def evaluation_rows(who: Actor, evaluations: list[ModelEvaluation]) -> list[dict[str, Any]]:
    with session_scope() as session:
        releases = names_svc.release_labels(
            session, actor=who, release_ids=[e.release_id for e in evaluations]
        )
    return records(
        evaluations,
        [
            "evaluation",
            "version",
            "status",
            "metric",
            "candidate",
            "champion",
            "champion value",
            "threshold",
            "tolerance",
            "evaluation release",
            "reason",
            "automatic",
            "finished_at",
        ],
        {
            "evaluation": lambda e: e.id,
            "version": lambda e: f"v{e.version}",
            "status": lambda e: STATUS_LABEL.get(e.status, e.status),
            "candidate": lambda e: e.candidate_value,
            "champion": lambda e: f"v{e.champion_version}" if e.champion_version is not None else "-",
            "champion value": lambda e: e.champion_value,
            "evaluation release": lambda e: name_of(releases, e.release_id),
        },
    )


def render_evaluations(who: Actor, model: Model) -> None:
    """Every run of the gate, newest first; the rejections of the page repeated in red with their reason."""
    key = f"md_evals_{model.id}"

    def fetch(offset: int, limit: int) -> tuple[int, list[ModelEvaluation]]:
        with session_scope() as session:
            return promo.list_evaluations(session, actor=who, model_id=model.id, offset=offset, limit=limit)  # type: ignore[arg-type]

    total, evaluations, _ = fetch_page(key, fetch)
    if not evaluations:
        st.caption("The gate has not been asked yet: Promote a version, or train with auto-promote.")
        return
    st.dataframe(evaluation_rows(who, evaluations), hide_index=True)
    pager(key, total, noun="evaluation(s)")
    for evaluation in evaluations:
        if evaluation.status == EvaluationStatus.REJECTED:
            st.error(f"v{evaluation.version} rejected (evaluation #{evaluation.id}): {evaluation.reason}")


def render_alias_history(who: Actor, model: Model) -> None:
    with session_scope() as session:
        events = promo.alias_history(session, actor=who, model_id=model.id)  # type: ignore[arg-type]
        users = names_svc.resource_names(
            session,
            actor=who,
            resources=[("user", str(e.actor_id)) for e in events if e.actor_id is not None],
        )
    if not events:
        st.caption("No alias has been set yet.")
        return
    st.dataframe(
        [
            {
                "when": when(e.created_at),
                "alias": e.alias,
                "from": f"v{e.previous_version}" if e.previous_version is not None else "-",
                "to": f"v{e.version}" if e.version is not None else "-",
                "cause": e.cause,
                "evaluation": f"#{e.evaluation_id}" if e.evaluation_id is not None else "",
                "by": users.get(("user", str(e.actor_id)), f"#{e.actor_id}")
                if e.actor_id is not None
                else "",
            }
            for e in reversed(events)  # newest first, as every list
        ],
        hide_index=True,
    )
