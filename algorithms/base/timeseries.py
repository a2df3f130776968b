"""The timeseries_predict contract, shared by every forecasting algorithm's pyfunc model and by the server.

Request: ``{"data": [{"timestamp", "value"}] (recent history, optional), "config": {"steps"
(1..1000; default: the model's horizon), "adjust_level"? (default true)}}``. Response: ``{"prediction":
[{"timestamp", "value", "lower", "upper"}], "metadata": {"model_uri", "count", "steps", "history_points",
"freq", "level_adjustment", "execution_ms"}}``. The forecast starts one step after the later of the training
data's end and the history's end; timestamps are ISO 8601 strings.

Pyfunc input: a DataFrame with ``timestamp`` and ``value`` (possibly empty), params ``{"steps": int,
"adjust_level": bool}``. Output: a DataFrame with ``timestamp, value, lower, upper``.
"""

from __future__ import annotations

import math
import time
from abc import abstractmethod
from typing import Any, ClassVar

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ParamSchema, ParamSpec

from algorithms.base.contracts import (
    Limits,
    ScenarioContract,
    ServedModel,
    quote,
    require_object,
    schema_error,
)

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


def _is_number(v: Any) -> bool:
    return type(v) is int or (type(v) is float and math.isfinite(v))


class TimeseriesContract(ScenarioContract):
    scenario: ClassVar[str] = SCENARIO

    def predict(self, body: Any, model: ServedModel, limits: Limits) -> dict[str, Any]:
        started = time.perf_counter()
        history, steps, adjust = self.parse(body, limits, model)
        python_model = model.python_model
        if isinstance(python_model, TimeseriesPythonModel):
            try:
                history_df = history_frame(history)
            except ValueError as exc:
                raise schema_error(str(exc), [{"field": "data", "message": str(exc)}]) from exc
            out, meta = python_model.forecast(history_df, steps, adjust)
            prediction = [
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
                "count": len(prediction),
                "steps": steps,
                "history_points": len(history),
                **meta,
                "execution_ms": round((time.perf_counter() - started) * 1000.0, 3),
            },
        }

    def parse(self, body: Any, limits: Limits, model: ServedModel) -> tuple[pd.DataFrame, int, bool]:
        body = require_object(body)
        data = body.get("data")
        if data is None:
            data = []
        if not isinstance(data, list):
            raise schema_error(
                "'data' must be a list of records", [{"field": "data", "message": "expected list"}]
            )
        limits.check_batch(len(data))
        errors: list[dict[str, Any]] = []
        for i, record in enumerate(data):
            if not isinstance(record, dict):
                errors.append({"record": i, "field": "", "message": "expected object"})
                continue
            if not isinstance(record.get("timestamp"), (str, int, float)) or isinstance(
                record.get("timestamp"), bool
            ):
                errors.append({"record": i, "field": "timestamp", "message": "required string or number"})
            if not _is_number(record.get("value")):
                errors.append(
                    {
                        "record": i,
                        "field": "value",
                        "message": f"number required, got {quote(record.get('value'))}",
                    }
                )
        if errors:
            raise schema_error(f"{len(errors)} invalid field(s) in 'data'", errors)
        config = body.get("config")
        config = {} if config is None else config
        if not isinstance(config, dict):
            raise schema_error(
                "'config' must be an object", [{"field": "config", "message": "expected object"}]
            )
        default = getattr(model.python_model, "default_steps", None) or 30
        steps = config.get("steps", min(int(default), MAX_STEPS))
        if type(steps) is not int or not 1 <= steps <= MAX_STEPS:
            raise schema_error(
                f"'config.steps' must be an integer between 1 and {MAX_STEPS}",
                [{"field": "config.steps", "message": f"got {quote(steps)}", "limit": MAX_STEPS}],
            )
        adjust = config.get("adjust_level", True)
        if not isinstance(adjust, bool):
            raise schema_error(
                "'config.adjust_level' must be a boolean",
                [{"field": "config.adjust_level", "message": f"got {quote(adjust)}"}],
            )
        frame = pd.DataFrame(
            {"timestamp": [r["timestamp"] for r in data], "value": [float(r["value"]) for r in data]}
        )
        return frame, steps, adjust

    def warmup_body(self, model: ServedModel) -> dict[str, Any]:
        return {"config": {"steps": 3}}

    def request_schema(self) -> dict[str, Any]:
        record = {
            "type": "object",
            "required": ["timestamp", "value"],
            "properties": {"timestamp": {"type": ["string", "number"]}, "value": {"type": "number"}},
        }
        return {
            "type": "object",
            "properties": {
                "data": {"type": "array", "items": record, "description": "Recent history (optional)."},
                "config": {
                    "type": "object",
                    "properties": {
                        "steps": {"type": "integer", "minimum": 1, "maximum": MAX_STEPS},
                        "adjust_level": {"type": "boolean", "default": True},
                    },
                },
            },
            "example": {"data": [{"timestamp": "2024-01-01", "value": 1.5}], "config": {"steps": 7}},
        }
