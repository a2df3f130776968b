"""ECOD (pyod) anomaly detection on one or more numeric value columns, with a thread-safe fast scorer.

Training fits pyod's ``ECOD`` (its ``threshold_`` is the training-score quantile at 1 - contamination). The
served model does not call pyod: ``decision_function`` re-ranks the whole training set on every call (~87 ms
at 100k rows) and writes onto the detector (wrong scores under concurrency). Instead the model keeps each
feature's sorted training values and reproduces pyod's scoring of a row against the training set with
``numpy.searchsorted``: the left/right tail probabilities of x are ``(#train <= x + 1) / (n + 1)`` and
``(#train >= x + 1) / (n + 1)`` — exactly pyod's ECDF over training + that row — and the skewness sign is
the training data's. Single rows therefore score as pyod does; a batch differs from pyod only in that pyod
also ranks the batch's rows against each other.

Params (``algorithms.params.anomaly.EcodParams``): ``contamination``; ``value_columns`` (default: every
numeric column but ``label``); for series, ``lags`` (adds x[t-k], the first value standing in before the
start) and ``rolling_windows`` (adds trailing statistics over w points, shorter at the start) with
``rolling_stats`` (subset of mean, std, min, max, median; default mean and std). No standardisation
option: ECOD scores are ranks per feature, unchanged by any increasing rescaling. Features are computed over the rows of one request (or split) in their given order.
"""

from __future__ import annotations

import time
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
)
from algorithms.base.tuning import Objective
from algorithms.params.anomaly import DEFAULT_ROLLING_STATS, EcodParams

LABEL_COLUMN = "label"
TIMESTAMP_COLUMN = "timestamp"


def engineer(
    X: np.ndarray, lags: list[int], windows: list[int], stats: tuple[str, ...] = DEFAULT_ROLLING_STATS
) -> np.ndarray:
    """Raw columns, then per column its lags, then per window and statistic the rolling values."""
    if not lags and not windows:
        return X
    parts = [X]
    n = X.shape[0]
    for k in lags:
        shifted = np.empty_like(X)
        m = min(k, n)
        shifted[:m] = X[0]
        shifted[m:] = X[: n - m]
        parts.append(shifted)
    frame = pd.DataFrame(X)
    for w in windows:
        rolling = frame.rolling(w, min_periods=1)
        for stat in stats:
            values = rolling.std(ddof=0) if stat == "std" else getattr(rolling, stat)()
            parts.append(values.to_numpy())
    return np.hstack(parts)


def feature_names(
    columns: list[str], lags: list[int], windows: list[int], stats: tuple[str, ...] = DEFAULT_ROLLING_STATS
) -> list[str]:
    names = list(columns)
    names += [f"{c}_lag{k}" for k in lags for c in columns]
    for w in windows:
        for stat in stats:
            names += [f"{c}_{stat}{w}" for c in columns]
    return names


def ecod_scores(sorted_train: np.ndarray, skew_sign: np.ndarray, F: np.ndarray) -> np.ndarray:
    """pyod's ECOD score of each row of ``F`` against the training set (see module docstring).

    ``sorted_train`` is feature-major (n_features, n_train): each feature's training values sorted and
    contiguous, which keeps ``searchsorted`` cache-friendly.
    """
    n = sorted_train.shape[1]
    total = np.zeros(F.shape[0], dtype=np.float64)
    log_n1 = np.log(n + 1.0)
    for j in range(F.shape[1]):
        column, x = sorted_train[j], F[:, j]
        left = log_n1 - np.log(np.searchsorted(column, x, side="right") + 1.0)
        right = log_n1 - np.log(n - np.searchsorted(column, x, side="left") + 1.0)
        s = skew_sign[j]
        # pyod: U_skew = U_l * -sign(s - 1) + U_r * sign(s + 1); its value for s in {-1, 0, 1}:
        u_skew = left if s < 0 else (right if s > 0 else left + right)
        total += np.maximum(np.maximum(left, right), u_skew)
    return total


def sorted_by_feature(F: np.ndarray) -> np.ndarray:
    out = np.array(F.T, dtype=np.float64, order="C", copy=True)  # F.T may be a read-only view
    out.sort(axis=1)
    return out


class EcodPythonModel(AnomalyPythonModel):
    """Served ECOD: sorted training features + skewness signs; read-only while scoring."""

    def __init__(
        self,
        value_columns: list[str],
        threshold: float,
        sorted_train: np.ndarray,
        skew_sign: np.ndarray,
        lags: list[int],
        windows: list[int],
        stats: tuple[str, ...] = DEFAULT_ROLLING_STATS,
    ) -> None:
        super().__init__(value_columns, threshold)
        self.sorted_train = np.ascontiguousarray(sorted_train, dtype=np.float64)
        self.skew_sign = np.asarray(skew_sign, dtype=np.float64)
        self.lags = list(lags)
        self.windows = list(windows)
        self.stats = tuple(stats)

    def score(self, X: np.ndarray) -> np.ndarray:
        # getattr: models pickled before rolling_stats existed used mean and std.
        stats = getattr(self, "stats", DEFAULT_ROLLING_STATS)
        return ecod_scores(self.sorted_train, self.skew_sign, engineer(X, self.lags, self.windows, stats))


