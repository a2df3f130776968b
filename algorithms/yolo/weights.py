"""Pretrained weights a YOLO job may start from: only ``.pt`` files inside the weights directory.

The directory comes from ``MLOPS_TRAIN_WEIGHTS_DIR`` (the platform sets it in the training container's
environment from its setting of the same name; the catalog applies the same rule when a job is created or
edited). ``weights`` names a file relative to it (an absolute path is accepted only if it lies inside). The
path is resolved — ``..`` and every symbolic link followed — and must stay inside the resolved directory, be a
regular file and end in ``.pt``; otherwise ``WeightsNotFoundError`` before anything is read, fetched or
trained. Nothing is ever downloaded (ultralytics would fetch a known name such as ``yolo11n.pt``).
"""

from __future__ import annotations

import os
from pathlib import Path

from algorithms.base.contracts import quote

WEIGHTS_DIR_VAR = "MLOPS_TRAIN_WEIGHTS_DIR"


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights were asked for by a name or path that is not an allowed file on this disk."""


def weights_dir() -> Path | None:
    raw = os.environ.get(WEIGHTS_DIR_VAR, "").strip()
    return Path(raw).expanduser().resolve() if raw else None


def check_weights(weights: str) -> Path:
    """The resolved file of ``weights`` inside the weights directory, or ``WeightsNotFoundError`` saying why."""
    root = weights_dir()
    if root is None:
        raise WeightsNotFoundError(
            f"pretrained weights {quote(weights)} cannot be used: no weights directory is configured "
            f"({WEIGHTS_DIR_VAR}); leave 'weights' empty to build the model from its yaml"
        )
    path = (root / Path(weights).expanduser()).resolve()  # an absolute ``weights`` replaces ``root``
    if not path.is_relative_to(root):
        raise WeightsNotFoundError(
            f"pretrained weights {quote(weights)} are outside the weights directory {root} ({WEIGHTS_DIR_VAR}); "
            "only .pt files inside it may be used"
        )
    if not path.is_file():
        raise WeightsNotFoundError(
            f"pretrained weights {quote(weights)} are not on disk (looked for {path}); nothing is downloaded — "
            f"put a .pt file in {root} and name it, or leave 'weights' empty to build the model from its yaml "
            "and train from scratch"
        )
    if path.suffix.lower() != ".pt":
        raise WeightsNotFoundError(f"pretrained weights must be a .pt file, got {quote(weights)}")
    return path
