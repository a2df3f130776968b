"""Pretrained weights files named by training parameters: only ``.pt`` files inside the weights directory.

``WEIGHTS_PARAMS`` maps an algorithm (by its registered name, the name the training container looks it up by)
to its parameter naming a weights file. Its value may name a file relative to ``MLOPS_TRAIN_WEIGHTS_DIR``
(default ``<data dir>/weights``) or by an absolute path inside it. The path is resolved (``..`` and symbolic
links followed) and must stay inside the resolved directory, be a regular file and end in ``.pt``; it is
stored relative to the directory, which the training container receives in its environment and checks again
(``algorithms.yolo.weights``, the same rule) before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catalog.errors import quote
from catalog.forms import FormValidationError
from infra.settings import get_settings

WEIGHTS_PARAMS: dict[str, str] = {"YOLOClassification": "weights", "YOLODetection": "weights"}


def weights_file(value: str, root: Path | None = None) -> str:
    """``value`` as a path relative to the weights directory, or ValueError saying why it may not be used."""
    root = (root or get_settings().training.weights_dir).expanduser().resolve()
    path = (root / Path(value).expanduser()).resolve()  # an absolute ``value`` replaces ``root``
    if not path.is_relative_to(root):
        raise ValueError(
            f"{quote(value)} is outside the weights directory {root} (MLOPS_TRAIN_WEIGHTS_DIR); "
            "only .pt files inside it may be used"
        )
    if not path.is_file():
        raise ValueError(
            f"{quote(value)} is not a file in the weights directory {root}; nothing is downloaded"
        )
    if path.suffix.lower() != ".pt":
        raise ValueError(f"{quote(value)} is not a .pt file")
    return path.relative_to(root).as_posix()


def check_weights_params(algorithm: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the algorithm's weights parameter checked and made relative (FormValidationError
    naming the field otherwise); unchanged for algorithms without one or when it is empty."""
    name = WEIGHTS_PARAMS.get(algorithm)
    value = params.get(name) if name else None
    if not name or not value:
        return params
    try:
        return {**params, name: weights_file(str(value))}
    except ValueError as exc:
        raise FormValidationError({name: f"{name}: {exc}"}) from None
