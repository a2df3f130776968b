"""Parameters of the vision algorithms (``algorithms.yolo``): ``YoloClassificationParams`` and
``YoloDetectionParams`` (the same, a larger default image, and the prediction-time ``conf`` and ``iou``)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from algorithms.params.model import ParamModel, param
from algorithms.params.space import Choice, LogUniform


def imgsz(default: int) -> Any:
    return param(
        default,
        ge=32,
        le=2048,
        label="Image size",
        help="Images are resized to this many pixels per side (a multiple of 32 is best).",
    )


class YoloClassificationParams(ParamModel):
    model_size: Literal["n", "s", "m"] = param(
        "n",
        label="Model size",
        help="n (nano) trains fastest on CPU; s and m are larger and more accurate.",
    )
    weights: str = param(
        "",
        label="Pretrained weights",
        help="A .pt weights file to start from, inside the platform's weights directory (MLOPS_TRAIN_WEIGHTS_DIR), "
        "named by its path relative to it. Empty: build the model from its yaml and train from scratch. Nothing "
        "is ever downloaded.",
    )
    epochs: int = param(30, ge=1, le=10_000, label="Epochs", help="Passes over the training images.")
    imgsz: int = imgsz(224)
    batch: int = param(16, ge=1, le=1024, label="Batch size", help="Images per training step.")
    lr0: float = param(
        0.01,
        ge=1e-05,
        le=1.0,
        label="Initial learning rate",
        help="Learning rate at the start. Used with an explicit optimizer: 'auto' picks its own (tuning lr0 under "
        "'auto' tunes it for AdamW).",
    )
    optimizer: Literal["auto", "SGD", "Adam", "AdamW", "RMSProp"] = param(
        "auto",
        label="Optimizer",
        help="auto lets ultralytics choose the optimizer and its learning rate from the dataset size (lr0 is then "
        "ignored).",
    )
    patience: int = param(
        20,
        ge=0,
        le=10_000,
        label="Patience",
        help="Stop after this many epochs without improvement (0: never stop early).",
    )
    warmup_epochs: float = param(
        3.0,
        ge=0.0,
        le=100.0,
        label="Warm-up epochs",
        help="Epochs over which the learning rate ramps up (ultralytics makes it at least 100 steps; 0 turns "
        "warm-up off, useful for tiny datasets).",
    )
    fliplr: float = param(
        0.5,
        ge=0.0,
        le=1.0,
        label="Horizontal flip probability",
        help="Share of training images mirrored left-right as augmentation; 0 when a mirrored image means "
        "something else (digits, text, arrows).",
    )
    device: Literal["cpu", "auto", "gpu"] = param(
        "cpu",
        label="Device",
        help="auto uses a GPU when one is visible, else the CPU.",
    )
    workers: int = param(
        0,
        ge=0,
        le=64,
        label="Data loader workers",
        help="Worker processes loading images; 0 loads in the training process (safest in containers).",
    )
    seed: int = param(0, ge=0, le=2**31 - 1, label="Seed", help="Random seed, for repeatable runs.")

    TUNING: ClassVar = {
        "lr0": LogUniform(low=0.0001, high=0.1),
        "imgsz": Choice(options=[64, 128, 224]),
        "batch": Choice(options=[8, 16, 32]),
    }


class YoloDetectionParams(YoloClassificationParams):
    imgsz: int = imgsz(640)
    conf: float = param(
        0.25,
        ge=0.001,
        le=1.0,
        label="Confidence threshold",
        help="Detections scoring below this are dropped at prediction time.",
    )
    iou: float = param(
        0.7,
        ge=0.01,
        le=1.0,
        label="NMS IoU threshold",
        help="Overlapping boxes above this IoU are merged at prediction time.",
    )

    # The prediction-time defaults stored in the served model.
    PREDICT_DEFAULTS: ClassVar[tuple[str, ...]] = ("conf", "iou")
    TUNING: ClassVar = {
        "lr0": LogUniform(low=0.0001, high=0.1),
        "imgsz": Choice(options=[320, 480, 640]),
        "batch": Choice(options=[8, 16, 32]),
    }
