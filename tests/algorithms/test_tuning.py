"""Tuning: TPE over a platform search space finds good params, respects types and bounds, stops early when
it stops improving, survives failing trials, and encodes trials as MLflow metrics."""

from __future__ import annotations

import math
from typing import Any

import pytest

from algorithms.base.tuning import (
    TRIAL_LOSS_METRIC,
    Objective,
    Trial,
    trial_metrics,
    tune,
)
from algorithms.ewma import EwmaAlgorithm
from algorithms.pelt import PeltAlgorithm

SPACE: dict[str, Any] = {
    "x": {"type": "uniform", "low": -5.0, "high": 5.0},
    "scale": {"type": "loguniform", "low": 0.001, "high": 10.0},
    "k": {"type": "quniform", "low": 1, "high": 9, "q": 1},
    "lags": {"type": "choice", "options": [[], [1], [1, 2, 3]]},
}


def test_tpe_minimises_and_returns_values_of_each_parameters_type() -> None:
    seen: list[dict[str, Any]] = []

    def evaluate(p: dict[str, Any]) -> dict[str, float]:
        seen.append(p)
        return {"err": (p["x"] - 2.0) ** 2 + abs(p["k"] - 4) + len(p["lags"]) + abs(math.log10(p["scale"]))}

    result = tune(evaluate, SPACE, Objective("err", "min"), max_evals=60, patience=60, seed=1)
    assert len(result.trials) == 60 and not result.stopped_early
    for p in seen:
        assert -5 <= p["x"] <= 5 and isinstance(p["x"], float)
        assert 0.001 <= p["scale"] <= 10.0  # loguniform bounds are in the parameter's own units
        assert isinstance(p["k"], int) and 1 <= p["k"] <= 9
        assert p["lags"] in ([], [1], [1, 2, 3])
    best = result.best_params
    assert best == result.trials[result.best_trial].params
    assert result.best_loss == min(t.loss for t in result.trials if t.loss is not None)
    assert result.best_loss < 2.5 and abs(best["x"] - 2.0) < 1.5  # a random point averages ~7.5
    # TPE beats its own random start-up phase: the best trial is not among the first few.
    assert result.best_loss < min(t.loss for t in result.trials[:5])  # type: ignore[type-var]


def test_maximised_objective_negates_the_metric() -> None:
    result = tune(lambda p: {"f1": 1 - abs(p["x"])}, {"x": SPACE["x"]}, Objective("f1", "max"), max_evals=30)
    assert result.best_loss <= -0.8
    assert result.trials[result.best_trial].metrics["f1"] == pytest.approx(-result.best_loss)


def test_stops_early_when_the_loss_stops_improving() -> None:
    result = tune(lambda p: {"m": 1.0}, {"x": SPACE["x"]}, Objective("m", "min"), max_evals=100, patience=5)
    assert result.stopped_early and len(result.trials) < 20


def test_failed_trials_are_recorded_not_fatal() -> None:
    def evaluate(p: dict[str, Any]) -> dict[str, float]:
        if p["x"] < 0:
            raise ValueError("negative x is not allowed")
        return {"m": p["x"]}

    result = tune(evaluate, {"x": SPACE["x"]}, Objective("m", "min"), max_evals=30, patience=30)
    failed = [t for t in result.trials if t.loss is None]
    assert failed and all("negative x" in (t.error or "") for t in failed)
    assert result.best_params["x"] >= 0


def test_every_trial_failing_raises_with_the_reasons() -> None:
    with pytest.raises(RuntimeError, match="needs the metric 'f1'"):
        tune(lambda p: {"precision": 1.0}, {"x": SPACE["x"]}, Objective("f1"), max_evals=3)


def test_trial_metrics_encode_params_and_choices_as_numbers() -> None:
    trial = Trial(number=3, params={"x": 1.5, "k": 2, "lags": [1]}, loss=-0.7, metrics={"f1": 0.7})
    metrics = trial_metrics(trial, SPACE)
    assert metrics[TRIAL_LOSS_METRIC] == -0.7
    assert metrics["tuning_trial_f1"] == 0.7
    assert metrics["tuning_trial_param_x"] == 1.5 and metrics["tuning_trial_param_k"] == 2.0
    assert metrics["tuning_trial_param_lags"] == 1.0  # index of [1] among the options


def test_algorithms_make_sampled_params_effective() -> None:
    ewma = EwmaAlgorithm()
    base = ewma.resolve_params({"smoothing": "alpha", "alpha": 0.3})
    assert ewma.resolve_params(ewma.tuning_params(base, {"span": 9}))["span"] == 9
    pelt = PeltAlgorithm()
    base = pelt.resolve_params({"penalty": "BIC"})
    tuned = pelt.resolve_params(pelt.tuning_params(base, {"penalty_value": 3.0}))
    assert tuned["penalty"] == "value" and tuned["penalty_value"] == 3.0
