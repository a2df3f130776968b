"""EWMA anomaly detection: standardised one-step-ahead residuals from an exponentially weighted average.

For each value column the forecast of x[t] is the EWMA of x[0..t-1] (``y[t] = a x[t] + (1 - a) y[t-1]``,
started at x[0]; computed with ``scipy.signal.lfilter``, so no Python loop). The residual
``x[t] - y[t-1]`` is divided by the residual scale learned on the training data (1.4826 × MAD, robust to the
anomalies the training data may hold) and the score of a point is its largest standardised residual over
the columns in the chosen ``direction`` (both: |z|; up: z; down: -z, clipped at 0). A point is outlying when
its score exceeds ``threshold``; a run of outlying points is an anomaly (every point of it labelled 1) when
it is at least ``n_consecutive`` long.

Each request (or split) is one series in its given order; the average restarts at its first point, whose
score is 0.

Params (``algorithms.params.anomaly.EwmaParams``): ``smoothing`` ("span" | "alpha"), ``span`` (alpha =
2 / (span + 1)), ``alpha``, ``threshold`` (z), ``n_consecutive``, ``direction`` (both | up | down),
``value_columns`` (default: every numeric column but label/timestamp).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature

from algorithms.base.algorithm import Algorithm
from algorithms.base.anomaly import (
    SCENARIO,
    AnomalyPythonModel,
    anomaly_metrics,
    anomaly_signature,
    detection_plots,
    runs_at_least,
)
from algorithms.base.tuning import Objective
from algorithms.ecod import LABEL_COLUMN, EcodAlgorithm
from algorithms.params.anomaly import EwmaParams

MAD_TO_SIGMA = 1.4826  # scale of the median absolute deviation to the standard deviation of a normal


def ewma_residuals(X: np.ndarray, alpha: float) -> np.ndarray:
    """One-step-ahead residuals ``x[t] - ewma(x[0..t-1])`` per column; the first row's is 0."""
    from scipy.signal import lfilter

    X = np.asarray(X, dtype=np.float64)
    if X.shape[0] == 0:
        return X.copy()
    # Initial state chosen so that y[0] = x[0]: the average starts at the first observation.
    zi = ((1.0 - alpha) * X[0])[np.newaxis, :]
    smoothed, _ = lfilter([alpha], [1.0, -(1.0 - alpha)], X, axis=0, zi=zi)
    residuals = np.empty_like(X)
    residuals[0] = 0.0
    residuals[1:] = X[1:] - smoothed[:-1]
    return residuals


def robust_scale(residuals: np.ndarray) -> np.ndarray:
    """Per-column residual scale: 1.4826 × MAD, else the standard deviation, else 1 (constant series)."""
    body = residuals[1:] if residuals.shape[0] > 1 else residuals
    median = np.median(body, axis=0)
    mad = MAD_TO_SIGMA * np.median(np.abs(body - median), axis=0)
    std = body.std(axis=0)
    scale = np.where(mad > 0, mad, np.where(std > 0, std, 1.0))
    return scale.astype(np.float64)


def directional(z: np.ndarray, direction: str) -> np.ndarray:
    if direction == "up":
        return np.maximum(z, 0.0)
    if direction == "down":
        return np.maximum(-z, 0.0)
    return np.abs(z)


