"""Content validation of uploads, one validator per scenario, looked up in one table (``VALIDATORS``).

A validator reads the uploaded file (never trusting its extension) as a stream, raises
``catalog.errors.ValidationError`` with a message saying what is wrong and where (row, column, line, file in
the zip), and returns a summary stored on the entry. Modules: ``tabular`` (anomaly detection, time series),
``text`` (logs, text classification), ``images`` (class folders), ``yolo`` (detection), with the shared
``csvread`` and ``zipsafe``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog.errors import ValidationError
from catalog.scenarios import Scenario, parse_scenario


@dataclass(frozen=True, slots=True)
class ValidatedUpload:
    content_type: str
    summary: dict[str, Any] = field(default_factory=dict)


Validator = Callable[[Path, str], ValidatedUpload]
VALIDATORS: dict[Scenario, Validator] = {}


def register(scenario: Scenario) -> Callable[[Validator], Validator]:
    def decorate(fn: Validator) -> Validator:
        VALIDATORS[scenario] = fn
        return fn

    return decorate


def validate_upload(scenario: str, path: Path, filename: str) -> ValidatedUpload:
    scen = parse_scenario(scenario)
    _load_builtin()
    if path.stat().st_size == 0:
        raise ValidationError(f"{filename}: the file is empty")
    try:
        validator = VALIDATORS[scen]
    except KeyError:
        raise ValidationError(f"uploads for {scen.value} are not supported yet") from None
    return validator(path, filename)


def _load_builtin() -> None:
    """Register the built-in validators (imported for their side effect) on first use, not at import: release
    building imports the zip helpers of this package and must not pay for pandas."""
    from catalog.validators import images, tabular, text, yolo  # noqa: F401
