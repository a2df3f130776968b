"""The anomaly_detection contract, shared by every anomaly algorithm's pyfunc model and by the server.

Request (declared by ``anomaly_request``): ``{"data": [{"timestamp", "value"} | {"timestamp", "values":
{column: number}}], "config": {"threshold"?}}``. Response (``AnomalyResponse``): ``{"results": [{"timestamp",
"label", "score", "severity"}], "metadata": {"model_uri", "model_version", "count", "anomalies",
"execution_ms", "threshold", ...}}`` (change-point models add ``change_points: [{"index", "timestamp",
"size"}]``).

Pyfunc input: a DataFrame with ``timestamp`` (optional) and the model's value columns (or ``value`` when the
model has one value column); params ``{"threshold": float}`` optional. Output: a DataFrame with
``timestamp, label, score, severity``.

Severity (from ``ratio = score / threshold``): ``"normal"`` when label is 0; for anomalies ``"low"`` when
ratio < 1.25, ``"medium"`` when ratio < 1.5, ``"high"`` otherwise.
"""

from __future__ import annotations

import math
import time
from abc import abstractmethod
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal, NotRequired

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ParamSchema, ParamSpec
from pydantic import Discriminator, Tag
from typing_extensions import TypedDict

from algorithms.base.contracts import Limits, ScenarioContract, ServedModel, schema_error
from algorithms.base.plots import anomaly_figure, axis_values
from algorithms.base.requests import RECORDS, TAG_SUFFIX, Declared, Scalar, number, object_type

SCENARIO = "anomaly_detection"
MEDIUM_RATIO = 1.25
HIGH_RATIO = 1.5
RESULT_COLUMNS: tuple[str, ...] = ("timestamp", "label", "score", "severity")


def anomaly_signature() -> ModelSignature:
    """No input schema (timestamps may be strings or numbers); the optional ``threshold`` param."""
    return ModelSignature(inputs=None, params=ParamSchema([ParamSpec("threshold", "double", None)]))


SEVERITIES: tuple[str, ...] = ("normal", "low", "medium", "high")
SMALL_BATCH = 32


def _band(score: float, threshold: float) -> str:
    if threshold > 0:
        ratio = score / threshold
    else:
        ratio = math.inf if score > 0 else 1.0
    return "high" if ratio >= HIGH_RATIO else ("medium" if ratio >= MEDIUM_RATIO else "low")


def severity(scores: np.ndarray, labels: np.ndarray, threshold: float) -> list[str]:
    """``normal`` for label 0, else ``low`` / ``medium`` / ``high`` by the score's ratio to the threshold."""
    if len(scores) <= SMALL_BATCH:
        # A few records: plain floats (numpy's per-call overhead and errstate cost more than the work).
        return [
            _band(s, threshold) if label else "normal" for s, label in zip(scores.tolist(), labels.tolist())
        ]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = scores / threshold if threshold > 0 else np.where(scores > 0, np.inf, 1.0)
    # Integer codes, then names by indexing: string arrays from np.where cost more than the scoring on
    # small requests.
    codes = (labels != 0) * (1 + (ratio >= MEDIUM_RATIO) + (ratio >= HIGH_RATIO))
    return [SEVERITIES[c] for c in codes.tolist()]


