"""PELT: change points found where the series changes, event windows marked, fast costs equal ruptures',
penalties as in R's changepoint, TCPDBench metrics on their documented examples, the contract's metadata."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
import ruptures as rpt

from algorithms.base.anomaly import AnomalyContract
from algorithms.base.changepoints import change_points_from_labels, covering, f_measure
from algorithms.base.contracts import ContractError, Limits, ServedModel
from algorithms.pelt import PeltAlgorithm, _make_cumsum_cost, penalty_value


def shifted_series(
    seed: int, n: int = 600, cps: tuple[int, ...] = (150, 320, 450), window: int = 3
) -> pd.DataFrame:
    """Piecewise-constant means (jumps of 3 noise sd) with labels on the event window of each change."""
    rng = np.random.default_rng(seed)
    levels = np.repeat([0.0, 3.0, -1.0, 2.5][: len(cps) + 1], np.diff([0, *cps, n]))
    label = np.zeros(n, dtype=int)
    for c in cps:
        label[c - window : c + window + 1] = 1
    return pd.DataFrame({"timestamp": np.arange(n), "value": levels + rng.normal(0, 1, n), "label": label})


def test_finds_the_changes_and_marks_their_windows() -> None:
    algorithm = PeltAlgorithm()
    fitted = algorithm.fit(shifted_series(1), {"event_window": 3, "jump": 1})
    data = shifted_series(2)
    _, labels, _, info = fitted.model.detect_with_info(data[["value"]].to_numpy())
    found = [c["index"] for c in info["change_points"]]
    assert len(found) == 3 and all(abs(f - t) <= 3 for f, t in zip(found, (150, 320, 450)))
    for f in found:
        assert labels[f - 3 : f + 4].all()
    assert labels.sum() == 3 * 7
    metrics = algorithm.evaluate(fitted, data)
    assert metrics["cp_f1"] == 1.0 and metrics["n_change_points"] == 3 and metrics["f1"] > 0.5


def test_request_threshold_keeps_only_large_changes() -> None:
    fitted = PeltAlgorithm().fit(shifted_series(3), {"jump": 1})
    X = shifted_series(4)[["value"]].to_numpy()
    _, _, _, info = fitted.model.detect_with_info(X)
    sizes = sorted(c["size"] for c in info["change_points"])
    # The -1 → 2.5 change is the smallest in z units; a threshold between it and the others drops it.
    _, labels, _, kept = fitted.model.detect_with_info(X, threshold=(sizes[0] + sizes[1]) / 2)
    assert len(kept["change_points"]) == 2 and labels.sum() == 2 * 11


@pytest.mark.parametrize("kind", ["l2", "normal"])
def test_cumsum_costs_equal_ruptures_costs(kind: str) -> None:
    signal = np.random.default_rng(5).normal(size=(200, 2))
    ours = _make_cumsum_cost(kind, mbic=False).fit(signal)
    theirs = rpt.costs.cost_factory(kind).fit(signal)
    for start, end in [(0, 200), (10, 57), (100, 103)]:
        if kind == "l2":
            assert ours.error(start, end) == pytest.approx(theirs.error(start, end), rel=1e-9)
        else:
            # ruptures' normal cost uses the full covariance; ours the diagonal: equal for one column.
            one = _make_cumsum_cost(kind, mbic=False).fit(signal[:, :1])
            ref = rpt.costs.CostNormal(add_small_diag=False).fit(signal[:, :1])
            assert one.error(start, end) == pytest.approx(ref.error(start, end), rel=1e-6)
    mbic = _make_cumsum_cost(kind, mbic=True).fit(signal)
    assert mbic.error(10, 57) == pytest.approx(ours.error(10, 57) + math.log(47))


def test_penalties_follow_r_changepoint() -> None:
    n = 500
    assert penalty_value({"penalty": "BIC", "cost": "l2"}, n, 1) == pytest.approx(2 * math.log(n))
    assert penalty_value({"penalty": "MBIC", "cost": "l2"}, n, 1) == pytest.approx(3 * math.log(n))
    assert penalty_value({"penalty": "MBIC", "cost": "normal"}, n, 1) == pytest.approx(4 * math.log(n))
    assert penalty_value({"penalty": "value", "penalty_value": 7.5, "cost": "rbf"}, n, 1) == 7.5


def test_tcpdbench_metric_examples() -> None:
    # The examples in TCPDBench's metrics.py docstrings.
    assert f_measure({1: [10, 20], 2: [11, 20], 3: [10], 4: [0, 5]}, [10, 20])[0] == pytest.approx(1.0)
    assert f_measure({1: [], 2: [10], 3: [50]}, [10])[0] == pytest.approx(0.9090909090909091)
    assert f_measure({1: [], 2: [10], 3: [50]}, [])[0] == pytest.approx(0.8)
    assert covering({1: [10, 20], 2: [10], 3: [0, 5]}, [10, 20], 45) == pytest.approx(0.7962962962962963)
    assert covering({1: [], 2: [10], 3: [40]}, [10], 45) == pytest.approx(0.7954144620811286)
    assert covering({1: [], 2: [10], 3: [40]}, [], 45) == pytest.approx(0.8189300411522634)


def test_truth_change_points_are_the_centres_of_labelled_runs() -> None:
    assert change_points_from_labels(np.array([0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1])) == [2, 6, 10]


def test_contract_reports_change_points_with_timestamps() -> None:
    fitted = PeltAlgorithm().fit(shifted_series(6), {"jump": 1})
    data = shifted_series(7)
    body = {"data": [{"timestamp": f"t{i}", "value": float(v)} for i, v in enumerate(data["value"])]}
    model = pickle.loads(pickle.dumps(fitted.model))
    served = ServedModel(uri="mem", pyfunc=None, python_model=model)
    contract = AnomalyContract()
    assert not contract.runs_inline(served)  # a segmentation is too slow for the event loop
    out = contract.predict(body, served, Limits())
    cps = out["metadata"]["change_points"]
    assert len(cps) == 3 and all(c["timestamp"] == f"t{c['index']}" for c in cps)
    assert out["metadata"]["anomalies"] == sum(r["label"] for r in out["results"]) > 0
    with pytest.raises(ContractError) as info:
        contract.predict(body, served, Limits(max_batch_size=10))
    assert info.value.status == 413


def test_rbf_refuses_long_series_and_bad_params_are_named() -> None:
    model = PeltAlgorithm().fit(shifted_series(8, n=300, cps=(100, 200)), {"cost": "rbf"}).model
    with pytest.raises(ValueError, match="rbf"):
        model.segment(np.zeros((6000, 1)))
    with pytest.raises(ValueError, match="cost"):
        PeltAlgorithm().resolve_params({"cost": "l3"})


@pytest.mark.parametrize("cost", ["l1", "l2", "rbf", "normal"])
def test_every_cost_finds_mean_shifts(cost: str) -> None:
    fitted = PeltAlgorithm().fit(shifted_series(9), {"cost": cost, "jump": 1})
    metrics = PeltAlgorithm().evaluate(fitted, shifted_series(10))
    assert metrics["cp_f1"] == 1.0 and metrics["n_change_points"] == 3


def test_normal_cost_sees_a_change_of_variance_that_l2_does_not() -> None:
    rng = np.random.default_rng(11)
    values = np.r_[rng.normal(0, 1, 300), rng.normal(0, 4, 300)]
    frame = pd.DataFrame({"timestamp": np.arange(600), "value": values})
    found = {}
    for cost in ("l2", "normal"):
        model = PeltAlgorithm().fit(frame, {"cost": cost, "penalty": "MBIC", "jump": 1}).model
        found[cost] = [c["index"] for c in model.detect_with_info(values[:, None])[3]["change_points"]]
    assert found["l2"] == [] and len(found["normal"]) == 1 and abs(found["normal"][0] - 300) <= 10


def test_min_size_jump_and_penalty_value_shape_the_segmentation() -> None:
    data = shifted_series(12, cps=(150, 170, 450))  # two changes 20 points apart
    X = data[["value"]].to_numpy()

    def found(params: dict[str, object]) -> list[int]:
        model = PeltAlgorithm().fit(data, params).model
        return [c["index"] for c in model.detect_with_info(X)[3]["change_points"]]

    close = found({"jump": 1, "min_size": 5})
    assert len(close) == 3 and abs(close[0] - 150) <= 3 and abs(close[1] - 170) <= 3
    for min_size in (30, 60):  # no segment shorter than min_size, so the 20-point one cannot be isolated
        cps = found({"jump": 1, "min_size": min_size})
        assert cps and min(np.diff([0, *cps, len(X)])) >= min_size
    assert all(c % 25 == 0 for c in found({"jump": 25}))  # candidates only every jump points
    assert found({"jump": 1, "penalty": "value", "penalty_value": 1e6}) == []
    assert found({"jump": 1, "penalty": 1e6}) == []  # a number as the penalty itself
    assert len(found({"jump": 1, "penalty": "value", "penalty_value": 10.0})) >= 3