class EwmaPythonModel(AnomalyPythonModel):
    """Served EWMA: alpha, per-column residual scale, direction and run length; read-only while scoring."""

    def __init__(
        self,
        value_columns: list[str],
        threshold: float,
        alpha: float,
        scale: np.ndarray,
        direction: str,
        n_consecutive: int,
    ) -> None:
        super().__init__(value_columns, threshold)
        self.alpha = float(alpha)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.direction = direction
        self.n_consecutive = int(n_consecutive)

    def score(self, X: np.ndarray) -> np.ndarray:
        z = ewma_residuals(X, self.alpha) / self.scale
        return directional(z, self.direction).max(axis=1) if z.size else np.zeros(len(X))

    def detect(self, X: np.ndarray, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        thr = self.threshold if threshold is None else float(threshold)
        scores = self.score(X)
        labels = runs_at_least(scores > thr, self.n_consecutive).astype(np.int64)
        return scores, labels, thr


@dataclass
class EwmaFitted:
    model: EwmaPythonModel
    train_samples: int
    train_anomaly_rate: float


class EwmaAlgorithm(Algorithm):
    scenario: ClassVar[str] = SCENARIO
    name: ClassVar[str] = "EWMA"
    param_model: ClassVar[type[EwmaParams]] = EwmaParams
    serving_requirements: ClassVar[tuple[str, ...]] = ("numpy", "pandas", "scipy")
    objective: ClassVar[Objective] = Objective("f1", "max")

    def tuning_params(self, base: dict[str, Any], sampled: dict[str, Any]) -> dict[str, Any]:
        # Sampling span (or alpha) only means something when smoothing is given that way.
        out = base | sampled
        if "span" in sampled and "alpha" not in sampled:
            out["smoothing"] = "span"
        elif "alpha" in sampled and "span" not in sampled:
            out["smoothing"] = "alpha"
        return out

    @staticmethod
    def alpha_of(params: dict[str, Any]) -> float:
        return 2.0 / (params["span"] + 1.0) if params["smoothing"] == "span" else float(params["alpha"])

    def fit(self, train: pd.DataFrame, params: dict[str, Any]) -> EwmaFitted:
        params = self.resolve_params(params)
        columns = EcodAlgorithm.value_columns(train, params["value_columns"])
        X = train[columns].apply(pd.to_numeric, errors="coerce").dropna().to_numpy(dtype=np.float64)
        if X.shape[0] < 3:
            raise ValueError(f"EWMA needs at least 3 rows with numeric {columns}, got {X.shape[0]}")
        alpha = self.alpha_of(params)
        scale = robust_scale(ewma_residuals(X, alpha))
        model = EwmaPythonModel(
            columns, params["threshold"], alpha, scale, params["direction"], params["n_consecutive"]
        )
        _, labels, _ = model.detect(X)
        return EwmaFitted(model=model, train_samples=int(X.shape[0]), train_anomaly_rate=float(labels.mean()))

    def evaluate(self, fitted: EwmaFitted, data: pd.DataFrame) -> dict[str, float]:
        return evaluate_anomaly_model(fitted.model, data)

    def plots(self, fitted: EwmaFitted, data: pd.DataFrame) -> dict[str, Any]:
        return detection_plots(fitted.model, data, "EWMA")

    def training_metrics(self, fitted: EwmaFitted) -> dict[str, float]:
        metrics = {
            "threshold": fitted.model.threshold,
            "alpha": fitted.model.alpha,
            "train_samples": float(fitted.train_samples),
            "train_anomaly_rate": fitted.train_anomaly_rate,
        }
        for column, scale in zip(fitted.model.value_columns, fitted.model.scale.tolist()):
            metrics[f"residual_scale_{column}"] = scale
        return metrics

    def pyfunc_model(self, fitted: EwmaFitted) -> EwmaPythonModel:
        return fitted.model

    def signature(self) -> ModelSignature:
        return anomaly_signature()

    def model_metadata(self, fitted: EwmaFitted) -> dict[str, Any]:
        return super().model_metadata(fitted) | {
            "value_columns": fitted.model.value_columns,
            "threshold": fitted.model.threshold,
        }


def evaluate_anomaly_model(model: AnomalyPythonModel, data: pd.DataFrame) -> dict[str, float]:
    """Detection over an evaluation split taken as one series; precision/recall/F1/ROC-AUC when labelled."""
    frame = data.dropna(subset=model.value_columns)
    X = frame[model.value_columns].to_numpy(dtype=np.float64)
    scores, labels, _ = model.detect(X)
    metrics = {
        "eval_samples": float(len(frame)),
        "eval_anomaly_rate": float(labels.mean()) if len(labels) else 0.0,
    }
    if LABEL_COLUMN in frame.columns and frame[LABEL_COLUMN].notna().all() and len(frame):
        metrics |= anomaly_metrics(frame[LABEL_COLUMN].to_numpy(), scores, labels)
    return metrics
