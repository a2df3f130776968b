"""``YOLOClassification`` (image_classification) and ``YOLODetection`` (object_detection): ultralytics YOLO
trained on a release's class folders / YOLO layout, offline, on the CPU unless told otherwise.

Splits are ``data.ImageSplit`` objects; fitting is ``training.train_yolo`` (per-epoch metrics go to the
run attached by ``use_run``); the served model is ``model.YoloPythonModel``. Evaluation on a split:
classification predicts every image with the served model's own code path and reports ``top1``,
``top5``, accuracy and macro/weighted/per-class precision, recall, F1 (and a confusion matrix plot); detection runs ultralytics'
validator and reports ``mAP50``, ``mAP50-95``, ``precision``, ``recall`` and per-class mAP50-95.
Tuning maximises ``top1`` / ``mAP50-95`` on the validation images.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mlflow import MlflowClient
from mlflow.models import ModelSignature

from algorithms.base.algorithm import Algorithm, pinned
from algorithms.base.plots import confusion_figure
from algorithms.base.release import Release
from algorithms.base.text import metric_key, text_metrics
from algorithms.base.tuning import Objective
from algorithms.params.yolo import YoloClassificationParams, YoloDetectionParams
from algorithms.yolo import data as image_data
from algorithms.yolo.data import CLASSIFY, DETECT, ImageSplit
from algorithms.yolo.model import SCENARIOS, YoloPythonModel, yolo_signature
from algorithms.yolo.training import EpochLogger, TrainOutcome, torch_device, train_yolo
from algorithms.yolo.weights import check_weights

EVAL_BATCH = 64


@dataclass
class YoloFitted:
    model: YoloPythonModel
    outcome: TrainOutcome
    params: dict[str, Any]
    train_images: int


class YoloAlgorithm(Algorithm):
    """Shared by both tasks; subclasses set ``task`` and their parameter specs."""

    task: ClassVar[str]
    param_model: ClassVar[type[YoloClassificationParams]] = YoloClassificationParams
    serving_requirements: ClassVar[tuple[str, ...]] = (
        "numpy",
        "pandas",
        "pillow",
        "torch",
        "torchvision",
        "ultralytics",
    )

    def __init__(self) -> None:
        self._client: MlflowClient | None = None
        self._run_id: str | None = None
        self._next_step = 0

    def use_run(self, client: MlflowClient, run_id: str) -> None:
        self._client, self._run_id = client, run_id

    def resolve_params(self, params: dict[str, Any]) -> dict[str, Any]:
        resolved = super().resolve_params(params)
        if resolved["weights"]:
            check_weights(resolved["weights"])  # on this machine, before anything is fetched or trained
        return resolved

    def tuning_params(self, base: dict[str, Any], sampled: dict[str, Any]) -> dict[str, Any]:
        """A trial's params; tuning ``lr0`` under ``optimizer=auto`` tunes it for AdamW, since ultralytics'
        auto mode picks its own learning rate and would silently ignore every sampled value."""
        out = base | sampled
        if "lr0" in sampled and out.get("optimizer", "auto") == "auto":
            out["optimizer"] = "AdamW"
        return out

    def read_split(self, release: Release, split: str) -> ImageSplit:
        return image_data.read_image_split(release, split, self.task)

    def holdout(self, train: ImageSplit) -> tuple[ImageSplit, ImageSplit]:
        return image_data.holdout(train)

    def combine(self, train: ImageSplit, val: ImageSplit) -> ImageSplit:
        return image_data.combine(train, val)

    def fit(self, train: ImageSplit, params: dict[str, Any]) -> YoloFitted:
        params = self.resolve_params(params)
        logger = EpochLogger(self._client, self._run_id, self._next_step, self.name)
        outcome = train_yolo(self.task, train, params, logger)
        self._next_step = logger.step
        defaults = {k: params[k] for k in YoloDetectionParams.PREDICT_DEFAULTS if k in params}
        model = YoloPythonModel(self.task, outcome.weights, outcome.names, params["imgsz"], defaults)
        return YoloFitted(model=model, outcome=outcome, params=params, train_images=len(train))

    def training_metrics(self, fitted: YoloFitted) -> dict[str, float]:
        outcome = fitted.outcome
        return {
            "train_images": float(fitted.train_images),
            "n_classes": float(len(outcome.names)),
            "epochs_run": float(outcome.epochs_run),
            "best_epoch": float(outcome.best_epoch),
            "fit_seconds": outcome.fit_seconds,
            "seconds_per_epoch": outcome.fit_seconds / max(outcome.epochs_run, 1),
            "parameters": float(outcome.parameters),
        }

    def pyfunc_model(self, fitted: YoloFitted) -> YoloPythonModel:
        return fitted.model

    def signature(self) -> ModelSignature:
        return yolo_signature(self.task)

    def pip_requirements(self) -> list[str]:
        return pinned("mlflow", *self.serving_requirements)

    def model_metadata(self, fitted: YoloFitted) -> dict[str, Any]:
        return super().model_metadata(fitted) | {
            "task": self.task,
            "classes": fitted.model.names,
            "imgsz": fitted.model.imgsz,
            "model_size": fitted.params["model_size"],
            "weights": fitted.params["weights"],
        }


class YOLOClassification(YoloAlgorithm):
    scenario: ClassVar[str] = SCENARIOS[CLASSIFY]
    name: ClassVar[str] = "YOLOClassification"
    task: ClassVar[str] = CLASSIFY
    objective: ClassVar[Objective | None] = Objective("top1", "max")

    @staticmethod
    def predictions(fitted: YoloFitted, data: ImageSplit) -> tuple[list[str], list[str], int]:
        """(true classes, predicted classes, how many true classes were among the top 5) of a split, predicted
        through the served model's own code."""
        from PIL import Image

        model = fitted.model
        top_k = min(5, len(model.names))
        truth: list[str] = []
        predicted: list[str] = []
        in_top5 = 0
        for start in range(0, len(data), EVAL_BATCH):
            images = []
            for path in data.images[start : start + EVAL_BATCH]:
                with Image.open(path) as picture:
                    images.append(picture.convert("RGB"))
            for label, result in zip(
                data.labels[start : start + EVAL_BATCH],
                model.predict_images(images, {"top_k": top_k}),
                strict=True,
            ):
                ranked = [p["class_name"] for p in result["predictions"]]
                truth.append(data.names[label])
                predicted.append(ranked[0])
                in_top5 += data.names[label] in ranked
        return truth, predicted, in_top5

    def evaluate(self, fitted: YoloFitted, data: ImageSplit) -> dict[str, float]:
        truth, predicted, in_top5 = self.predictions(fitted, data)
        metrics = text_metrics(truth, predicted, sorted(set(fitted.model.names) | set(truth)))
        return metrics | {"top1": metrics["accuracy"], "top5": in_top5 / max(len(truth), 1)}

    def plots(self, fitted: YoloFitted, data: ImageSplit) -> dict[str, Any]:
        truth, predicted, _ = self.predictions(fitted, data)
        classes = sorted(set(fitted.model.names) | set(truth))
        title = f"{self.name}: confusion matrix ({len(truth)} images)"
        return {"confusion_matrix": confusion_figure(truth, predicted, classes, title=title)}


