"""Prophet forecasting for timeseries_predict: trend (linear, flat or logistic), seasonalities, changepoints,
forecasts with uncertainty intervals. (Not named ``prophet.py``: that would shadow the package.)

Data: a ``timestamp`` (or ``ds``) column and the value column (``value_column`` param, else ``value``/``y``,
else the only numeric column but ``label``); rows are sorted by time, missing values dropped.
Params (``algorithms.params.prophet.ProphetParams``): ``growth`` (linear | flat | logistic, with ``cap`` and
``floor``), ``yearly/weekly/daily_seasonality`` (auto | true | false), ``seasonality_mode``,
``changepoint_prior_scale``, ``seasonality_prior_scale``, ``changepoint_range``, ``n_changepoints``,
``interval_width``, ``horizon`` (the default number of steps a request forecasts, ≤ 1000) and ``freq``
(pandas alias; empty: inferred from the training timestamps).

Serving: the fitted model is stored as Prophet's JSON (its documented serialisation) and rebuilt on load.
Intervals come from ``SERVE_UNCERTAINTY_SAMPLES`` simulated trend paths instead of Prophet's 1,000 (a
one-row predict costs ~59 ms with 1,000): at an 80% interval 200 samples place each bound within a few
percent of its value. When a request sends recent history, the forecast starts after it and is shifted by
the mean residual of the model over that history (``adjust_level``), so a series that has drifted since
training is continued from where it is.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature

from algorithms.base.algorithm import Algorithm
from algorithms.base.plots import forecast_figure
from algorithms.base.timeseries import (
    SCENARIO,
    TimeseriesPythonModel,
    forecast_metrics,
    timeseries_signature,
)
from algorithms.base.tuning import Objective
from algorithms.params.prophet import ProphetParams

SERVE_UNCERTAINTY_SAMPLES = 200


def _warnings_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def quiet_prophet() -> None:
    # cmdstanpy logs two INFO lines per fit and prophet one per disabled seasonality: noise in job logs.
    # A filter rather than a level: cmdstanpy resets its logger's level when it first logs.
    for name in ("cmdstanpy", "prophet", "prophet.models"):
        logger = logging.getLogger(name)
        if _warnings_only not in logger.filters:
            logger.addFilter(_warnings_only)


def build_prophet(params: dict[str, Any]) -> Any:
    """An unfitted ``Prophet`` with the resolved params (also used by the quality benchmark)."""
    from prophet import Prophet

    quiet_prophet()
    return Prophet(
        growth=params["growth"],
        yearly_seasonality=params["yearly_seasonality"],
        weekly_seasonality=params["weekly_seasonality"],
        daily_seasonality=params["daily_seasonality"],
        seasonality_mode=params["seasonality_mode"],
        changepoint_prior_scale=params["changepoint_prior_scale"],
        seasonality_prior_scale=params["seasonality_prior_scale"],
        changepoint_range=params["changepoint_range"],
        n_changepoints=params["n_changepoints"],
        interval_width=params["interval_width"],
    )


def infer_freq(ds: pd.Series) -> str:
    """The pandas alias of the series' spacing: ``infer_freq`` on the tail, else the median step."""
    tail = pd.DatetimeIndex(ds.iloc[-200:])
    if len(tail) >= 3:
        guessed = pd.infer_freq(tail)
        if guessed:
            return guessed
    steps = np.diff(pd.DatetimeIndex(ds).asi8)
    if len(steps) == 0 or np.median(steps) <= 0:
        raise ValueError("cannot infer the series frequency: give 'freq'")
    return pd.tseries.frequencies.to_offset(pd.Timedelta(int(np.median(steps)), unit="ns")).freqstr


