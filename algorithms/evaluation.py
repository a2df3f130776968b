"""The promotion gate's evaluation of a model on a release split, by its scenario's pyfunc contract only.

Each scenario reads its evaluation data from the release and scores a loaded pyfunc model on it through the
contract's pyfunc input and output (``algorithms/base/<scenario>.py``), so a custom job's model is measured
exactly like a preset's. The metrics come from the helpers the algorithms' own ``evaluate`` uses (and their
names are those of ``catalog.model_gate.SCENARIO_METRICS``):

- anomaly_detection: ``anomaly_rate`` always; ``f1``, ``precision``, ``recall`` and ``roc_auc`` (both classes
  present) when every row of the split has a ``label`` (``anomaly_metrics``);
- timeseries_predict: ``mape``, ``rmse``, ``mae``, ``smape`` (``forecast_metrics``) of a forecast of the split's
  length (at most 1,000 steps) made with the release's train part as history and no level adjustment, compared
  point by point in time order; when the split is train itself, its last 20% is forecast from the rest;
- log_clustering: ``coverage`` and, with ground truth, ``grouping_accuracy`` (``log_metrics``);
- text_classification: ``accuracy``, ``f1_macro`` and the rest of ``text_metrics``;
- image_classification: ``top1``, ``top5`` (plus ``text_metrics`` of the top-1 answers);
- object_detection: ``mAP50``, ``mAP50-95``, ``precision``, ``recall``: ultralytics' matching of boxes to
  labels over IoU 0.5-0.95 and its ``ap_per_class``, the computation its validator runs in training.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from algorithms.base.release import Release, ReleaseError

SPLITS: tuple[str, ...] = ("test", "val", "train")
LABEL_COLUMN = "label"
NOT_VALUES = frozenset({"timestamp", "ds", LABEL_COLUMN, "change_point"})
IMAGE_BATCH = 32


@dataclass
class Split:
    """One evaluation split as a scenario reads it: ``rows`` counts its samples."""

    name: str
    rows: int
    data: Any


def choose_split(release: Release, split: str | None = None) -> str:
    """``split`` when given (it must be in the release), else test, else val, else train."""
    if split:
        if not release.has_split(split):
            raise ReleaseError(f"the release has no {split!r} split (it has {', '.join(release.splits)})")
        return split
    for name in SPLITS:
        if release.has_split(name):
            return name
    raise ReleaseError(f"the release has none of the splits {', '.join(SPLITS)}")


def python_model(model: Any) -> Any | None:
    """The model's ``PythonModel`` when it is one (a preset's), else None (any other flavour)."""
    try:
        return model.unwrap_python_model()
    except Exception:  # noqa: BLE001 - other flavours have none
        return None


def finite(metrics: dict[str, Any]) -> dict[str, float]:
    """Only finite numbers: a metric that could not be computed (NaN) is absent, not stored as NaN."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
            continue
        if math.isfinite(float(value)):
            out[str(key)] = float(value)
    return out


# ---------------------------------------------------------------- anomaly detection


def read_anomaly(release: Release, split: str) -> Split:
    frame = release.read_table(split)
    return Split(split, len(frame), frame)


def score_anomaly(model: Any, split: Split) -> dict[str, float]:
    from algorithms.base.anomaly import AnomalyPythonModel, anomaly_metrics

    frame: pd.DataFrame = split.data
    inner = python_model(model)
    if isinstance(inner, AnomalyPythonModel):
        columns = list(inner.value_columns)
    else:
        columns = [
            c for c in frame.columns if c not in NOT_VALUES and pd.api.types.is_numeric_dtype(frame[c])
        ]
    missing = [c for c in columns if c not in frame.columns]
    if missing or not columns:
        raise ValueError(f"the split has no value column(s) {missing or '(none numeric)'} the model needs")
    frame = frame.dropna(subset=columns).reset_index(drop=True)
    given = (["timestamp"] if "timestamp" in frame.columns else []) + columns
    out = pd.DataFrame(model.predict(frame[given]))
    labels = out["label"].to_numpy(dtype=np.int64)
    scores = out["score"].to_numpy(dtype=np.float64)
    metrics: dict[str, float] = {
        "anomaly_rate": float(labels.mean()) if len(labels) else 0.0,
        "eval_samples": float(len(frame)),
    }
    if LABEL_COLUMN in frame.columns and frame[LABEL_COLUMN].notna().all() and len(frame):
        metrics |= anomaly_metrics(frame[LABEL_COLUMN].to_numpy(), scores, labels)
    return metrics