class YOLODetection(YoloAlgorithm):
    scenario: ClassVar[str] = SCENARIOS[DETECT]
    name: ClassVar[str] = "YOLODetection"
    task: ClassVar[str] = DETECT
    objective: ClassVar[Objective | None] = Objective("mAP50-95", "max")
    param_model = YoloDetectionParams

    def evaluate(self, fitted: YoloFitted, data: ImageSplit) -> dict[str, float]:
        params = fitted.params
        with tempfile.TemporaryDirectory(prefix="mlops-yolo-val-") as tmp:
            # ultralytics insists on a train key in every data yaml, even to validate only.
            data_yaml = image_data.write_detect_yaml(Path(tmp) / "data", {"train": data, "val": data})
            result = fitted.model.validate(
                data=str(data_yaml),
                split="val",
                imgsz=params["imgsz"],
                batch=params["batch"],
                device=torch_device(params["device"]),
                workers=params["workers"],
                plots=False,
                verbose=False,
                project=str(Path(tmp) / "runs"),
                name="val",
                exist_ok=True,
            )
        box = result.box
        metrics = {
            "mAP50": float(box.map50),
            "mAP50-95": float(box.map),
            "precision": float(box.mp),
            "recall": float(box.mr),
            "eval_images": float(len(data)),
        }
        for i, cls in enumerate(getattr(box, "ap_class_index", [])):
            metrics[f"class_{metric_key(fitted.model.names[int(cls)])}_mAP50-95"] = float(box.maps[int(cls)])
            metrics[f"class_{metric_key(fitted.model.names[int(cls)])}_mAP50"] = float(box.ap50[i])
        return metrics
