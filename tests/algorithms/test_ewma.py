"""EWMA: vectorised residuals equal the recursive definition, spikes are found, n_consecutive and direction
decide what is reported, and the model pickles and scores the same."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from algorithms.base.anomaly import runs_at_least
from algorithms.ewma import EwmaAlgorithm, ewma_residuals
from tests.algorithms.conftest import make_series


def test_vectorised_residuals_equal_the_recursion() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2)).cumsum(axis=0)
    alpha = 0.2
    expected = np.zeros_like(X)
    level = X[0].copy()
    for t in range(1, len(X)):
        expected[t] = X[t] - level
        level = alpha * X[t] + (1 - alpha) * level
    np.testing.assert_allclose(ewma_residuals(X, alpha), expected, atol=1e-10)


def test_runs_at_least_keeps_only_long_runs() -> None:
    mask = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 1], dtype=bool)
    assert runs_at_least(mask, 1).tolist() == mask.tolist()
    assert runs_at_least(mask, 2).astype(int).tolist() == [0, 0, 1, 1, 0, 1, 1, 1, 0, 0]
    assert runs_at_least(mask, 3).astype(int).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 0, 0]
    assert not runs_at_least(mask, 4).any()


def test_finds_spikes_in_a_labelled_series() -> None:
    algorithm = EwmaAlgorithm()
    fitted = algorithm.fit(make_series(3000, seed=1), {"span": 10, "threshold": 4.0})
    metrics = algorithm.evaluate(fitted, make_series(2000, seed=2))
    # A spike also shifts the average, so the point after it is sometimes flagged: precision < recall.
    assert metrics["recall"] >= 0.95 and metrics["precision"] >= 0.5 and metrics["roc_auc"] > 0.95
    # The scale is robust to the spikes: well below the plain standard deviation of the residuals.
    residuals = ewma_residuals(make_series(3000, seed=1)[["value"]].to_numpy(), fitted.model.alpha)
    assert fitted.model.scale[0] < 0.6 * residuals.std()


def test_n_consecutive_and_direction_decide_what_is_reported() -> None:
    train = pd.DataFrame({"value": np.random.default_rng(3).normal(0, 1, 2000)})
    x = np.zeros(60)
    x[10] = 20.0  # one isolated spike up
    x[30:34] = -20.0  # a dip lasting four points
    X = x.reshape(-1, 1)

    def labels(**params: object) -> list[int]:
        fitted = EwmaAlgorithm().fit(train, {"smoothing": "alpha", "alpha": 0.01, "threshold": 5.0} | params)
        return np.flatnonzero(fitted.model.detect(X)[1]).tolist()

    assert 10 in labels() and set(range(30, 34)) <= set(labels())
    assert labels(n_consecutive=3) == [30, 31, 32, 33]  # the whole run, not only from its third point
    assert 10 not in labels(direction="down") and 30 in labels(direction="down")
    assert labels(direction="up") == [10]


def test_request_threshold_overrides_and_model_pickles() -> None:
    fitted = EwmaAlgorithm().fit(make_series(1000, seed=4), {})
    X = make_series(300, seed=5)[["value"]].to_numpy()
    scores, labels, thr = fitted.model.detect(X)
    assert thr == 3.0 and labels.sum() > 0
    _, none, _ = fitted.model.detect(X, threshold=float(scores.max()) + 1)
    assert none.sum() == 0
    clone = pickle.loads(pickle.dumps(fitted.model))
    np.testing.assert_array_equal(clone.score(X), scores)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"span": 1}, "span"),
        ({"smoothing": "alpha", "alpha": 0}, "alpha"),
        ({"direction": "left"}, "direction"),
        ({"n_consecutive": 0}, "n_consecutive"),
    ],
)
def test_invalid_params_are_named(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EwmaAlgorithm().resolve_params(params)
