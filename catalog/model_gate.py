"""The promotion gate and alias history, pure: metrics in, a decision out (no database, no MLflow).

A gate compares a candidate version with the current champion on the same evaluation release
(``flows.models.promote_model`` evaluates both in one container and calls ``decide``); its metric is the model's
``gate_metric`` or, when unset, the scenario's first metric the evaluation could compute (labelled metrics come
first: F1 before the anomaly rate, grouping accuracy before coverage). ``rollback_target`` replays a model's champion history.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from catalog.errors import ValidationError, quote
from catalog.scenarios import Scenario

ALIASES: tuple[str, ...] = ("champion", "challenger")
CHAMPION, CHALLENGER = ALIASES
LATEST = "latest"


@dataclass(frozen=True, slots=True)
class GateMetric:
    name: str
    direction: str  # "max": higher is better; "min": lower is better
    label: str


def _m(name: str, direction: str, label: str) -> GateMetric:
    return GateMetric(name, direction, label)


# In order of preference: the first one an evaluation computed is the default gate metric.
SCENARIO_METRICS: dict[str, tuple[GateMetric, ...]] = {
    Scenario.ANOMALY_DETECTION.value: (
        _m("f1", "max", "F1 of the labelled points"),
        _m("roc_auc", "max", "ROC-AUC of the scores against the labels"),
        _m("anomaly_rate", "min", "share of points flagged (no labels)"),
    ),
    Scenario.TIMESERIES_PREDICT.value: (
        _m("mape", "min", "mean absolute percentage error on the evaluation split"),
        _m("rmse", "min", "root mean squared error on the evaluation split"),
    ),
    Scenario.LOG_CLUSTERING.value: (
        _m("grouping_accuracy", "max", "grouping accuracy against the labelled templates"),
        _m("coverage", "max", "share of lines matched to a template"),
    ),
    Scenario.TEXT_CLASSIFICATION.value: (
        _m("accuracy", "max", "accuracy"),
        _m("f1_macro", "max", "macro F1"),
    ),
    Scenario.IMAGE_CLASSIFICATION.value: (
        _m("top1", "max", "top-1 accuracy"),
        _m("top5", "max", "top-5 accuracy"),
    ),
    Scenario.OBJECT_DETECTION.value: (
        _m("mAP50", "max", "mAP at IoU 0.5"),
        _m("mAP50-95", "max", "mAP at IoU 0.5-0.95"),
    ),
}


def metrics_of(scenario: str) -> tuple[GateMetric, ...]:
    return SCENARIO_METRICS[scenario]


def gate_metric(scenario: str, name: str) -> GateMetric:
    """The scenario's metric called ``name`` (ValidationError listing the scenario's metrics)."""
    for metric in SCENARIO_METRICS.get(scenario, ()):
        if metric.name == name:
            return metric
    known = ", ".join(m.name for m in SCENARIO_METRICS.get(scenario, ()))
    raise ValidationError(f"{quote(name)} is not a gate metric of {scenario}; its metrics: {known}")


def parse_version_ref(value: str | int | None) -> str:
    """'latest', a positive version number, or an alias (``ALIASES``) — as a serving or a lookup names one."""
    text = str(value if value is not None else LATEST).strip().removeprefix("@")
    if text == LATEST or text in ALIASES or (text.isdigit() and int(text) > 0):
        return text
    raise ValidationError(
        f"model version {quote(text)} must be 'latest', an alias ({', '.join(ALIASES)}) "
        "or a positive version number"
    )


@dataclass(frozen=True, slots=True)
class Gate:
    metric: str | None
    threshold: float | None
    tolerance: float


@dataclass(frozen=True, slots=True)
class Decision:
    promote: bool
    reason: str
    metric: str | None = None
    direction: str | None = None
    candidate_value: float | None = None
    champion_value: float | None = None


def _value(metrics: Mapping[str, object] | None, name: str) -> float | None:
    raw = (metrics or {}).get(name)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return None
    return float(raw)


def choose_metric(scenario: str, gate: Gate, candidate: Mapping[str, object]) -> GateMetric | None:
    """The gate's metric, else the scenario's first one the candidate's evaluation has a value for."""
    if gate.metric:
        return gate_metric(scenario, gate.metric)
    return next((m for m in metrics_of(scenario) if _value(candidate, m.name) is not None), None)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def decide(
    scenario: str,
    gate: Gate,
    *,
    candidate_version: int,
    candidate: Mapping[str, object],
    champion_version: int | None,
    champion: Mapping[str, object] | None,
) -> Decision:
    """Promote the candidate when its metric meets the threshold and is no worse than the champion's by more
    than the tolerance (on the same evaluation release); otherwise reject, saying why."""
    metric = choose_metric(scenario, gate, candidate)
    if metric is None:
        names = ", ".join(m.name for m in metrics_of(scenario))
        return Decision(False, f"the evaluation of v{candidate_version} computed none of {names}")
    better = metric.direction == "max"
    value = _value(candidate, metric.name)
    base = {"metric": metric.name, "direction": metric.direction, "candidate_value": value}
    if value is None:
        return Decision(False, f"the evaluation of v{candidate_version} has no {metric.name}", **base)  # type: ignore[arg-type]
    if gate.threshold is not None:
        passes = value >= gate.threshold if better else value <= gate.threshold
        if not passes:
            side = "below" if better else "above"
            return Decision(
                False,
                f"{metric.name} {_fmt(value)} of v{candidate_version} is {side} the threshold {_fmt(gate.threshold)}",
                **base,  # type: ignore[arg-type]
            )
    if champion_version is None:
        return Decision(
            True, f"v{candidate_version} is the first champion ({metric.name} {_fmt(value)})", **base
        )  # type: ignore[arg-type]
    reference = _value(champion, metric.name)
    if reference is None:
        return Decision(
            True,
            f"champion v{champion_version} has no {metric.name} on the evaluation release; "
            f"v{candidate_version} ({_fmt(value)}) takes its place",
            **base,  # type: ignore[arg-type]
        )
    worse_by = (reference - value) if better else (value - reference)
    detail = dict(base, champion_value=reference)
    if worse_by > gate.tolerance:
        return Decision(
            False,
            f"{metric.name} {_fmt(value)} of v{candidate_version} is worse than champion v{champion_version}'s "
            f"{_fmt(reference)} by {_fmt(worse_by)}, more than the tolerance {_fmt(gate.tolerance)}",
            **detail,  # type: ignore[arg-type]
        )
    return Decision(
        True,
        f"{metric.name} {_fmt(value)} of v{candidate_version} against champion v{champion_version}'s "
        f"{_fmt(reference)} (tolerance {_fmt(gate.tolerance)})",
        **detail,  # type: ignore[arg-type]
    )


@dataclass(frozen=True, slots=True)
class Move:
    """One recorded alias move: ``version`` None clears the alias; ``cause`` as ``AliasCause``."""

    alias: str
    version: int | None
    cause: str


def rollback_target(history: Iterable[Move], alias: str = CHAMPION) -> int | None:
    """The version ``alias`` goes back to: its history replayed as a stack (a promotion or a move by hand pushes,
    a rollback pops), so repeated rollbacks walk back through earlier champions, never forwards again."""
    stack: list[int | None] = []
    for move in history:
        if move.alias != alias:
            continue
        if move.cause == "rollback":
            if stack:
                stack.pop()
        elif not stack or stack[-1] != move.version:
            # A move to the version already held is no step: rolling it back must not land on the same version.
            stack.append(move.version)
    return stack[-2] if len(stack) >= 2 else None
