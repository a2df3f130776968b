"""Prophet: fits a seasonal series, forecasts with intervals at the series' frequency, survives pickling,
continues from recent history, and the timeseries contract validates requests."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from algorithms.base.contracts import ContractError, Limits, ServedModel
from algorithms.base.timeseries import TimeseriesContract, forecast_metrics
from algorithms.prophet_model import ProphetAlgorithm


def weekly_series(n: int = 420, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 20 + 0.02 * t + 3 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.3, n)
    return pd.DataFrame(
        {"timestamp": pd.date_range("2023-01-02", periods=n, freq="D").astype(str), "value": y}
    )


@pytest.fixture(scope="module")
def fitted():
    return ProphetAlgorithm().fit(weekly_series().iloc[:350], {"horizon": 14})


def test_forecast_metrics_definitions() -> None:
    m = forecast_metrics(np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0]))
    assert m["mae"] == pytest.approx(1.0) and m["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert m["mape"] == pytest.approx((0 + 0.5 + 0.5) / 3)
    assert m["smape"] == pytest.approx((0 + 2 / 5 + 4 / 6) / 3)


def test_learns_trend_and_weekly_seasonality(fitted) -> None:
    metrics = ProphetAlgorithm().evaluate(fitted, weekly_series().iloc[350:])
    assert metrics["rmse"] < 0.6 and metrics["mape"] < 0.03  # amplitude 3, noise 0.3
    assert 0.6 <= metrics["coverage"] <= 0.95
    assert fitted.model.freq == "D" and fitted.model.default_steps == 14


def test_forecast_continues_at_the_series_frequency_with_intervals(fitted) -> None:
    model = pickle.loads(pickle.dumps(fitted.model))  # as it is stored in the MLflow model
    out, meta = model.forecast(None, 10)
    assert len(out) == 10 and meta["level_adjustment"] == 0.0
    expected = pd.date_range(fitted.model.last_timestamp, periods=11, freq="D")[1:]
    assert list(out["timestamp"]) == list(expected)
    assert (out["lower"] <= out["value"]).all() and (out["value"] <= out["upper"]).all()
    truth = weekly_series()["value"].to_numpy()[350:360]
    assert np.abs(out["value"].to_numpy() - truth).mean() < 0.6


def test_recent_history_moves_the_start_and_the_level(fitted) -> None:
    later = weekly_series(500).iloc[400:430]
    history = pd.DataFrame({"ds": pd.to_datetime(later["timestamp"]), "y": later["value"] + 5.0})
    out, meta = fitted.model.forecast(history, 3)
    assert out["timestamp"].iloc[0] == history["ds"].max() + pd.Timedelta(days=1)
    assert meta["level_adjustment"] == pytest.approx(5.0, abs=0.7)
    plain, _ = fitted.model.forecast(history, 3, adjust_level=False)
    assert out["value"].to_numpy() - plain["value"].to_numpy() == pytest.approx(
        [meta["level_adjustment"]] * 3
    )


def test_contract_answers_and_validates(fitted) -> None:
    served = ServedModel(uri="mem", pyfunc=None, python_model=fitted.model)
    contract = TimeseriesContract()
    out = contract.predict({"config": {"steps": 5}}, served, Limits())
    assert [set(p) for p in out["prediction"]] == [{"timestamp", "value", "lower", "upper"}] * 5
    assert out["metadata"]["count"] == 5 and out["metadata"]["freq"] == "D"
    assert len(contract.predict({}, served, Limits())["prediction"]) == 14  # the model's horizon
    bad = [
        {"config": {"steps": 1001}},
        {"config": {"steps": 0}},
        {"config": {"steps": "5"}},
        {"data": [{"timestamp": "2024-01-01", "value": "x"}]},
        {"data": [{"value": 1.0}]},
        {"data": {"timestamp": 1}},
        [],
    ]
    for body in bad:
        with pytest.raises(ContractError) as info:
            contract.predict(body, served, Limits())
        assert info.value.status == 422, body
    with pytest.raises(ContractError) as info:
        contract.predict(
            {"data": [{"timestamp": "2024-01-01", "value": 1.0}] * 3}, served, Limits(max_batch_size=2)
        )
    assert info.value.status == 413 and "MLOPS_PREDICT_MAX_BATCH_SIZE" in info.value.message


def test_logistic_growth_needs_a_cap() -> None:
    with pytest.raises(ValueError, match="cap"):
        ProphetAlgorithm().resolve_params({"growth": "logistic"})
    params = ProphetAlgorithm().resolve_params(
        {"growth": "logistic", "cap": 40, "yearly_seasonality": "false"}
    )
    assert params["cap"] == 40.0 and params["floor"] == 0.0 and params["yearly_seasonality"] is False


def test_settings_reach_the_fitted_and_served_model() -> None:
    params = {
        "growth": "flat",
        "seasonality_mode": "multiplicative",
        "changepoint_prior_scale": 0.3,
        "seasonality_prior_scale": 2.5,
        "interval_width": 0.95,
        "yearly_seasonality": "false",
        "weekly_seasonality": "true",
        "daily_seasonality": "false",
    }
    fitted = ProphetAlgorithm().fit(weekly_series(300), params)
    prophet = pickle.loads(pickle.dumps(fitted.model))._model  # rebuilt from Prophet's JSON, as served
    assert prophet.growth == "flat" and prophet.seasonality_mode == "multiplicative"
    assert prophet.changepoint_prior_scale == 0.3 and prophet.seasonality_prior_scale == 2.5
    assert prophet.interval_width == 0.95
    assert (
        set(prophet.seasonalities) == {"weekly"}
        and prophet.seasonalities["weekly"]["mode"] == "multiplicative"
    )
    # Flat growth: the trend component is one constant.
    assert np.ptp(fitted.model.raw_predict(pd.date_range("2024-01-01", periods=40))["trend"]) < 1e-9


def test_interval_width_sets_the_band() -> None:
    train = weekly_series(300)
    widths = {}
    for width in (0.5, 0.95):
        model = ProphetAlgorithm().fit(train, {"interval_width": width, "yearly_seasonality": "false"}).model
        out, _ = model.forecast(None, 20)
        widths[width] = float((out["upper"] - out["lower"]).mean())
    # Normal quantiles: the 95% band is about 2.9 times the 50% band (1.96 / 0.674).
    assert 2.2 < widths[0.95] / widths[0.5] < 3.6


def test_logistic_growth_stays_under_its_cap() -> None:
    t = np.arange(400)
    y = 50 / (1 + np.exp(-(t - 150) / 30)) + np.random.default_rng(3).normal(0, 0.5, 400)
    frame = pd.DataFrame({"timestamp": pd.date_range("2023-01-01", periods=400).astype(str), "value": y})
    fitted = ProphetAlgorithm().fit(
        frame,
        {
            "growth": "logistic",
            "cap": 50,
            "floor": 0,
            "yearly_seasonality": "false",
            "weekly_seasonality": "false",
        },
    )
    out, _ = fitted.model.forecast(None, 200)
    assert out["value"].max() <= 50.5 and out["value"].iloc[-1] > 45
