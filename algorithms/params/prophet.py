"""Parameters of the timeseries_predict algorithm ``Prophet`` (``algorithms.prophet_model``)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import model_validator

from algorithms.params.model import ParamModel, param
from algorithms.params.space import Choice, LogUniform, Uniform

# auto, on or off: Prophet's own values (a form or a CLI may send "true"/"false", read as the booleans).
Seasonality = Literal["auto", True, False]
# Most steps one forecast request returns (algorithms.base.timeseries.MAX_STEPS; tests/algorithms/test_params.py
# holds them equal): the default horizon may not exceed it.
HORIZON_MAX = 1000


class ProphetParams(ParamModel):
    growth: Literal["linear", "flat", "logistic"] = param(
        "linear",
        label="Growth",
        help="Trend shape; logistic saturates at the capacity below.",
    )
    cap: float | None = param(
        None,
        depends_on={"growth": "logistic"},
        required=True,
        label="Capacity",
        help="Upper saturation level of a logistic trend.",
    )
    floor: float = param(
        0.0,
        depends_on={"growth": "logistic"},
        label="Floor",
        help="Lower saturation level of a logistic trend (below the capacity).",
    )
    yearly_seasonality: Seasonality = param(
        "auto",
        label="Yearly seasonality",
        help="auto: on when the data covers more than two years.",
    )
    weekly_seasonality: Seasonality = param(
        "auto",
        label="Weekly seasonality",
        help="auto: on when the data covers more than two weeks at sub-weekly spacing.",
    )
    daily_seasonality: Seasonality = param(
        "auto",
        label="Daily seasonality",
        help="auto: on when the data covers more than two days at sub-daily spacing.",
    )
    seasonality_mode: Literal["additive", "multiplicative"] = param(
        "additive",
        label="Seasonality mode",
        help="multiplicative when seasonal swings grow with the level of the series.",
    )
    changepoint_prior_scale: float = param(
        0.05,
        ge=0.0001,
        le=10.0,
        label="Changepoint prior scale",
        help="Flexibility of the trend: higher follows more changes (and overfits sooner).",
    )
    seasonality_prior_scale: float = param(
        10.0,
        ge=0.001,
        le=100.0,
        label="Seasonality prior scale",
        help="Flexibility of the seasonalities: lower damps them.",
    )
    changepoint_range: float = param(
        0.8,
        ge=0.5,
        le=1.0,
        label="Changepoint range",
        help="Share of the history in which trend changepoints may be placed.",
    )
    n_changepoints: int = param(
        25,
        ge=0,
        le=1000,
        label="Number of changepoints",
        help="Potential changepoints placed uniformly in the changepoint range.",
    )
    interval_width: float = param(
        0.8,
        ge=0.5,
        le=0.99,
        label="Interval width",
        help="Coverage of the forecast's uncertainty interval.",
    )
    horizon: int = param(
        30,
        ge=1,
        le=HORIZON_MAX,
        label="Horizon (steps)",
        help=f"Steps a forecast request returns when it does not say (config.steps, at most {HORIZON_MAX}), at "
        "the series' frequency.",
    )
    freq: str = param(
        "",
        label="Frequency",
        help="pandas frequency alias of the series (e.g. D, h, 5min). Empty: inferred from the timestamps.",
    )
    value_column: str = param(
        "",
        label="Value column",
        help="The column to forecast. Empty: value (or y), else the only numeric column but label.",
    )

    TUNING: ClassVar = {
        "changepoint_prior_scale": LogUniform(low=0.001, high=0.5),
        "seasonality_prior_scale": LogUniform(low=0.01, high=10.0),
        "seasonality_mode": Choice(options=["additive", "multiplicative"]),
        "changepoint_range": Uniform(low=0.8, high=0.95),
    }

    @model_validator(mode="after")
    def _floor_below_cap(self) -> ProphetParams:
        if self.growth == "logistic" and self.cap is not None and self.floor >= self.cap:
            raise ValueError(f"floor {self.floor} must be below cap {self.cap}")
        return self
