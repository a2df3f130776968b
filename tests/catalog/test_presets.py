"""Built-in algorithm presets: every file valid, import idempotent, invalid files reported, edits kept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlmodel import Session, select

from catalog.errors import ValidationError
from catalog.forms import validate_params
from catalog.models import AlgorithmConfig
from catalog.presets import PRESET_DIR, import_presets, load_presets, parse_preset
from catalog.scenarios import Scenario

EXPECTED = {
    "anomaly_detection/ECOD",
    "anomaly_detection/EWMA",
    "anomaly_detection/PELT",
    "timeseries_predict/Prophet",
    "log_clustering/Spell",
    "text_classification/XGBoost",
    "text_classification/GradientBoosting",
    "text_classification/RandomForest",
    "image_classification/YOLOClassification",
    "object_detection/YOLODetection",
}
PRESET_FILES = sorted(PRESET_DIR.glob("*.json"))


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: p.name)
def test_every_preset_file_is_valid(path: Path) -> None:
    raw = json.loads(path.read_text())
    preset = parse_preset(raw, file=path.name)
    assert preset.image == "mlops-lite/runtime:latest"
    assert preset.description and preset.scenario_description
    assert preset.search_space, "every preset offers something to tune"
    # The defaults alone make a valid parameter set (a job created without any parameter).
    defaults = validate_params(preset.form_config, {})
    assert set(preset.search_space) <= {f["name"] for f in preset.form_config["fields"]}
    assert defaults
    for field in preset.form_config["fields"]:
        assert field.get("help"), f"{path.name}: {field['name']} has no help text"


def test_presets_cover_the_ten_builtins_and_every_scenario() -> None:
    presets, invalid = load_presets()
    assert invalid == []
    assert {p.key for p in presets} == EXPECTED
    assert {p.scenario for p in presets} == {s.value for s in Scenario}


def test_import_creates_ten_then_skips_ten(session: Session) -> None:
    first = import_presets(session)
    session.commit()
    assert sorted(first.created) == sorted(EXPECTED)
    assert first.skipped == [] and first.invalid == []

    second = import_presets(session)
    session.commit()
    assert second.created == []
    assert sorted(second.skipped) == sorted(EXPECTED)
    rows = session.exec(select(AlgorithmConfig)).all()
    assert len(rows) == 10
    assert all(row.builtin and row.enabled for row in rows)


def test_invalid_file_is_reported_and_the_rest_imported(session: Session, tmp_path: Path) -> None:
    for path in PRESET_FILES:
        shutil.copy(path, tmp_path / path.name)
    broken = json.loads((PRESET_DIR / "ecod.json").read_text())
    broken["name"] = "ECOD2"
    broken["form_config"]["fields"][0]["default"] = 0.9  # above its own maximum 0.5
    (tmp_path / "zz_broken.json").write_text(json.dumps(broken))
    (tmp_path / "zz_not_json.json").write_text("{nope")
    bad_scenario = dict(broken, name="X", scenario="speech")
    (tmp_path / "zz_scenario.json").write_text(json.dumps(bad_scenario))
    (tmp_path / "zz_dup.json").write_text((PRESET_DIR / "ewma.json").read_text())

    report = import_presets(session, directory=tmp_path)
    session.commit()

    reasons = dict(report.invalid)
    assert set(reasons) == {"zz_broken.json", "zz_not_json.json", "zz_scenario.json", "zz_dup.json"}
    assert "contamination: 0.9 is above the maximum 0.5" in reasons["zz_broken.json"]
    assert "not readable JSON" in reasons["zz_not_json.json"]
    assert "unknown scenario 'speech'" in reasons["zz_scenario.json"]
    assert "already defined by ewma.json" in reasons["zz_dup.json"]
    assert sorted(report.created) == sorted(EXPECTED)
    names = {row.name for row in session.exec(select(AlgorithmConfig)).all()}
    assert "ECOD2" not in names and len(names) == 10


def test_admin_edits_survive_a_reimport(session: Session) -> None:
    import_presets(session)
    session.commit()
    ecod = session.exec(select(AlgorithmConfig).where(AlgorithmConfig.name == "ECOD")).one()
    ecod.display_name = "ECOD (tuned by ops)"
    ecod.enabled = False
    ecod.form_config = {"fields": [{"name": "contamination", "type": "float", "default": 0.05}]}
    session.add(ecod)
    session.commit()

    report = import_presets(session)
    session.commit()
    session.expire_all()
    ecod = session.exec(select(AlgorithmConfig).where(AlgorithmConfig.name == "ECOD")).one()
    assert "anomaly_detection/ECOD" in report.skipped
    assert ecod.display_name == "ECOD (tuned by ops)"
    assert ecod.enabled is False
    assert ecod.form_config["fields"][0]["default"] == 0.05


def test_a_deleted_builtin_comes_back(session: Session) -> None:
    import_presets(session)
    session.commit()
    session.delete(session.exec(select(AlgorithmConfig).where(AlgorithmConfig.name == "Spell")).one())
    session.commit()
    report = import_presets(session)
    assert report.created == ["log_clustering/Spell"]
    assert len(report.skipped) == 9


def test_parse_preset_requires_the_essentials() -> None:
    with pytest.raises(ValidationError, match="missing display_name, image"):
        parse_preset(
            {"scenario": "anomaly_detection", "name": "X", "form_config": {"fields": []}}, file="x.json"
        )
    with pytest.raises(ValidationError, match="unknown key\\(s\\) colour"):
        parse_preset(
            {
                "scenario": "anomaly_detection",
                "name": "X",
                "display_name": "X",
                "image": "i",
                "form_config": {"fields": []},
                "colour": "red",
            },
            file="x.json",
        )
