"""The timeseries_predict contract, shared by every forecasting algorithm's pyfunc model and by the server.

Request (``forecast_request``): ``{"data": [{"timestamp", "value"}] (recent history, optional; timestamps ISO
8601), "config": {"steps" (1..1000; default: the model's horizon), "adjust_level"? (default true)}}``.
Response (``ForecastResponse``): ``{"prediction": [{"timestamp", "value", "lower", "upper"}], "metadata":
{"model_uri", "model_version", "count", "steps", "history_points", "freq", "level_adjustment",
"execution_ms"}}``. The forecast starts one step after the later of the training data's end and the history's
end; timestamps are ISO 8601 strings.

Pyfunc input: a DataFrame with ``timestamp`` and ``value`` (possibly empty), params ``{"steps": int,
"adjust_level": bool}``. Output: a DataFrame with ``timestamp, value, lower, upper``.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, ClassVar, NotRequired

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ParamSchema, ParamSpec
from pydantic import AfterValidator, Field, StrictBool
from typing_extensions import TypedDict

from algorithms.base.contracts import Limits, ScenarioContract, ServedModel, schema_error
from algorithms.base.requests import RECORDS, Declared, integer, number, object_type

SCENARIO = "timeseries_predict"
MAX_STEPS = 1000
PREDICTION_COLUMNS: tuple[str, ...] = ("timestamp", "value", "lower", "upper")


def timeseries_signature() -> ModelSignature:
    return ModelSignature(
        inputs=None,
        params=ParamSchema([ParamSpec("steps", "long", None), ParamSpec("adjust_level", "boolean", True)]),
    )


def forecast_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, MAPE (over non-zero actuals) and sMAPE (symmetric, in [0, 2])."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    err = p - y
    nonzero = y != 0
    denom = np.abs(y) + np.abs(p)
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "mape": float(np.mean(np.abs(err[nonzero] / y[nonzero]))) if nonzero.any() else float("nan"),
        "smape": float(np.mean(np.where(denom > 0, 2 * np.abs(err) / np.where(denom > 0, denom, 1), 0.0))),
    }


def iso(timestamps: pd.Series | pd.DatetimeIndex) -> list[str]:
    return [t.isoformat() for t in pd.DatetimeIndex(timestamps)]


class TimeseriesPythonModel(mlflow.pyfunc.PythonModel):
    """Base of the forecasting pyfunc models."""

    scenario: ClassVar[str] = SCENARIO
    default_steps: int = 30
    freq: str = ""

    @abstractmethod
    def forecast(
        self, history: pd.DataFrame | None, steps: int, adjust_level: bool = True
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """``steps`` future rows (``timestamp`` as datetimes, ``value``, ``lower``, ``upper``) and metadata.
        ``history``: ``ds`` (datetimes) and ``y`` of recent observations, or None."""

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        params = params or {}
        steps = int(params.get("steps") or self.default_steps)
        if not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
        history = history_frame(model_input)
        out, _ = self.forecast(history, steps, bool(params.get("adjust_level", True)))
        return out.assign(timestamp=iso(out["timestamp"]))[list(PREDICTION_COLUMNS)]


def history_frame(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """``ds``/``y`` of a pyfunc input frame with ``timestamp`` and ``value``; None when empty."""
    if frame is None:
        return None
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    if frame.empty:
        return None
    missing = [c for c in ("timestamp", "value") if c not in frame.columns]
    if missing:
        raise ValueError(f"history needs column(s) {missing}")
    try:
        ds = pd.to_datetime(frame["timestamp"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"history timestamps do not parse: {exc}") from exc
    y = pd.to_numeric(frame["value"], errors="coerce")
    if y.isna().any() or not np.isfinite(y.to_numpy(dtype=np.float64)).all():
        raise ValueError("history values must be finite numbers")
    return pd.DataFrame({"ds": ds.dt.tz_localize(None) if ds.dt.tz is not None else ds, "y": y})


_YEAR = "[1-9][0-9]{3}"
_LEAP_YEAR = "(?:[1-9][0-9](?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)"
_DATE = (
    f"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    f"|02-(?:0[1-9]|1[0-9]|2[0-8]))|{_LEAP_YEAR}-02-29)"
)
_TIME = "[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.][0-9]{1,6})?)?"
_OFFSET = "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
# An ISO 8601 date or date and time (years 1000-9999, optional seconds, fraction and UTC offset), spelled out
# day by day (leap years included) so that everything the pattern admits is a date ``fromisoformat`` reads.
TIMESTAMP_PATTERN = f"^{_DATE}(?:{_TIME}{_OFFSET}?)?$"


def _wall_clock(text: str) -> datetime:
    # The time as written: an offset is dropped, not applied (the training data's timestamps carry none).
    return datetime.fromisoformat(text).replace(tzinfo=None)


Timestamp = Annotated[
    str,
    Field(strict=True, pattern=TIMESTAMP_PATTERN, description="ISO 8601 date or date and time"),
    AfterValidator(_wall_clock),
]


# Float64 overflows past ~1.8e308: history values up to 1e300 keep the level adjustment (a mean of
# differences) and the forecast's bounds finite, so an answer never holds an infinity (JSON null).
MAX_VALUE = 1e300
Value = number(ge=-MAX_VALUE, le=MAX_VALUE)
Steps = integer(ge=1, le=MAX_STEPS)


class HistoryPoint(TypedDict):
    timestamp: Timestamp
    value: Value


class ForecastConfig(TypedDict, total=False):
    steps: Steps
    adjust_level: StrictBool


@lru_cache(maxsize=16)
def forecast_request(limits: Limits) -> Declared:
    """``{"data"?: [{"timestamp", "value"}] | null (recent history, possibly empty; ``Timestamp`` strings,
    values within ``MAX_VALUE``), "config"?: {"steps"? (1..1000; default: the model's horizon), "adjust_level"?
    (default true)} | null}``."""
    fields = {
        "data": NotRequired[RECORDS.items(HistoryPoint, limits, min_items=0) | None],
        "config": NotRequired[ForecastConfig | None],
    }
    example = {"data": [{"timestamp": "2024-01-01", "value": 1.5}], "config": {"steps": 7}}
    return Declared(object_type("ForecastRequest", fields, examples=[example]), RECORDS)


class ForecastPoint(TypedDict):
    timestamp: str
    value: float
    lower: float
    upper: float


class ForecastMetadata(TypedDict):
    model_uri: str
    model_version: str | None
    count: int
    steps: int
    history_points: int
    execution_ms: float
    freq: NotRequired[str]
    level_adjustment: NotRequired[float]


class ForecastResponse(TypedDict):
    prediction: list[ForecastPoint]
    metadata: ForecastMetadata


FORECAST_RESPONSE = Declared(ForecastResponse)


class TimeseriesContract(ScenarioContract):
    scenario: ClassVar[str] = SCENARIO

    def request(self, model: ServedModel | None, limits: Limits) -> Declared:
        return forecast_request(limits)

    def response(self, model: ServedModel | None) -> Declared:
        return FORECAST_RESPONSE

    def predict(self, body: Any, model: ServedModel, limits: Limits) -> dict[str, Any]:
        started = time.perf_counter()
        request = self.request(model, limits).validate(body, limits)
        data = request.get("data") or []
        config = request.get("config") or {}
        default = getattr(model.python_model, "default_steps", None) or 30
        steps = config.get("steps", min(int(default), MAX_STEPS))
        adjust = config.get("adjust_level", True)
        history = pd.DataFrame(
            {"timestamp": [r["timestamp"] for r in data], "value": [r["value"] for r in data]},
            columns=["timestamp", "value"],
        )
        python_model = model.python_model
        if isinstance(python_model, TimeseriesPythonModel):
            out, meta = python_model.forecast(history_frame(history), steps, adjust)
            prediction: list[ForecastPoint] = [
                {"timestamp": t, "value": v, "lower": lo, "upper": hi}
                for t, v, lo, hi in zip(
                    iso(out["timestamp"]),
                    out["value"].tolist(),
                    out["lower"].tolist(),
                    out["upper"].tolist(),
                )
            ]
        else:
            params = {"steps": steps, "adjust_level": adjust}
            try:
                out = pd.DataFrame(model.predict_frame(history, params))
            except ValueError as exc:
                raise schema_error(str(exc)) from exc
            prediction = out[list(PREDICTION_COLUMNS)].to_dict(orient="records")
            meta = {}
        return {
            "prediction": prediction,
            "metadata": {
                "model_uri": model.uri,
                "model_version": model.version,
                "count": len(prediction),
                "steps": steps,
                "history_points": len(history),
                **meta,
                "execution_ms": round((time.perf_counter() - started) * 1000.0, 3),
            },
        }

    def warmup_body(self, model: ServedModel) -> dict[str, Any]:
        return {"config": {"steps": 3}}