# ---------------------------------------------------------------- forecasting


def read_forecast(release: Release, split: str) -> Split:
    from algorithms.prophet_model import ProphetAlgorithm

    series = ProphetAlgorithm.series
    if split == "train":
        history, actual = ProphetAlgorithm().holdout(release.read_table("train"))
    else:
        history = series(release.read_table("train")) if release.has_split("train") else None
        actual = series(release.read_table(split))
    return Split(split, len(actual), (history, actual))


def score_forecast(model: Any, split: Split) -> dict[str, float]:
    from algorithms.base.timeseries import MAX_STEPS, forecast_metrics, iso

    history, actual = split.data
    steps = min(len(actual), MAX_STEPS)
    if steps == 0:
        raise ValueError("the evaluation split has no dated values")
    given = pd.DataFrame(
        {"timestamp": iso(history["ds"]), "value": history["y"].to_numpy()}
        if history is not None and len(history)
        else {"timestamp": [], "value": []}
    )
    out = pd.DataFrame(model.predict(given, params={"steps": steps, "adjust_level": False}))
    predicted = out["value"].to_numpy(dtype=np.float64)[:steps]
    if len(predicted) < steps:
        raise ValueError(f"the model forecast {len(predicted)} steps where {steps} were asked for")
    return forecast_metrics(actual["y"].to_numpy()[:steps], predicted) | {"eval_samples": float(steps)}


# ---------------------------------------------------------------- log clustering


def read_logs(release: Release, split: str) -> Split:
    from algorithms.base.logs import read_log_split

    data = read_log_split(release, split)
    return Split(split, len(data.lines), data)


def score_logs(model: Any, split: Split) -> dict[str, float]:
    from algorithms.base.logs import log_metrics

    out = pd.DataFrame(model.predict(pd.DataFrame({"line": split.data.lines})))
    metrics = log_metrics([int(c) for c in out["cluster_id"].tolist()], split.data.event_ids)
    if split.data.ground_truth_mismatch:
        metrics["ground_truth_rows_mismatch"] = 1.0
    return metrics


# ---------------------------------------------------------------- text classification


def read_text(release: Release, split: str) -> Split:
    from algorithms.text_classification import texts_and_labels

    texts, labels = texts_and_labels(release.read_table(split))
    return Split(split, len(texts), (texts, labels))


def score_text(model: Any, split: Split) -> dict[str, float]:
    from algorithms.base.text import TEXT_COLUMN, text_metrics

    texts, truth = split.data
    if not texts:
        raise ValueError("the evaluation split has no labelled texts")
    out = pd.DataFrame(model.predict(pd.DataFrame({TEXT_COLUMN: texts})))
    predicted = [str(v).strip() for v in out["label"].tolist()]
    known = [str(c) for c in getattr(python_model(model), "classes", None) or []]
    return text_metrics(truth, predicted, sorted(set(known) | set(truth) | set(predicted)))


# ---------------------------------------------------------------- images


def read_classify(release: Release, split: str) -> Split:
    from algorithms.yolo.data import CLASSIFY, read_image_split

    images = read_image_split(release, split, CLASSIFY, with_monitor=False)
    return Split(split, len(images), images)


def read_detect(release: Release, split: str) -> Split:
    from algorithms.yolo.data import DETECT, read_image_split

    images = read_image_split(release, split, DETECT, with_monitor=False)
    return Split(split, len(images), images)


def _encoded(paths: tuple[Path, ...]) -> list[str]:
    return [base64.b64encode(p.read_bytes()).decode() for p in paths]


def _answers(model: Any, paths: tuple[Path, ...], params: dict[str, Any]) -> list[dict[str, Any]]:
    """The contract's result of each image (``{"error"}`` for one the model could not read), in batches."""
    from algorithms.base.images import IMAGE_COLUMN, RESULT_COLUMN

    answers: list[dict[str, Any]] = []
    for start in range(0, len(paths), IMAGE_BATCH):
        frame = pd.DataFrame({IMAGE_COLUMN: _encoded(paths[start : start + IMAGE_BATCH])})
        out = model.predict(frame, params=params)
        answers.extend(list(out[RESULT_COLUMN]) if isinstance(out, pd.DataFrame) else list(out))
    return answers


