"""The text_classification scenario: its metrics and its predict contract.

Release layout: ``{split}/*.csv`` with columns ``text`` and ``label`` (labels are compared as strings).

Request (``text_request``): ``{"texts": ["...", ...], "config": {"top_k"?}}``. Response (``TextResponse``):
``{"results": [{"label", "probability", "top": [{"label", "probability"}]}], "metadata": {"model_uri",
"model_version", "count", "execution_ms"}}`` — ``top`` lists the ``top_k`` most probable classes (default:
all classes, at most ``DEFAULT_TOP_K``; a larger ``top_k`` is cut to the number of classes).

Pyfunc input: a DataFrame whose ``text`` column (else its first column) holds the texts; params
``{"top_k": int}``. Output: a DataFrame with ``label``, ``probability`` and ``top``.
"""

from __future__ import annotations

import re
import time
from functools import lru_cache
from typing import Any, ClassVar, NotRequired

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ParamSchema, ParamSpec
from pydantic import StrictStr
from typing_extensions import TypedDict

from algorithms.base.contracts import Limits, ScenarioContract, ServedModel, quote
from algorithms.base.requests import TEXTS, Declared, integer, object_type

SCENARIO = "text_classification"
TEXT_COLUMN = "text"
LABEL_COLUMN = "label"
DEFAULT_TOP_K = 5
TopK = integer(ge=1)


def text_signature() -> ModelSignature:
    return ModelSignature(inputs=None, params=ParamSchema([ParamSpec("top_k", "long", None)]))


def metric_key(label: str) -> str:
    """A class label usable inside an MLflow metric name (letters of any script, digits, ``_-. /``)."""
    return re.sub(r"[^\w\-. /]", "_", label)[:100] or "_"


def text_metrics(y_true: list[str], y_pred: list[str], classes: list[str]) -> dict[str, float]:
    """Accuracy, macro and weighted F1 / precision / recall, and per class precision, recall, F1, support."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    metrics: dict[str, float] = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "eval_samples": float(len(y_true)),
    }
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=classes, average=average, zero_division=0
        )
        metrics |= {
            f"precision_{average}": float(p),
            f"recall_{average}": float(r),
            f"f1_{average}": float(f),
        }
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, average=None, zero_division=0
    )
    for i, label in enumerate(classes):
        key = metric_key(label)
        metrics |= {
            f"class_{key}_precision": float(p[i]),
            f"class_{key}_recall": float(r[i]),
            f"class_{key}_f1": float(f[i]),
            f"class_{key}_support": float(s[i]),
        }
    return metrics


def top_k_of(params: dict[str, Any] | None, n_classes: int) -> int:
    raw = (params or {}).get("top_k")
    if raw is None:
        return min(n_classes, DEFAULT_TOP_K)
    if isinstance(raw, bool) or not isinstance(raw, (int, np.integer)) or raw < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {quote(raw)}")
    return min(int(raw), n_classes)


def results(proba: np.ndarray, classes: list[str], top_k: int) -> list[dict[str, Any]]:
    """One result per row of class probabilities: the best class and the ``top_k`` best."""
    order = np.argsort(-proba, axis=1, kind="stable")[:, :top_k]
    out = []
    for row, idx in zip(proba, order, strict=True):
        top = [{"label": classes[j], "probability": float(row[j])} for j in idx]
        out.append({"label": top[0]["label"], "probability": top[0]["probability"], "top": top})
    return out


def texts_of_frame(frame: Any) -> list[str]:
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    column = frame[TEXT_COLUMN] if TEXT_COLUMN in frame.columns else frame.iloc[:, 0]
    return ["" if v is None else str(v) for v in column.tolist()]


class TextConfig(TypedDict, total=False):
    top_k: TopK


@lru_cache(maxsize=16)
def text_request(limits: Limits) -> Declared:
    """``{"texts": ["...", ...], "config"?: {"top_k"?: integer >= 1} | null}``: at least one text."""
    fields = {"texts": TEXTS.items(StrictStr, limits), "config": NotRequired[TextConfig | None]}
    example = {"texts": ["WINNER!! Claim your free prize now"], "config": {"top_k": 2}}
    return Declared(object_type("TextRequest", fields, examples=[example]), TEXTS)


class ClassProbability(TypedDict):
    label: str
    probability: float


class TextResult(TypedDict):
    label: str
    probability: float
    top: list[ClassProbability]


class TextMetadata(TypedDict):
    model_uri: str
    model_version: str | None
    count: int
    execution_ms: float


class TextResponse(TypedDict):
    results: list[TextResult]
    metadata: TextMetadata


TEXT_RESPONSE = Declared(TextResponse)


class TextClassificationContract(ScenarioContract):
    """Serves pyfunc models with a ``classify(texts, top_k)`` fast path, or any pyfunc returning the
    ``label/probability/top`` frame."""

    scenario: ClassVar[str] = SCENARIO

    def request(self, model: ServedModel | None, limits: Limits) -> Declared:
        return text_request(limits)

    def response(self, model: ServedModel | None) -> Declared:
        return TEXT_RESPONSE

    def predict(self, body: Any, model: ServedModel, limits: Limits) -> dict[str, Any]:
        started = time.perf_counter()
        request = self.request(model, limits).validate(body, limits)
        texts: list[str] = request["texts"]
        top_k = (request.get("config") or {}).get("top_k")
        params = {"top_k": top_k} if top_k is not None else None
        classify = getattr(model.python_model, "classify", None)
        if callable(classify):
            out = classify(texts, params)
        else:
            frame = model.predict_frame(pd.DataFrame({TEXT_COLUMN: texts}), params)
            out = frame[["label", "probability", "top"]].to_dict("records")
        return {
            "results": out,
            "metadata": {
                "model_uri": model.uri,
                "model_version": model.version,
                "count": len(texts),
                "execution_ms": (time.perf_counter() - started) * 1000.0,
            },
        }

    def warmup_body(self, model: ServedModel) -> dict[str, Any]:
        # Chinese and English, so a jieba model loads its dictionary before reporting ready.
        return {"texts": ["warm-up text", "预热文本"]}
