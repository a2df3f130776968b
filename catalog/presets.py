"""Built-in algorithm presets: the JSON files in ``catalog/presets/`` and their import into the catalog.

Import is one transaction and idempotent: a preset whose (scenario, name) already has a row is skipped and
the row is left exactly as it is (an admin may have edited it); an invalid file is reported, not imported,
and does not stop the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from catalog.errors import ValidationError
from catalog.forms import validate_form_config, validate_search_space
from catalog.models import AlgorithmConfig
from catalog.scenarios import parse_scenario

PRESET_DIR = Path(__file__).parent / "presets"

_REQUIRED = ("scenario", "name", "display_name", "image", "form_config")
_OPTIONAL = ("description", "scenario_description", "search_space", "enabled")


@dataclass(frozen=True)
class Preset:
    """One preset file, validated."""

    file: str
    scenario: str
    name: str
    display_name: str
    image: str
    form_config: dict[str, Any]
    search_space: dict[str, Any]
    description: str = ""
    scenario_description: str = ""
    enabled: bool = True

    @property
    def key(self) -> str:
        return f"{self.scenario}/{self.name}"


@dataclass
class PresetReport:
    """What an import did: ``created`` and ``skipped`` hold "scenario/name"; ``invalid`` (file, reason)."""

    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.created)} created, {len(self.skipped)} skipped, {len(self.invalid)} invalid"


def parse_preset(raw: Any, *, file: str) -> Preset:
    """A preset from its decoded JSON, or ValidationError naming what is wrong."""
    if not isinstance(raw, dict):
        raise ValidationError("expected a JSON object")
    missing = [key for key in _REQUIRED if not raw.get(key)]
    if missing:
        raise ValidationError(f"missing {', '.join(missing)}")
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ValidationError(f"unknown key(s) {', '.join(unknown)}")
    for key in ("scenario", "name", "display_name", "image", "description", "scenario_description"):
        if key in raw and not isinstance(raw[key], str):
            raise ValidationError(f"{key} must be a string")
    if "enabled" in raw and not isinstance(raw["enabled"], bool):
        raise ValidationError("enabled must be true or false")
    try:
        scenario = parse_scenario(raw["scenario"]).value
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    form_config = validate_form_config(raw["form_config"])
    search_space = validate_search_space(raw.get("search_space") or {}, form_config)
    return Preset(
        file=file,
        scenario=scenario,
        name=raw["name"],
        display_name=raw["display_name"],
        image=raw["image"],
        form_config=form_config,
        search_space=search_space,
        description=raw.get("description", ""),
        scenario_description=raw.get("scenario_description", ""),
        enabled=raw.get("enabled", True),
    )


def load_presets(directory: Path | str | None = None) -> tuple[list[Preset], list[tuple[str, str]]]:
    """Every ``*.json`` in the directory (sorted): the valid presets, and (file, reason) for the others."""
    folder = Path(directory) if directory is not None else PRESET_DIR
    presets: list[Preset] = []
    invalid: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            invalid.append((path.name, f"not readable JSON: {exc}"))
            continue
        try:
            preset = parse_preset(raw, file=path.name)
        except ValidationError as exc:
            invalid.append((path.name, str(exc)))
            continue
        if preset.key in seen:
            invalid.append((path.name, f"{preset.key} is already defined by {seen[preset.key]}"))
            continue
        seen[preset.key] = path.name
        presets.append(preset)
    return presets, invalid


def import_presets(session: Session, *, directory: Path | str | None = None) -> PresetReport:
    """Create the rows of presets not yet in the catalog, in the caller's transaction (it commits)."""
    presets, invalid = load_presets(directory)
    report = PresetReport(invalid=invalid)
    existing = {(row.scenario, row.name) for row in session.exec(select(AlgorithmConfig)).all()}
    for preset in presets:
        if (preset.scenario, preset.name) in existing:
            report.skipped.append(preset.key)
            continue
        row = AlgorithmConfig(
            scenario=preset.scenario,
            name=preset.name,
            display_name=preset.display_name,
            description=preset.description,
            scenario_description=preset.scenario_description,
            image=preset.image,
            form_config=preset.form_config,
            search_space=preset.search_space,
            enabled=preset.enabled,
            builtin=True,
        )
        # A concurrent `mlops init` may insert the same row between our read and our insert; the savepoint
        # turns that into "skipped" without losing the rest of the transaction.
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            report.skipped.append(preset.key)
            continue
        report.created.append(preset.key)
    return report
