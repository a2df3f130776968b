"""ECOD: the served fast scorer reproduces pyod, thresholds, params, pyfunc input forms and metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from algorithms.base.anomaly import severity
from algorithms.ecod import EcodAlgorithm, engineer
from algorithms.registry import ALGORITHMS, get_algorithm
from tests.algorithms.conftest import make_series


def _mixed_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    # Right-skewed, left-skewed and symmetric columns exercise every branch of pyod's skewness rule.
    return pd.DataFrame(
        {
            "timestamp": np.arange(n),
            "a": rng.exponential(size=n),
            "b": -rng.lognormal(size=n),
            "c": rng.normal(size=n).round(1),  # rounding creates ties
        }
    )


def test_fast_scores_equal_pyod_on_single_rows() -> None:
    train = _mixed_frame(4000, seed=1)
    fitted = EcodAlgorithm().fit(train, {"contamination": 0.1})
    rows = _mixed_frame(60, seed=2)[["a", "b", "c"]].to_numpy() * 1.5
    ours = fitted.model.score(rows)
    pyod = np.array([fitted.detector.decision_function(rows[i : i + 1])[0] for i in range(len(rows))])
    np.testing.assert_allclose(ours, pyod, rtol=1e-9, atol=1e-9)
    # Values equal to training values (ties) too.
    tied = train[["a", "b", "c"]].to_numpy()[:20]
    pyod_tied = np.array([fitted.detector.decision_function(tied[i : i + 1])[0] for i in range(len(tied))])
    np.testing.assert_allclose(fitted.model.score(tied), pyod_tied, rtol=1e-9, atol=1e-9)


def test_fast_scores_rank_like_pyod_on_a_batch() -> None:
    fitted = EcodAlgorithm().fit(_mixed_frame(20000, seed=3), {})
    batch = _mixed_frame(5000, seed=4)[["a", "b", "c"]].to_numpy()
    rho = spearmanr(fitted.model.score(batch), fitted.detector.decision_function(batch)).statistic
    assert rho >= 0.999


def test_threshold_is_training_quantile_and_labels_follow_it() -> None:
    fitted = EcodAlgorithm().fit(make_series(2000, seed=5), {"contamination": 0.05})
    assert fitted.model.threshold == pytest.approx(np.percentile(fitted.detector.decision_scores_, 95))
    assert fitted.train_anomaly_rate == pytest.approx(0.05, abs=0.01)
    X = np.array([[0.0], [50.0]])
    scores, labels, thr = fitted.model.detect(X)
    assert labels.tolist() == [0, 1] and thr == fitted.model.threshold
    _, labels_high, _ = fitted.model.detect(X, threshold=float(scores.max()) + 1)
    assert labels_high.tolist() == [0, 0]


def test_evaluate_reports_detection_metrics_on_labelled_data() -> None:
    algorithm = get_algorithm("ECOD")
    fitted = algorithm.fit(make_series(3000, seed=6), {"contamination": 0.03})
    metrics = algorithm.evaluate(fitted, make_series(1000, seed=8))
    assert {"precision", "recall", "f1", "roc_auc"} <= set(metrics)
    assert metrics["roc_auc"] > 0.95 and metrics["recall"] > 0.8
    unlabelled = algorithm.evaluate(fitted, make_series(200, seed=9).drop(columns="label"))
    assert "f1" not in unlabelled and unlabelled["eval_samples"] == 200


@pytest.mark.parametrize(
    "params, message",
    [
        ({"contamination": 0}, "contamination"),
        ({"contamination": 0.6}, "contamination"),
        ({"lags": [0]}, "lags"),
        ({"rolling_windows": [1]}, "rolling_windows"),
        ({"lags": ["x"]}, "lags"),
    ],
)
def test_bad_params_are_refused(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EcodAlgorithm().resolve_params(params)


def test_feature_engineering_for_series() -> None:
    X = np.array([[1.0], [2.0], [4.0]])
    F = engineer(X, [1], [2])
    # raw, lag1 (first value stands in), rolling mean(2), rolling std(2)
    np.testing.assert_allclose(F, [[1, 1, 1, 0], [2, 1, 1.5, 0.5], [4, 2, 3, 1]])
    algorithm = EcodAlgorithm()
    fitted = algorithm.fit(make_series(1500, seed=10), {"lags": [1, 2], "rolling_windows": [5]})
    assert fitted.features == ["value", "value_lag1", "value_lag2", "value_mean5", "value_std5"]
    assert fitted.model.sorted_train.shape == (5, 1500)
    assert algorithm.evaluate(fitted, make_series(500, seed=11))["roc_auc"] > 0.8


def test_multivariate_pyfunc_accepts_columns_or_values_objects() -> None:
    fitted = EcodAlgorithm().fit(make_series(1000, seed=12, columns=("cpu", "mem")), {})
    model = fitted.model
    assert model.value_columns == ["cpu", "mem"]
    by_columns = model.predict(
        None, pd.DataFrame({"timestamp": ["t1", "t2"], "cpu": [0.1, 9.0], "mem": [0.0, 0.2]})
    )
    by_values = model.predict(
        None,
        pd.DataFrame(
            {"timestamp": ["t1", "t2"], "values": [{"cpu": 0.1, "mem": 0.0}, {"cpu": 9.0, "mem": 0.2}]}
        ),
    )
    pd.testing.assert_frame_equal(by_columns, by_values)
    assert list(by_columns.columns) == ["timestamp", "label", "score", "severity"]
    assert by_columns["label"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="cpu"):
        model.predict(None, pd.DataFrame({"timestamp": [1], "value": [1.0]}))


def test_severity_bands() -> None:
    scores = np.array([0.5, 1.1, 1.3, 2.0])
    labels = (scores > 1.0).astype(int)
    assert severity(scores, labels, 1.0) == ["normal", "low", "medium", "high"]
    # Threshold 0: a positive score is infinitely far above it; a labelled NaN score is "low".
    assert severity(np.array([0.0, 3.0, np.nan]), np.array([0, 1, 1]), 0.0) == ["normal", "high", "low"]
    assert severity(np.array([np.nan]), np.array([1]), 2.0) == ["low"]
    # Band edges: exactly 1.25x and 1.5x the threshold are medium and high.
    assert severity(np.array([2.5, 3.0, 2.4999]), np.array([1, 1, 1]), 2.0) == ["medium", "high", "low"]


def test_registry_lookup() -> None:
    assert ALGORITHMS["ECOD"] is EcodAlgorithm
    with pytest.raises(KeyError, match="known"):
        get_algorithm("NOPE")


def test_rolling_statistics_of_choice() -> None:
    X = np.array([[1.0], [5.0], [3.0], [2.0]])
    F = engineer(X, [], [3], ("min", "max", "median"))
    np.testing.assert_allclose(F[:, 1:], [[1, 1, 1], [1, 5, 3], [1, 5, 3], [2, 5, 3]])
    params = EcodAlgorithm().resolve_params({"rolling_windows": [3], "rolling_stats": "median,min"})
    assert params["rolling_stats"] == ["min", "median"]  # canonical order: the feature layout is stable
    fitted = EcodAlgorithm().fit(make_series(600, seed=14), params)
    assert fitted.features == ["value", "value_min3", "value_median3"]
    with pytest.raises(ValueError, match="rolling_stats"):
        EcodAlgorithm().resolve_params({"rolling_stats": ["mode"]})


@pytest.mark.parametrize("threshold", [0.0, 1.0, 2.5])
def test_severity_is_the_same_for_a_few_records_and_for_many(threshold: float) -> None:
    rng = np.random.default_rng(7)
    scores = np.concatenate([rng.uniform(0, 5, 200), [np.nan, 0.0, threshold * 1.25, threshold * 1.5]])
    labels = (rng.uniform(size=len(scores)) > 0.3).astype(np.int64)
    many = severity(scores, labels, threshold)  # the vectorised path
    few = [severity(scores[i : i + 1], labels[i : i + 1], threshold)[0] for i in range(len(scores))]
    assert few == many
    assert set(many) == {"normal", "low", "medium", "high"} - ({"medium"} if threshold == 0 else set())
