"""Hyperparameter search: hyperopt TPE over a form's search space, with early stopping, logged to MLflow.

Search space (validated by the platform against the form): ``{param: {"type": "uniform"|"loguniform"|
"quniform"|"choice", "low", "high", "q", "options"}}``. ``low``/``high`` are in the parameter's own units for
every type, also ``loguniform`` (hyperopt wants their logs). ``quniform`` values whose ``q`` is an integer
come back as ``int`` (integer form fields only accept quniform with an integer q).

Each trial fits with ``base params | sampled params`` and scores the algorithm's declared objective (a metric
on the validation data, maximised or minimised); hyperopt minimises ``loss`` (the metric, negated when it
is maximised). A trial that raises is recorded as failed, not fatal: some corners of a space are invalid
(e.g. a min_size too large for a short series). The search stops after ``max_evals`` trials or when the best
loss has not improved for ``patience`` trials.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from algorithms.params.space import parse_space

DEFAULT_PATIENCE = 10
TRIAL_LOSS_METRIC = "tuning_trial_loss"
TRIAL_PARAM_PREFIX = "tuning_trial_"


@dataclass(frozen=True)
class Objective:
    """The validation metric an algorithm is tuned for."""

    metric: str
    direction: str = "max"  # "max" or "min"

    def loss(self, metrics: dict[str, float]) -> float:
        if self.metric not in metrics:
            raise KeyError(
                f"tuning needs the metric {self.metric!r} on the validation data, got {sorted(metrics)} "
                "(labels missing?)"
            )
        value = float(metrics[self.metric])
        if not math.isfinite(value):
            raise ValueError(f"objective {self.metric} is {value}")
        return -value if self.direction == "max" else value


@dataclass
class Trial:
    number: int
    params: dict[str, Any]
    loss: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None


@dataclass
class TuningResult:
    best_params: dict[str, Any]
    best_loss: float
    best_trial: int
    trials: list[Trial]
    stopped_early: bool

    def as_json(self) -> str:
        return json.dumps(
            {
                "best_params": self.best_params,
                "best_loss": self.best_loss,
                "best_trial": self.best_trial,
                "stopped_early": self.stopped_early,
                "trials": [t.__dict__ for t in self.trials],
            },
            default=str,
            indent=1,
        )


def tune(
    evaluate: Callable[[dict[str, Any]], dict[str, float]],
    search_space: dict[str, Any],
    objective: Objective,
    *,
    max_evals: int,
    patience: int = DEFAULT_PATIENCE,
    seed: int = 0,
    on_trial: Callable[[Trial], None] | None = None,
) -> TuningResult:
    """TPE search: ``evaluate(sampled_params)`` → validation metrics. Returns the best sampled params."""
    from hyperopt import STATUS_FAIL, STATUS_OK, Trials, tpe
    from hyperopt import fmin as _fmin
    from hyperopt.early_stop import no_progress_loss
    from hyperopt.exceptions import AllTrialsFailed

    if max_evals < 1:
        raise ValueError("max_evals must be >= 1")
    if not search_space:
        raise ValueError("tuning needs a non-empty search space")
    entries = parse_space(search_space)
    trials_log: list[Trial] = []

    def run(sampled: dict[str, Any]) -> dict[str, Any]:
        # hyperopt returns numpy floats (and choice indices): the algorithm gets plain values of its types.
        params = {k: entries[k].plain(v) for k, v in sampled.items()}
        started = time.perf_counter()
        trial = Trial(number=len(trials_log), params=params, loss=None)
        try:
            trial.metrics = {k: float(v) for k, v in evaluate(params).items()}
            trial.loss = objective.loss(trial.metrics)
        except Exception as exc:  # noqa: BLE001 - one bad corner of the space must not end the search
            trial.error = f"{type(exc).__name__}: {exc}"
        trial.seconds = time.perf_counter() - started
        trials_log.append(trial)
        if on_trial is not None:
            on_trial(trial)
        if trial.loss is None:
            # The early-stop rule reads every trial's loss: a failure counts as no progress.
            return {"status": STATUS_FAIL, "loss": math.inf}
        return {"status": STATUS_OK, "loss": trial.loss}

    hp_trials = Trials()
    try:
        _fmin(
            run,
            {name: entry.hyperopt(name) for name, entry in entries.items()},
            algo=tpe.suggest,
            max_evals=max_evals,
            trials=hp_trials,
            rstate=np.random.default_rng(seed),
            early_stop_fn=no_progress_loss(patience),
            show_progressbar=False,
            verbose=False,
        )
    except AllTrialsFailed:
        pass  # reported below with the trials' own errors
    ok = [t for t in trials_log if t.loss is not None]
    if not ok:
        errors = "; ".join(sorted({t.error or "" for t in trials_log}))[:2000]
        raise RuntimeError(f"every tuning trial failed: {errors}")
    best = min(ok, key=lambda t: t.loss)  # type: ignore[arg-type, return-value]
    return TuningResult(
        best_params=dict(best.params),
        best_loss=float(best.loss),  # type: ignore[arg-type]
        best_trial=best.number,
        trials=trials_log,
        stopped_early=len(trials_log) < max_evals,
    )


def trial_metrics(trial: Trial, search_space: dict[str, Any]) -> dict[str, float]:
    """A trial as MLflow metrics (logged with ``step = trial number``): its loss, its objective-side
    metrics and its params (a choice logged as its option index, since metrics are numbers)."""
    out: dict[str, float] = {}
    if trial.loss is not None:
        out[TRIAL_LOSS_METRIC] = trial.loss
    for name, value in trial.metrics.items():
        out[f"{TRIAL_PARAM_PREFIX}{name}"] = value
    entries = parse_space(search_space)
    for name, value in trial.params.items():
        metric = entries[name].metric(value)
        if metric is not None:
            out[f"{TRIAL_PARAM_PREFIX}param_{name}"] = metric
    return out
