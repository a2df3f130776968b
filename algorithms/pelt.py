"""PELT change-point detection (ruptures) for anomaly_detection: change points, and the points within an
event window of each marked anomalous.

Each request (or split) is one series in its given order, normalised per column (``normalize``: "zscore"
by its own mean and standard deviation, as TCPDBench does; "robust" by its median and the noise scale
1.4826 × MAD(first differences) / √2, which level shifts do not inflate; "train" by the training data's mean
and standard deviation), then segmented by ``ruptures.Pelt``.

Costs: "l2" (change in mean) and "normal" (mean and variance, diagonal covariance) use cumulative sums, so a
segment's cost is O(1) (ruptures' own costs re-scan the segment at every call: ~10 s at 10k points);
"l1" (median) and "rbf" (any distribution change) are ruptures' ``CostL1``/``CostRbf``. On normalised data
l2 and normal are -2 × log-likelihood up to constants, so penalties follow R's changepoint package (as
TCPDBench ran it): BIC = (p + 1) log n, MBIC = (p + 2) log n plus log(segment length) added to every
segment's cost, p = parameters per segment (l2: d, normal: 2d). For l1 the penalty is divided by 2√2 (the
Laplace likelihood's scale at unit variance); for rbf it is used as is (a heuristic). ``penalty: "value"``
takes ``penalty_value`` directly (a number given as ``penalty`` is the same). rbf builds an n×n Gram matrix:
refused above 5,000 points.

Output per point: label 1 within ``event_window`` points of a change point, score = the size of that change
(|difference of the adjacent segments' means| in normalised units, largest over columns; 0 away from
changes). The model threshold is 0 (every detected change counts); a request's ``threshold`` keeps only
changes larger than it. Change points (first index of each new segment) are in the response metadata.
Metrics: point precision/recall/F1/ROC-AUC and change-point F1 within ``margin`` against the centres of the
labelled runs (or a ``change_point`` column of 0/1 when the data has one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
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
from algorithms.base.changepoints import change_points_from_labels, f_measure
from algorithms.base.tuning import Objective
from algorithms.ecod import LABEL_COLUMN, EcodAlgorithm
from algorithms.params.anomaly import PeltParams

CHANGE_POINT_COLUMN = "change_point"
MAX_RBF_POINTS = 5000
VARIANCE_FLOOR = 1e-8  # R's changepoint floors a zero segment variance the same way


def _make_cumsum_cost(kind: str, mbic: bool) -> Any:
    from ruptures.base import BaseCost

    class CumsumCost(BaseCost):
        """l2 / normal segment cost from cumulative sums; optional MBIC log(length) term."""

        model = f"cumsum-{kind}"

        def __init__(self) -> None:
            self.min_size = 2 if kind == "normal" else 1
            self.s1 = self.s2 = np.zeros((1, 1))

        def fit(self, signal: np.ndarray) -> CumsumCost:
            x = signal.reshape(-1, 1) if signal.ndim == 1 else signal
            zero = np.zeros((1, x.shape[1]))
            self.s1 = np.vstack([zero, np.cumsum(x, axis=0)])
            self.s2 = np.vstack([zero, np.cumsum(x * x, axis=0)])
            self.signal = x  # ruptures reads the series length from it
            return self

        def error(self, start: int, end: int) -> float:
            n = end - start
            s1 = self.s1[end] - self.s1[start]
            s2 = self.s2[end] - self.s2[start]
            if kind == "l2":
                cost = float(np.maximum(s2 - s1 * s1 / n, 0.0).sum())
            else:
                var = np.maximum(s2 / n - (s1 / n) ** 2, VARIANCE_FLOOR)
                cost = float(n * np.log(var).sum())
            return cost + math.log(n) if mbic else cost

    return CumsumCost()


def penalty_value(params: dict[str, Any], n: int, d: int) -> float:
    if params["penalty"] == "value":
        return float(params["penalty_value"])
    p = 2 * d if params["cost"] == "normal" else d
    pen = (p + (2 if params["penalty"] == "MBIC" else 1)) * math.log(max(n, 2))
    return pen / (2.0 * math.sqrt(2.0)) if params["cost"] == "l1" else pen


def change_points(Z: np.ndarray, params: dict[str, Any]) -> list[int]:
    """First index of each new segment of the normalised series ``Z`` (n × d)."""
    import ruptures as rpt

    n, d = Z.shape
    min_size, jump = int(params["min_size"]), int(params["jump"])
    if n < 2 * max(min_size, 1) or n < 3:
        return []
    if params["cost"] in ("l2", "normal"):
        algo = rpt.Pelt(
            custom_cost=_make_cumsum_cost(params["cost"], params["penalty"] == "MBIC"),
            min_size=min_size,
            jump=jump,
        )
    else:
        if params["cost"] == "rbf" and n > MAX_RBF_POINTS:
            raise ValueError(f"cost 'rbf' needs an n×n matrix: at most {MAX_RBF_POINTS} points, got {n}")
        algo = rpt.Pelt(model=params["cost"], min_size=min_size, jump=jump)
    bkps = algo.fit(Z).predict(pen=penalty_value(params, n, d))
    return [int(b) for b in bkps if 0 < b < n]


def change_sizes(Z: np.ndarray, cps: list[int]) -> np.ndarray:
    """|mean after - mean before| of each change (adjacent segments), largest over the columns."""
    if not cps:
        return np.zeros(0)
    bounds = [0, *cps, Z.shape[0]]
    means = np.array([Z[a:b].mean(axis=0) for a, b in pairwise(bounds)])
    return np.abs(np.diff(means, axis=0)).max(axis=1)


class PeltPythonModel(AnomalyPythonModel):
    """Served PELT: segmentation settings and the training normalisation; read-only while scoring."""

    # A segmentation of 10k points takes around a second: run it off the server's event loop.
    inline_safe: ClassVar[bool] = False

    def __init__(
        self,
        value_columns: list[str],
        params: dict[str, Any],
        train_center: np.ndarray,
        train_scale: np.ndarray,
    ) -> None:
        super().__init__(value_columns, 0.0)
        self.params = dict(params)
        self.train_center = np.asarray(train_center, dtype=np.float64)
        self.train_scale = np.asarray(train_scale, dtype=np.float64)

    def normalize(self, X: np.ndarray) -> np.ndarray:
        how = self.params["normalize"]
        if how == "train":
            center, scale = self.train_center, self.train_scale
        elif how == "robust":
            center = np.median(X, axis=0)
            diffs = np.diff(X, axis=0) if len(X) > 1 else np.zeros_like(X)
            scale = 1.4826 * np.median(np.abs(diffs - np.median(diffs, axis=0)), axis=0) / math.sqrt(2.0)
            scale = np.where(scale > 0, scale, X.std(axis=0))
        else:
            center, scale = X.mean(axis=0), X.std(axis=0)
        return (X - center) / np.where(scale > 0, scale, 1.0)

    def segment(self, X: np.ndarray) -> tuple[list[int], np.ndarray]:
        Z = self.normalize(np.asarray(X, dtype=np.float64))
        cps = change_points(Z, self.params)
        return cps, change_sizes(Z, cps)

    def _mark(self, n: int, cps: list[int], sizes: np.ndarray, thr: float) -> tuple[np.ndarray, np.ndarray]:
        scores = np.zeros(n)
        w = int(self.params["event_window"])
        # Larger changes last, so where windows overlap a point carries the largest change near it.
        for i in np.argsort(sizes, kind="stable"):
            cp = cps[i]
            lo, hi = max(0, cp - w), min(n, cp + w + 1)
            scores[lo:hi] = np.maximum(scores[lo:hi], sizes[i])
        kept = [c for c, s in zip(cps, sizes) if s > thr]
        labels = np.zeros(n, dtype=np.int64)
        for cp in kept:
            labels[max(0, cp - w) : min(n, cp + w + 1)] = 1
        return scores, labels

    def score(self, X: np.ndarray) -> np.ndarray:
        cps, sizes = self.segment(X)
        return self._mark(len(X), cps, sizes, self.threshold)[0]

    def detect(self, X: np.ndarray, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        scores, labels, thr, _ = self.detect_with_info(X, threshold)
        return scores, labels, thr

    def detect_with_info(
        self, X: np.ndarray, threshold: float | None = None
    ) -> tuple[np.ndarray, np.ndarray, float, dict[str, Any]]:
        thr = self.threshold if threshold is None else float(threshold)
        cps, sizes = self.segment(X)
        scores, labels = self._mark(len(X), cps, sizes, thr)
        info = {
            "change_points": [
                {"index": c, "size": round(float(s), 6)} for c, s in zip(cps, sizes.tolist()) if s > thr
            ]
        }
        return scores, labels, thr, info


@dataclass
class PeltFitted:
    model: PeltPythonModel
    train_samples: int
    train_change_points: int


class PeltAlgorithm(Algorithm):
    scenario: ClassVar[str] = SCENARIO
    name: ClassVar[str] = "PELT"
    param_model: ClassVar[type[PeltParams]] = PeltParams
    serving_requirements: ClassVar[tuple[str, ...]] = ("numpy", "pandas", "ruptures", "scipy")
    objective: ClassVar[Objective] = Objective("cp_f1", "max")

    def resolve_params(self, params: dict[str, Any]) -> dict[str, Any]:
        raw_penalty = params.get("penalty")
        if isinstance(raw_penalty, int | float) and not isinstance(raw_penalty, bool):
            # A number is the penalty itself (the form's way: penalty "value" and penalty_value).
            params = params | {"penalty": "value", "penalty_value": raw_penalty}
        return super().resolve_params(params)

    def tuning_params(self, base: dict[str, Any], sampled: dict[str, Any]) -> dict[str, Any]:
        out = base | sampled
        # A sampled penalty_value is only used with penalty "value"; without a sampled penalty kind, use it.
        if "penalty_value" in sampled and "penalty" not in sampled:
            out["penalty"] = "value"
        return out

    def holdout(self, train: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        # PELT learns nothing from the data but the "train" normalisation: validate on all of it.
        return train, train

    def combine(self, train: Any, val: Any) -> Any:
        return train if val is train else super().combine(train, val)

    def fit(self, train: pd.DataFrame, params: dict[str, Any]) -> PeltFitted:
        params = self.resolve_params(params)
        columns = EcodAlgorithm.value_columns(
            train.drop(columns=[CHANGE_POINT_COLUMN], errors="ignore"), params["value_columns"]
        )
        X = train[columns].apply(pd.to_numeric, errors="coerce").dropna().to_numpy(dtype=np.float64)
        if X.shape[0] < 3:
            raise ValueError(f"PELT needs at least 3 rows with numeric {columns}, got {X.shape[0]}")
        stored = {k: v for k, v in params.items() if k != "value_columns"}
        model = PeltPythonModel(columns, stored, X.mean(axis=0), X.std(axis=0))
        cps, _ = model.segment(X)  # also checks the settings work on this data (e.g. rbf size)
        return PeltFitted(model=model, train_samples=int(X.shape[0]), train_change_points=len(cps))

    def evaluate(self, fitted: PeltFitted, data: pd.DataFrame) -> dict[str, float]:
        model = fitted.model
        frame = data.dropna(subset=model.value_columns).reset_index(drop=True)
        X = frame[model.value_columns].to_numpy(dtype=np.float64)
        scores, labels, _, info = model.detect_with_info(X)
        predicted = [c["index"] for c in info["change_points"]]
        metrics = {
            "eval_samples": float(len(frame)),
            "eval_anomaly_rate": float(labels.mean()) if len(labels) else 0.0,
            "n_change_points": float(len(predicted)),
        }
        truth: list[int] | None = None
        if CHANGE_POINT_COLUMN in frame.columns:
            truth = np.flatnonzero(frame[CHANGE_POINT_COLUMN].fillna(0).to_numpy() > 0).tolist()
        elif LABEL_COLUMN in frame.columns and frame[LABEL_COLUMN].notna().all():
            truth = change_points_from_labels(frame[LABEL_COLUMN].to_numpy())
        if LABEL_COLUMN in frame.columns and frame[LABEL_COLUMN].notna().all() and len(frame):
            metrics |= anomaly_metrics(frame[LABEL_COLUMN].to_numpy(), scores, labels)
        if truth is not None:
            f1, precision, recall = f_measure(
                [truth], predicted, margin=model.params["margin"], include_zero=False
            )
            metrics |= {"cp_f1": f1, "cp_precision": precision, "cp_recall": recall}
        return metrics

    def plots(self, fitted: PeltFitted, data: pd.DataFrame) -> dict[str, Any]:
        return detection_plots(fitted.model, data, "PELT")

    def training_metrics(self, fitted: PeltFitted) -> dict[str, float]:
        return {
            "train_samples": float(fitted.train_samples),
            "train_change_points": float(fitted.train_change_points),
        }

    def pyfunc_model(self, fitted: PeltFitted) -> PeltPythonModel:
        return fitted.model

    def signature(self) -> ModelSignature:
        return anomaly_signature()

    def model_metadata(self, fitted: PeltFitted) -> dict[str, Any]:
        return super().model_metadata(fitted) | {"value_columns": fitted.model.value_columns}
