"""The served YOLO model: an MLflow ``PythonModel`` holding the trained weights, predicting by the image
contracts of ``algorithms.base.images``.

The weights (ultralytics' ``best.pt``, a few MB for size n) travel inside the pickled model, so the model
folder is self-contained; they are loaded into ultralytics (offline, see ``offline``) on first use or in
``load_context``. Ultralytics' predictor keeps per-call state, so predictions are serialised by a lock: one
model instance is safe to share between the server's threads. Pickling drops the loaded network.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ParamSchema, ParamSpec

from algorithms.base.images import DEFAULT_TOP_K, RESULT_COLUMN, images_of_frame
from algorithms.yolo.data import CLASSIFY, DETECT
from algorithms.yolo.offline import load_ultralytics

PREDICT_BATCH = 32
DEFAULT_MAX_DETECTIONS = 300
SCENARIOS: dict[str, str] = {CLASSIFY: "image_classification", DETECT: "object_detection"}


def yolo_signature(task: str) -> ModelSignature:
    if task == CLASSIFY:
        specs = [ParamSpec("top_k", "long", None)]
    else:
        specs = [
            ParamSpec("conf", "double", None),
            ParamSpec("iou", "double", None),
            ParamSpec("max_detections", "long", None),
        ]
    return ModelSignature(inputs=None, params=ParamSchema(specs))


def load_yolo(weights: bytes) -> Any:
    """An ultralytics ``YOLO`` model from checkpoint bytes (written to a private temp file to be read)."""
    load_ultralytics()
    from ultralytics import YOLO

    with tempfile.TemporaryDirectory(prefix="mlops-yolo-") as tmp:
        path = Path(tmp) / "model.pt"
        path.write_bytes(weights)
        return YOLO(str(path))


class YoloPythonModel(mlflow.pyfunc.PythonModel):
    """Classification (``task="classify"``) or detection (``task="detect"``) with trained YOLO weights."""

    scenario: str  # from the task; the server reads it from the model metadata first

    def __init__(
        self, task: str, weights: bytes, names: list[str], imgsz: int, defaults: dict[str, Any] | None = None
    ) -> None:
        self.task = task
        self.weights = weights
        self.names = list(names)
        self.imgsz = int(imgsz)
        self.defaults = dict(defaults or {})
        self.scenario = SCENARIOS[task]
        self._yolo: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_yolo"] = None
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def load_context(self, context: Any) -> None:
        with self._lock:
            self._model()

    def _model(self) -> Any:
        if self._yolo is None:
            self._yolo = load_yolo(self.weights)
        return self._yolo

    def validate(self, **options: Any) -> Any:
        """Ultralytics' validator on the loaded network (training's evaluation), under the predict lock."""
        with self._lock:
            return self._model().val(**options)

    def predict_images(self, images: list[Any], params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One result per RGB PIL image, by the scenario's contract."""
        params = params or {}
        options: dict[str, Any] = {
            "imgsz": self.imgsz,
            "verbose": False,
            "batch": min(len(images), PREDICT_BATCH),
        }
        if self.task == DETECT:
            options |= {
                "conf": float(params.get("conf", self.defaults.get("conf", 0.25))),
                "iou": float(params.get("iou", self.defaults.get("iou", 0.7))),
                "max_det": int(params.get("max_detections", DEFAULT_MAX_DETECTIONS)),
            }
        out: list[dict[str, Any]] = []
        with self._lock:
            model = self._model()
            for start in range(0, len(images), PREDICT_BATCH):
                chunk = images[start : start + PREDICT_BATCH]
                results = model.predict(source=chunk, **options)
                out.extend(
                    self._classes(r, params) if self.task == CLASSIFY else self._boxes(r) for r in results
                )
        return out

    def _classes(self, result: Any, params: dict[str, Any]) -> dict[str, Any]:
        probs = result.probs.data.float().cpu().numpy()
        top_k = min(int(params.get("top_k") or min(DEFAULT_TOP_K, len(self.names))), len(self.names))
        order = probs.argsort()[::-1][:top_k]
        return {
            "predictions": [
                {"class_id": int(j), "class_name": self.names[int(j)], "confidence": float(probs[j])}
                for j in order
            ]
        }

    def _boxes(self, result: Any) -> dict[str, Any]:
        boxes = result.boxes
        xyxy = boxes.xyxy.float().cpu().numpy()
        conf = boxes.conf.float().cpu().numpy()
        cls = boxes.cls.int().cpu().numpy()
        height, width = result.orig_shape
        detections = [
            {
                "bbox": {"x1": float(b[0]), "y1": float(b[1]), "x2": float(b[2]), "y2": float(b[3])},
                "class_id": int(c),
                "class_name": self.names[int(c)] if 0 <= int(c) < len(self.names) else str(int(c)),
                "confidence": float(p),
            }
            for b, p, c in zip(xyxy, conf, cls, strict=True)
        ]
        return {"detections": detections, "width": int(width), "height": int(height)}

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Pyfunc entry: a frame with an ``image`` column of base64 strings → a ``result`` column."""
        opened = images_of_frame(model_input)
        good = [i for i, item in enumerate(opened) if not isinstance(item, str)]
        results: list[dict[str, Any]] = [{"error": item} if isinstance(item, str) else {} for item in opened]
        if good:
            for i, answer in zip(good, self.predict_images([opened[i] for i in good], params), strict=True):
                results[i] = answer
        return pd.DataFrame({RESULT_COLUMN: results})
