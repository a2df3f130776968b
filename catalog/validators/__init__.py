"""Content validation of uploads, one validator per scenario, looked up in one table.

A validator reads the uploaded file (never trusting its extension), raises ``catalog.errors.ValidationError``
with a message saying what is wrong and where, and returns a summary stored on the entry.
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
    if path.stat().st_size == 0:
        raise ValidationError(f"{filename}: the file is empty")
    try:
        validator = VALIDATORS[scen]
    except KeyError:
        raise ValidationError(f"uploads for {scen.value} are not supported yet") from None
    return validator(path, filename)


# Register the built-in validators (import for side effects).
from catalog.validators import tabular  # noqa: E402,F401