def anomaly_metrics(y_true: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Precision/recall/F1 of the labels and ROC-AUC of the scores (when both classes are present)."""
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    y = np.asarray(y_true).astype(int)
    metrics = {
        "precision": float(precision_score(y, labels, zero_division=0)),
        "recall": float(recall_score(y, labels, zero_division=0)),
        "f1": float(f1_score(y, labels, zero_division=0)),
    }
    if len(np.unique(y)) == 2:
        metrics["roc_auc"] = float(roc_auc_score(y, scores))
    return metrics


def runs_at_least(mask: np.ndarray, n: int) -> np.ndarray:
    """``mask`` keeping only its runs of at least ``n`` consecutive True values (vectorised)."""
    mask = np.asarray(mask, dtype=bool)
    if n <= 1 or not mask.any():
        return mask
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])  # alternating run starts and ends
    starts, ends = edges[0::2], edges[1::2]
    keep = np.zeros(len(mask) + 1, dtype=np.int64)
    long_runs = (ends - starts) >= n
    np.add.at(keep, starts[long_runs], 1)
    np.add.at(keep, ends[long_runs], -1)
    return np.cumsum(keep[:-1]) > 0


def detection_plots(model: AnomalyPythonModel, data: pd.DataFrame, title: str) -> dict[str, Any]:
    """``anomalies``: an evaluation split (one series) with the detected points, the labelled ones when the
    split has a ``label`` column, and the change points of change-point models."""
    frame = data.dropna(subset=model.value_columns).reset_index(drop=True)
    if frame.empty:
        return {}
    X = frame[model.value_columns].to_numpy(dtype=np.float64)
    _, labels, _, info = model.detect_with_info(X)
    truth = None
    if "label" in frame.columns and frame["label"].notna().all():
        truth = frame["label"].to_numpy()
    return {
        "anomalies": anomaly_figure(
            axis_values(frame["timestamp"] if "timestamp" in frame.columns else None, len(frame)),
            X,
            model.value_columns,
            predicted=labels,
            truth=truth,
            change_points=[int(c["index"]) for c in info.get("change_points", [])],
            title=title,
        )
    }


class AnomalyPythonModel(mlflow.pyfunc.PythonModel):
    """Base of the anomaly algorithms' pyfunc models: ``score`` a value matrix, label by threshold.

    Subclasses hold only numpy state and must not mutate it while scoring, so one instance serves
    concurrent requests safely.
    """

    scenario: ClassVar[str] = SCENARIO
    #: Fast enough (sub-millisecond per point, vectorised) to score on the server's event loop.
    inline_safe: ClassVar[bool] = True

    def __init__(self, value_columns: list[str], threshold: float) -> None:
        self.value_columns = list(value_columns)
        self.threshold = float(threshold)

    @abstractmethod
    def score(self, X: np.ndarray) -> np.ndarray:
        """Anomaly scores (higher = more anomalous) for rows of ``X`` (columns = ``value_columns``)."""

    def detect(self, X: np.ndarray, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """Scores, 0/1 labels and the threshold used."""
        thr = self.threshold if threshold is None else float(threshold)
        scores = self.score(X)
        return scores, (scores > thr).astype(np.int64), thr

    def detect_with_info(
        self, X: np.ndarray, threshold: float | None = None
    ) -> tuple[np.ndarray, np.ndarray, float, dict[str, Any]]:
        """``detect`` plus extra response metadata (e.g. PELT's change points, each with an ``index``)."""
        scores, labels, thr = self.detect(X, threshold)
        return scores, labels, thr, {}

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        timestamps, X = frame_to_matrix(model_input, self.value_columns)
        scores, labels, thr = self.detect(X, (params or {}).get("threshold"))
        return pd.DataFrame(
            {
                "timestamp": timestamps,
                "label": labels,
                "score": scores,
                "severity": severity(scores, labels, thr),
            }
        )


def frame_to_matrix(frame: pd.DataFrame, value_columns: list[str]) -> tuple[list[Any], np.ndarray]:
    """Timestamps and the value matrix of a pyfunc input frame; raises ValueError naming what is wrong."""
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    if all(c in frame.columns for c in value_columns):
        values = frame[value_columns]
    elif len(value_columns) == 1 and "value" in frame.columns:
        values = frame[["value"]]
    elif "values" in frame.columns:
        values = pd.DataFrame(list(frame["values"]), index=frame.index)
        missing = [c for c in value_columns if c not in values.columns]
        if missing:
            raise ValueError(f"'values' lacks column(s) {missing}")
        values = values[value_columns]
    else:
        raise ValueError(
            f"input needs column(s) {value_columns}" + (" or 'value'" if len(value_columns) == 1 else "")
        )
    try:
        X = values.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"value columns must be numeric: {exc}") from exc
    if not np.isfinite(X).all():
        raise ValueError("value columns contain missing or infinite values")
    timestamps = frame["timestamp"].tolist() if "timestamp" in frame.columns else list(range(len(frame)))
    return timestamps, X


VALUE_RECORD, VALUES_RECORD = f"value{TAG_SUFFIX}", f"values{TAG_SUFFIX}"


def _record_kind(record: Any) -> str:
    # A record with "values" is read from it; any other from its "value" (the declared branches say so too).
    return VALUES_RECORD if isinstance(record, dict) and "values" in record else VALUE_RECORD


@lru_cache(maxsize=32)
def anomaly_request(columns: tuple[str, ...] | None, limits: Limits) -> Declared:
    """``{"data": [record, ...], "config"?: {"threshold"?: number >= 0} | null}``. A record has a scalar
    ``timestamp`` (echoed back) and either ``values`` (an object with a number for each of the model's value
    columns) or, for a model of one value column, ``value``. ``columns`` None: a model whose columns are not
    known (any numbers in ``values``)."""
    values = object_type("Values", {c: number() for c in columns}) if columns else dict[str, number()]
    values_record = object_type("ValuesRecord", {"timestamp": Scalar, "values": values})
    # "not required values": with both keys the record is read from "values", so it is that branch alone.
    value_record = object_type(
        "ValueRecord", {"timestamp": Scalar, "value": number()}, **{"not": {"required": ["values"]}}
    )
    record: Any = values_record
    example: dict[str, Any] = {
        "timestamp": "2024-01-01T00:00:00",
        "values": dict.fromkeys(columns or ["a"], 1.5),
    }
    if columns is None or len(columns) == 1:
        record = Annotated[
            Annotated[value_record, Tag(VALUE_RECORD)] | Annotated[values_record, Tag(VALUES_RECORD)],
            Discriminator(_record_kind),
        ]
        example = {"timestamp": "2024-01-01T00:00:00", "value": 1.5}
    config = object_type("AnomalyConfig", {"threshold": NotRequired[number(ge=0)]})

    def request(item: Any) -> Any:
        fields = {"data": RECORDS.items(item, limits), "config": NotRequired[config | None]}
        return object_type("AnomalyRequest", fields, examples=[{"data": [example], "config": {}}])

    # Most requests send {"timestamp", "value"} records only: checked without the union's dispatch per record
    # (closed: a record with "values", or any other key, is checked against the declared type).
    closed = object_type("ValueRecord", {"timestamp": Scalar, "value": number()}, closed=True)
    common = request(closed) if record is not values_record else None
    return Declared(request(record), RECORDS, common=common)


class AnomalyResult(TypedDict):
    timestamp: Scalar
    label: Literal[0, 1]
    score: float
    severity: Literal["normal", "low", "medium", "high"]


class AnomalyMetadata(TypedDict):
    model_uri: str
    model_version: str | None
    count: int
    anomalies: int
    threshold: float | None
    execution_ms: float


class AnomalyResponse(TypedDict):
    """The 200 answer (change-point models add ``metadata.change_points``)."""

    results: list[AnomalyResult]
    metadata: AnomalyMetadata


ANOMALY_RESPONSE = Declared(AnomalyResponse)


def _columns(model: ServedModel | None) -> tuple[str, ...] | None:
    python_model = model.python_model if model is not None else None
    return tuple(python_model.value_columns) if isinstance(python_model, AnomalyPythonModel) else None


class AnomalyContract(ScenarioContract):
    scenario: ClassVar[str] = SCENARIO

    def request(self, model: ServedModel | None, limits: Limits) -> Declared:
        return anomaly_request(_columns(model), limits)

    def response(self, model: ServedModel | None) -> Declared:
        return ANOMALY_RESPONSE

    def predict(self, body: Any, model: ServedModel, limits: Limits) -> dict[str, Any]:
        started = time.perf_counter()
        request = self.request(model, limits).validate(body, limits)
        data = request["data"]
        threshold = (request.get("config") or {}).get("threshold")
        python_model = model.python_model
        if isinstance(python_model, AnomalyPythonModel):
            timestamps, X = records_to_matrix(data, python_model.value_columns)
            scores, labels, thr, info = python_model.detect_with_info(X, threshold)
            for item in info.get("change_points", []):
                item["timestamp"] = timestamps[item["index"]]
            results: list[AnomalyResult] = [
                {"timestamp": t, "label": lab, "score": s, "severity": sev}
                for t, lab, s, sev in zip(
                    timestamps, labels.tolist(), scores.tolist(), severity(scores, labels, thr)
                )
            ]
            anomalies = int(labels.sum())
        else:
            frame = records_to_frame(data)
            try:
                out = model.predict_frame(frame, {"threshold": threshold} if threshold is not None else None)
            except ValueError as exc:
                raise schema_error(str(exc)) from exc
            out = pd.DataFrame(out)
            results = out[list(RESULT_COLUMNS)].to_dict(orient="records")
            anomalies = int(out["label"].sum())
            thr, info = threshold, {}
        return {
            "results": results,
            "metadata": {
                "model_uri": model.uri,
                "model_version": model.version,
                "count": len(results),
                "anomalies": anomalies,
                "threshold": thr,
                "execution_ms": round((time.perf_counter() - started) * 1000.0, 3),
            }
            | info,
        }

    def runs_inline(self, model: ServedModel) -> bool:
        # The fast path is numpy on read-only state: sub-millisecond for one point, so a thread hop would
        # cost more than the work itself.
        return isinstance(model.python_model, AnomalyPythonModel) and model.python_model.inline_safe

    def warmup_body(self, model: ServedModel) -> dict[str, Any]:
        python_model = model.python_model
        columns = python_model.value_columns if isinstance(python_model, AnomalyPythonModel) else ["value"]
        record: dict[str, Any] = (
            {"timestamp": 0, "value": 0.0}
            if len(columns) == 1
            else {"timestamp": 0, "values": dict.fromkeys(columns, 0.0)}
        )
        return {"data": [record] * 8}


def records_to_matrix(data: list[dict[str, Any]], columns: list[str]) -> tuple[list[Any], np.ndarray]:
    """Timestamps and the value matrix of checked records (each has ``value`` or ``values``)."""
    timestamps = [r["timestamp"] for r in data]
    if len(columns) == 1:
        column = columns[0]
        values = [r["value"] if "value" in r else r["values"][column] for r in data]
        return timestamps, np.asarray(values, dtype=np.float64).reshape(-1, 1)
    return timestamps, np.asarray([[r["values"][c] for c in columns] for r in data], dtype=np.float64)


def records_to_frame(data: list[dict[str, Any]]) -> pd.DataFrame:
    """Model input for pyfunc models without the fast path: ``values`` objects become columns."""
    rows = [
        {"timestamp": r["timestamp"], **r["values"]}
        if "values" in r
        else {"timestamp": r["timestamp"], "value": r["value"]}
        for r in data
    ]
    return pd.DataFrame(rows)