@dataclass
class EcodFitted:
    detector: Any  # pyod ECOD, kept for evaluation and tests only; never served
    model: EcodPythonModel
    features: list[str]
    train_samples: int
    fit_seconds: float
    train_anomaly_rate: float


class EcodAlgorithm(Algorithm):
    scenario: ClassVar[str] = SCENARIO
    name: ClassVar[str] = "ECOD"
    param_model: ClassVar[type[EcodParams]] = EcodParams
    objective: ClassVar[Objective] = Objective("f1", "max")

    @staticmethod
    def value_columns(frame: pd.DataFrame, requested: list[str]) -> list[str]:
        if requested:
            missing = [c for c in requested if c not in frame.columns]
            if missing:
                raise ValueError(f"value_columns {missing} not in data columns {list(frame.columns)}")
            return requested
        skip = {LABEL_COLUMN, TIMESTAMP_COLUMN}
        columns = [c for c in frame.columns if c not in skip and pd.api.types.is_numeric_dtype(frame[c])]
        if not columns:
            raise ValueError(f"no numeric value column in data columns {list(frame.columns)}")
        return [str(c) for c in columns]

    def fit(self, train: pd.DataFrame, params: dict[str, Any]) -> EcodFitted:
        from pyod.models.ecod import ECOD  # training only: the served model never imports pyod

        params = self.resolve_params(params)
        columns = self.value_columns(train, params["value_columns"])
        values = train[columns]
        if not all(pd.api.types.is_numeric_dtype(values[c]) for c in columns):
            values = values.apply(pd.to_numeric, errors="coerce")
        raw = values.dropna().to_numpy(dtype=np.float64)
        if raw.shape[0] < 2:
            raise ValueError(f"ECOD needs at least 2 rows with numeric {columns}, got {raw.shape[0]}")
        stats = tuple(params["rolling_stats"])
        F = engineer(raw, params["lags"], params["rolling_windows"], stats)
        started = time.perf_counter()
        detector = ECOD(contamination=params["contamination"]).fit(F)
        fit_seconds = time.perf_counter() - started
        model = EcodPythonModel(
            columns,
            float(detector.threshold_),
            sorted_by_feature(F),
            _skew_sign(F),
            params["lags"],
            params["rolling_windows"],
            stats,
        )
        return EcodFitted(
            detector=detector,
            model=model,
            features=feature_names(columns, params["lags"], params["rolling_windows"], stats),
            train_samples=int(F.shape[0]),
            fit_seconds=fit_seconds,
            train_anomaly_rate=float(np.mean(detector.labels_)),
        )

    def evaluate(self, fitted: EcodFitted, data: pd.DataFrame) -> dict[str, float]:
        frame = data.dropna(subset=fitted.model.value_columns)
        X = frame[fitted.model.value_columns].to_numpy(dtype=np.float64)
        scores, labels, _ = fitted.model.detect(X)
        metrics = {
            "eval_samples": float(len(frame)),
            "eval_anomaly_rate": float(labels.mean()) if len(labels) else 0.0,
        }
        if LABEL_COLUMN in frame.columns and frame[LABEL_COLUMN].notna().all() and len(frame):
            metrics |= anomaly_metrics(frame[LABEL_COLUMN].to_numpy(), scores, labels)
        return metrics

    def plots(self, fitted: EcodFitted, data: pd.DataFrame) -> dict[str, Any]:
        return detection_plots(fitted.model, data, "ECOD")

    def training_metrics(self, fitted: EcodFitted) -> dict[str, float]:
        return {
            "threshold": fitted.model.threshold,
            "train_samples": float(fitted.train_samples),
            "n_features": float(len(fitted.features)),
            "fit_seconds": fitted.fit_seconds,
            "train_anomaly_rate": fitted.train_anomaly_rate,
        }

    def pyfunc_model(self, fitted: EcodFitted) -> EcodPythonModel:
        return fitted.model

    def signature(self) -> ModelSignature:
        return anomaly_signature()

    def model_metadata(self, fitted: EcodFitted) -> dict[str, Any]:
        return super().model_metadata(fitted) | {
            "value_columns": fitted.model.value_columns,
            "features": fitted.features,
            "threshold": fitted.model.threshold,
        }


def _skew_sign(F: np.ndarray) -> np.ndarray:
    """Sign of each column's skewness as pyod gets it from scipy's biased ``skew`` (NaN → 0), computed
    with numpy: the sign is that of the third central moment, and scipy calls a column whose variance is
    below its floating-point resolution constant (NaN)."""
    mean = F.mean(axis=0)
    centred = F - mean
    m2 = np.mean(centred * centred, axis=0)
    m3 = np.mean(centred * centred * centred, axis=0)
    near_constant = m2 <= (np.finfo(F.dtype).resolution * mean) ** 2
    return np.where(near_constant, 0.0, np.sign(m3))