def score_classify(model: Any, split: Split) -> dict[str, float]:
    from algorithms.base.text import text_metrics

    images = split.data
    truth = [images.names[label] for label in images.labels]
    predicted, in_top5 = [], 0
    for name, answer in zip(truth, _answers(model, images.images, {"top_k": 5}), strict=True):
        ranked = [str(p["class_name"]) for p in (answer.get("predictions") or [])][:5]
        predicted.append(ranked[0] if ranked else "")
        in_top5 += name in ranked
    metrics = text_metrics(truth, predicted, sorted(set(images.names) | set(truth)))
    return metrics | {"top1": metrics["accuracy"], "top5": in_top5 / max(len(truth), 1)}


def _label_path(image: Path) -> Path:
    # Ultralytics' rule: the last /images/ of the path becomes /labels/, the suffix .txt.
    text = str(image)
    head, sep, tail = text.rpartition("/images/")
    return Path((head + "/labels/" + tail) if sep else text).with_suffix(".txt")


def _truth_boxes(image: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(classes, xyxy pixel boxes) of an image's YOLO label file (none for a background image)."""
    path = _label_path(image)
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    if not rows:
        return np.zeros(0), np.zeros((0, 4))
    table = np.asarray([[float(v) for v in row[:5]] for row in rows])
    cx, cy, w, h = table[:, 1] * width, table[:, 2] * height, table[:, 3] * width, table[:, 4] * height
    return table[:, 0], np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def score_detect(model: Any, split: Split) -> dict[str, float]:
    from types import SimpleNamespace

    from PIL import Image

    from algorithms.yolo.offline import load_ultralytics

    load_ultralytics()
    import torch
    from ultralytics.engine.validator import BaseValidator
    from ultralytics.utils.metrics import ap_per_class, box_iou

    images = split.data
    index = {name: i for i, name in enumerate(images.names)}
    matcher = SimpleNamespace(iouv=torch.linspace(0.5, 0.95, 10))
    stats: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for path, answer in zip(images.images, _answers(model, images.images, {}), strict=True):
        with Image.open(path) as picture:
            width, height = picture.size
        true_cls, true_box = _truth_boxes(path, width, height)
        found = sorted(answer.get("detections") or [], key=lambda d: -float(d["confidence"]))
        conf = np.asarray([float(d["confidence"]) for d in found])
        pred_cls = np.asarray([float(index.get(str(d.get("class_name")), -1)) for d in found])
        boxes = np.asarray(
            [[d["bbox"][k] for k in ("x1", "y1", "x2", "y2")] for d in found], dtype=np.float64
        )
        correct = np.zeros((len(found), 10), dtype=bool)
        if len(found) and len(true_cls):
            iou = box_iou(torch.from_numpy(true_box).float(), torch.from_numpy(boxes.reshape(-1, 4)).float())
            correct = BaseValidator.match_predictions(  # type: ignore[arg-type]
                matcher, torch.from_numpy(pred_cls), torch.from_numpy(true_cls), iou
            ).numpy()
        stats.append((correct, conf, pred_cls, true_cls))
    tp, conf, pred_cls, true_cls = (np.concatenate([s[i] for s in stats], 0) for i in range(4))
    if not len(true_cls):
        raise ValueError("the evaluation split has no labelled boxes")
    _, _, precision, recall, _, ap, *_ = ap_per_class(tp, conf, pred_cls, true_cls)
    return {
        "mAP50": float(ap[:, 0].mean()) if len(ap) else 0.0,
        "mAP50-95": float(ap.mean()) if len(ap) else 0.0,
        "precision": float(precision.mean()) if len(precision) else 0.0,
        "recall": float(recall.mean()) if len(recall) else 0.0,
        "eval_images": float(len(images)),
    }


@dataclass(frozen=True)
class ScenarioEvaluation:
    read: Callable[[Release, str], Split]
    score: Callable[[Any, Split], dict[str, float]]


SCENARIOS: dict[str, ScenarioEvaluation] = {
    "anomaly_detection": ScenarioEvaluation(read_anomaly, score_anomaly),
    "timeseries_predict": ScenarioEvaluation(read_forecast, score_forecast),
    "log_clustering": ScenarioEvaluation(read_logs, score_logs),
    "text_classification": ScenarioEvaluation(read_text, score_text),
    "image_classification": ScenarioEvaluation(read_classify, score_classify),
    "object_detection": ScenarioEvaluation(read_detect, score_detect),
}


def scenario_evaluation(scenario: str) -> ScenarioEvaluation:
    try:
        return SCENARIOS[scenario]
    except KeyError:
        raise ValueError(f"no evaluation for scenario {scenario!r}; known: {sorted(SCENARIOS)}") from None
