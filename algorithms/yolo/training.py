"""Training a YOLO model with ultralytics: device choice, building the network, the fit itself and its
per-epoch metrics.

Parameters (declared in ``algorithms.params.yolo``): ``model_size`` n/s/m (the network is built from
ultralytics' own ``yolo11{size}-cls.yaml`` / ``yolo11{size}.yaml``, no weights needed); ``weights`` (a ``.pt``
file inside ``MLOPS_TRAIN_WEIGHTS_DIR`` to start from instead — its own architecture is used; anything else
fails in ``resolve_params`` by ``algorithms.yolo.weights``, before anything is downloaded or trained);
``epochs``, ``imgsz``, ``batch``, ``lr0``, ``optimizer`` (``auto`` lets ultralytics choose the optimizer and
its learning rate, ignoring ``lr0``), ``patience`` (0: never stop early), ``warmup_epochs`` (learning-rate
warm-up; ultralytics makes it at least 100 iterations, so 0 matters for tiny data), ``fliplr`` (probability
of a horizontal flip as augmentation; 0 where a mirror image means something else: digits, text),
``device`` (cpu / auto: a CUDA GPU when one is visible / gpu: fails without one), ``workers``, ``seed``;
detection adds ``conf`` and ``iou``, the prediction-time defaults stored in the model.

Each epoch, ultralytics validates on the monitor split (``data.ImageSplit.monitored``); ``EpochLogger``
sends that epoch's metrics to the job's MLflow run (``MlflowClient``, explicit run id) with the step
counting epochs over every fit of the job (tuning trials first, the final fit last), and prints a line.
Ultralytics' own MLflow callback stays off (``offline``). The best epoch's weights are kept.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from algorithms.base.tracking import log_metrics
from algorithms.yolo.data import CLASSIFY, ImageSplit, write_classify_root, write_detect_yaml
from algorithms.yolo.offline import load_ultralytics
from algorithms.yolo.weights import check_weights

# Ultralytics' metric keys → ours (per epoch, on the monitor split).
EPOCH_KEYS: dict[str, str] = {
    "metrics/accuracy_top1": "top1",
    "metrics/accuracy_top5": "top5",
    "metrics/mAP50(B)": "mAP50",
    "metrics/mAP50-95(B)": "mAP50-95",
    "metrics/precision(B)": "precision",
    "metrics/recall(B)": "recall",
}


def torch_device(choice: str) -> str:
    """Ultralytics' device string for the form's choice."""
    import torch

    if choice == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "0"
    if choice == "gpu":
        raise ValueError("device 'gpu' was asked for but no CUDA GPU is visible to torch; use cpu or auto")
    return "cpu"


def build_model(task: str, params: dict[str, Any]) -> Any:
    """The network: from the local weights file when given (its task must match), else from the yaml."""
    load_ultralytics()
    from ultralytics import YOLO

    if params["weights"]:
        model = YOLO(str(check_weights(params["weights"])))
        if model.task != task:
            raise ValueError(f"weights {params['weights']!r} are for the {model.task!r} task, not {task!r}")
        return model
    suffix = "-cls" if task == CLASSIFY else ""
    return YOLO(f"yolo11{params['model_size']}{suffix}.yaml", task=task)


class EpochLogger:
    """Per-epoch metrics to the MLflow run (when one is attached) and one printed line per epoch."""

    def __init__(self, client: MlflowClient | None, run_id: str | None, first_step: int, label: str) -> None:
        self.client, self.run_id = client, run_id
        self.step = first_step
        self.label = label
        self.epochs: list[dict[str, float]] = []
        self.final: dict[str, float] = {}
        self._started = time.perf_counter()
        self._trained = False

    def on_train_epoch_start(self, trainer: Any) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: Any) -> None:
        self._trained = True

    def on_fit_epoch_end(self, trainer: Any) -> None:
        metrics = {
            ours: float(trainer.metrics[key]) for key, ours in EPOCH_KEYS.items() if key in trainer.metrics
        }
        if not self._trained:
            # Ultralytics validates the best weights once more after the last epoch: not an epoch of its own.
            self.final = metrics
            return
        self._trained = False
        losses = trainer.label_loss_items(trainer.tloss, prefix="train") or {}
        values = {f"epoch_{k}": v for k, v in metrics.items()}
        values |= {f"epoch_{k.replace('/', '_')}": float(v) for k, v in losses.items()}
        values |= {
            f"epoch_{k.replace('/', '_')}": float(v) for k, v in trainer.metrics.items() if "loss" in k
        }
        values["epoch_seconds"] = time.perf_counter() - self._started
        values["epoch"] = float(trainer.epoch + 1)
        self.epochs.append(values)
        if self.client is not None and self.run_id:
            log_metrics(self.client, self.run_id, values, step=self.step)
        self.step += 1
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        print(
            f"[{self.label}] epoch {trainer.epoch + 1}/{trainer.epochs}: {shown} "
            f"({values['epoch_seconds']:.1f} s)",
            flush=True,
        )

    def attach(self, model: Any) -> None:
        for event in ("on_train_epoch_start", "on_train_epoch_end", "on_fit_epoch_end"):
            model.add_callback(event, getattr(self, event))


@dataclass
class TrainOutcome:
    weights: bytes
    names: list[str]
    epochs_run: int
    best_epoch: int
    fit_seconds: float
    parameters: int
    epoch_metrics: list[dict[str, float]]
    best_metrics: dict[str, float]


def train_yolo(task: str, data: ImageSplit, params: dict[str, Any], logger: EpochLogger) -> TrainOutcome:
    """Fit on ``data`` (validating each epoch on its monitor split); the best epoch's weights."""
    device = torch_device(params["device"])
    monitor = data.monitored()
    with tempfile.TemporaryDirectory(prefix="mlops-yolo-fit-") as tmp:
        work = Path(tmp)
        if task == CLASSIFY:
            source = str(write_classify_root(work / "data", data, monitor))
        else:
            source = str(write_detect_yaml(work / "data", {"train": data, "val": monitor}))
        model = build_model(task, params)
        logger.attach(model)
        started = time.perf_counter()
        model.train(
            data=source,
            epochs=params["epochs"],
            imgsz=params["imgsz"],
            batch=params["batch"],
            lr0=params["lr0"],
            optimizer=params["optimizer"],
            patience=params["patience"],
            warmup_epochs=params["warmup_epochs"],
            fliplr=params["fliplr"],
            device=device,
            workers=params["workers"],
            seed=params["seed"],
            plots=False,
            amp=False,
            val=True,
            verbose=False,
            project=str(work / "runs"),
            name="fit",
            exist_ok=True,
        )
        fit_seconds = time.perf_counter() - started
        trainer = model.trainer
        best = Path(trainer.best) if Path(trainer.best).exists() else Path(trainer.last)
        weights = best.read_bytes()
        names = [str(trainer.data["names"][i]) for i in sorted(trainer.data["names"])]
        parameters = sum(p.numel() for p in trainer.model.parameters())
        best_epoch = int(trainer.stopper.best_epoch)  # 1-based; 0 when no epoch improved on nothing
    return TrainOutcome(
        weights=weights,
        names=names,
        epochs_run=len(logger.epochs),
        best_epoch=best_epoch,
        fit_seconds=fit_seconds,
        parameters=int(parameters),
        epoch_metrics=list(logger.epochs),
        best_metrics=dict(logger.final),
    )