class ProphetPythonModel(TimeseriesPythonModel):
    """Served Prophet; the Prophet object is rebuilt from JSON after unpickling, and predicts under a lock
    (Prophet's predict sets attributes on the model while it runs)."""

    def __init__(
        self,
        model_json: str,
        freq: str,
        default_steps: int,
        last_timestamp: pd.Timestamp,
        bounds: dict[str, float],
    ) -> None:
        self.model_json = model_json
        self.freq = freq
        self.default_steps = int(default_steps)
        self.last_timestamp = pd.Timestamp(last_timestamp)
        self.bounds = dict(bounds)  # cap/floor of a logistic trend
        self._setup()

    def _setup(self) -> None:
        from prophet.serialize import model_from_json

        quiet_prophet()
        self._model = model_from_json(self.model_json)
        self._model.uncertainty_samples = SERVE_UNCERTAINTY_SAMPLES
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_model", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()

    def raw_predict(self, ds: pd.Series | pd.DatetimeIndex) -> pd.DataFrame:
        frame = pd.DataFrame({"ds": pd.DatetimeIndex(ds)})
        for key, value in self.bounds.items():
            frame[key] = value
        with self._lock:
            return self._model.predict(frame)

    def forecast(
        self, history: pd.DataFrame | None, steps: int, adjust_level: bool = True
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        last = self.last_timestamp
        if history is not None and len(history):
            last = max(last, history["ds"].max())
        future = pd.date_range(start=last, periods=steps + 1, freq=self.freq)[1:]
        use_history = adjust_level and history is not None and len(history) > 0
        ds = pd.DatetimeIndex(history["ds"]).append(future) if use_history else future
        predicted = self.raw_predict(ds)
        shift = 0.0
        if use_history:
            fitted = predicted["yhat"].to_numpy()[: len(history)]
            shift = float(np.mean(history["y"].to_numpy() - fitted))
            predicted = predicted.iloc[len(history) :]
        out = pd.DataFrame(
            {
                "timestamp": future,
                "value": predicted["yhat"].to_numpy() + shift,
                "lower": predicted["yhat_lower"].to_numpy() + shift,
                "upper": predicted["yhat_upper"].to_numpy() + shift,
            }
        )
        return out, {"freq": self.freq, "level_adjustment": shift}


@dataclass
class ProphetFitted:
    model: ProphetPythonModel
    train_samples: int
    fit_seconds: float
    value_column: str = ""
    interval_width: float = 0.8


class ProphetAlgorithm(Algorithm):
    scenario: ClassVar[str] = SCENARIO
    name: ClassVar[str] = "Prophet"
    param_model: ClassVar[type[ProphetParams]] = ProphetParams
    serving_requirements: ClassVar[tuple[str, ...]] = ("numpy", "pandas", "prophet")
    objective: ClassVar[Objective] = Objective("rmse", "min")

    @staticmethod
    def series(frame: pd.DataFrame, value_column: str = "") -> pd.DataFrame:
        """``ds``/``y`` of a split, sorted by time, rows with a missing value dropped."""
        time_col = "timestamp" if "timestamp" in frame.columns else "ds" if "ds" in frame.columns else None
        if time_col is None:
            raise ValueError(f"no 'timestamp' column in data columns {list(frame.columns)}")
        if value_column:
            if value_column not in frame.columns:
                raise ValueError(f"value_column {value_column!r} not in data columns {list(frame.columns)}")
            col = value_column
        else:
            candidates = [c for c in ("value", "y") if c in frame.columns] or [
                c
                for c in frame.columns
                if c not in (time_col, "label") and pd.api.types.is_numeric_dtype(frame[c])
            ]
            if len(candidates) != 1 and not {"value", "y"} & set(candidates):
                raise ValueError(f"cannot tell the value column among {candidates}: give 'value_column'")
            col = candidates[0]
        ds = pd.to_datetime(frame[time_col])
        if ds.dt.tz is not None:
            ds = ds.dt.tz_localize(None)  # Prophet refuses timezone-aware timestamps
        out = pd.DataFrame({"ds": ds, "y": pd.to_numeric(frame[col], errors="coerce")}).dropna()
        return out.sort_values("ds", kind="stable").reset_index(drop=True)

    def holdout(self, train: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        return super().holdout(self.series(train))

    def fit(self, train: pd.DataFrame, params: dict[str, Any]) -> ProphetFitted:
        from prophet.serialize import model_to_json

        params = self.resolve_params(params)
        df = self.series(train, params["value_column"])
        if len(df) < 3:
            raise ValueError(f"Prophet needs at least 3 dated values, got {len(df)}")
        bounds = {"cap": params["cap"], "floor": params["floor"]} if params["growth"] == "logistic" else {}
        for key, value in bounds.items():
            df[key] = value
        model = build_prophet(params)
        started = time.perf_counter()
        model.fit(df)
        fit_seconds = time.perf_counter() - started
        served = ProphetPythonModel(
            model_to_json(model),
            params["freq"] or infer_freq(df["ds"]),
            params["horizon"],
            df["ds"].iloc[-1],
            bounds,
        )
        return ProphetFitted(
            model=served,
            train_samples=len(df),
            fit_seconds=fit_seconds,
            value_column=params["value_column"],
            interval_width=params["interval_width"],
        )

    def evaluate(self, fitted: ProphetFitted, data: pd.DataFrame) -> dict[str, float]:
        df = self.series(data, fitted.value_column)
        if df.empty:
            return {"eval_samples": 0.0}
        predicted = fitted.model.raw_predict(df["ds"])
        y = df["y"].to_numpy()
        inside = (y >= predicted["yhat_lower"].to_numpy()) & (y <= predicted["yhat_upper"].to_numpy())
        return forecast_metrics(y, predicted["yhat"].to_numpy()) | {
            "coverage": float(inside.mean()),
            "eval_samples": float(len(df)),
        }

    def plots(self, fitted: ProphetFitted, data: pd.DataFrame) -> dict[str, Any]:
        """``forecast``: the evaluation split's actual values against the forecast and its interval."""
        df = self.series(data, fitted.value_column)
        if df.empty:
            return {}
        predicted = fitted.model.raw_predict(df["ds"])
        width = fitted.interval_width
        return {
            "forecast": forecast_figure(
                df["ds"].to_numpy(),
                df["y"].to_numpy(),
                predicted["yhat"].to_numpy(),
                predicted["yhat_lower"].to_numpy(),
                predicted["yhat_upper"].to_numpy(),
                title=f"Prophet: forecast and {width:.0%} interval vs actual ({len(df)} points)",
            )
        }

    def training_metrics(self, fitted: ProphetFitted) -> dict[str, float]:
        return {"train_samples": float(fitted.train_samples), "fit_seconds": fitted.fit_seconds}

    def pyfunc_model(self, fitted: ProphetFitted) -> ProphetPythonModel:
        return fitted.model

    def signature(self) -> ModelSignature:
        return timeseries_signature()

    def model_metadata(self, fitted: ProphetFitted) -> dict[str, Any]:
        return super().model_metadata(fitted) | {
            "freq": fitted.model.freq,
            "horizon": fitted.model.default_steps,
            "last_timestamp": fitted.model.last_timestamp.isoformat(),
        }
