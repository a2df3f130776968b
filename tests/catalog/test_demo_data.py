"""The generated demo data: the same bytes on every run, accepted by the upload validators, and learnable by
the algorithm `mlops demo` suggests for it (so a new user's first model works)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from catalog.demo_data import LOG_TEMPLATES, TEXT_CLASSES, demo_datasets
from catalog.scenarios import Scenario
from catalog.validators import validate_upload

DATASETS = {d.name: d for d in demo_datasets()}


def test_every_scenario_has_demo_data_and_the_bytes_are_deterministic() -> None:
    assert {d.scenario for d in DATASETS.values()} == set(Scenario)
    again = {d.name: d for d in demo_datasets()}
    for name, demo in DATASETS.items():
        assert [(f.filename, f.data, f.splits) for f in demo.files + demo.samples] == [
            (f.filename, f.data, f.splits) for f in again[name].files + again[name].samples
        ], name
        assert any("train" in f.splits for f in demo.files) and demo.samples, name
    only = demo_datasets([Scenario.TIMESERIES_PREDICT])
    assert [d.name for d in only] == ["demo-daily-sales", "demo-hourly-traffic"]


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_demo_files_pass_the_upload_validators(name: str, tmp_path: Path) -> None:
    demo = DATASETS[name]
    for demo_file in demo.files:
        path = tmp_path / demo_file.filename
        path.write_bytes(demo_file.data)
        summary = validate_upload(demo.scenario.value, path, demo_file.filename).summary
        if demo.scenario is Scenario.ANOMALY_DETECTION:
            assert summary["labels"]["1"] > 0 and summary["time"]["frequency"] == "5min"
        if demo.scenario is Scenario.TEXT_CLASSIFICATION:
            assert sorted(summary["classes"]) == sorted(TEXT_CLASSES) and summary["cjk_rows"] > 0
        if demo.scenario is Scenario.IMAGE_CLASSIFICATION:
            assert summary["classes"] == ["circle", "square", "triangle"]
        if demo.scenario is Scenario.OBJECT_DETECTION:
            assert summary["classes"] == ["circle", "square"] and summary["boxes"] >= summary["images"]
    if demo.scenario is Scenario.TIMESERIES_PREDICT:
        train, test = (pd.read_csv(io.BytesIO(f.data)) for f in demo.files)
        assert train["timestamp"].iloc[-1] < test["timestamp"].iloc[0], "the test split continues the series"


def _frames(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    files = {f.splits[0]: f for f in DATASETS[name].files}
    return pd.read_csv(io.BytesIO(files["train"].data)), pd.read_csv(io.BytesIO(files["test"].data))


def test_anomalies_are_found_by_ecod_with_the_suggested_parameters() -> None:
    from algorithms.registry import get_algorithm

    algorithm = get_algorithm("ECOD")
    train, test = _frames("demo-server-cpu")
    metrics = algorithm.evaluate(algorithm.fit(train, DATASETS["demo-server-cpu"].params), test)
    assert metrics["f1"] >= 0.8, metrics


def test_reviews_are_classified_by_xgboost_with_the_suggested_parameters() -> None:
    from algorithms.registry import get_algorithm

    demo = DATASETS["demo-product-reviews"]
    algorithm = get_algorithm(demo.algorithm)
    train, test = _frames(demo.name)
    metrics = algorithm.evaluate(algorithm.fit(train, demo.params), test)
    assert metrics["accuracy"] >= 0.9, metrics


@pytest.mark.parametrize("name", ["demo-daily-sales", "demo-hourly-traffic"])
def test_series_are_forecast_by_prophet(name: str) -> None:
    from algorithms.registry import get_algorithm

    algorithm = get_algorithm("Prophet")
    train, test = _frames(name)
    metrics = algorithm.evaluate(algorithm.fit(train, DATASETS[name].params), test)
    assert metrics["mape"] < 0.2, metrics


def test_log_templates_are_recovered_by_spell() -> None:
    from algorithms.registry import get_algorithm
    from algorithms.spell import LogSplit

    demo = DATASETS["demo-app-logs"]
    algorithm = get_algorithm("Spell")
    train, test = (f.data.decode().splitlines() for f in demo.files)
    fitted = algorithm.fit(LogSplit(train, None), algorithm.resolve_params(demo.params))
    found = algorithm.training_metrics(fitted)["templates"]
    assert len(LOG_TEMPLATES) - 2 <= found <= len(LOG_TEMPLATES) + 2
    assert algorithm.evaluate(fitted, LogSplit(test, None))["coverage"] == 1.0


def test_image_zips_hold_png_images_stored_with_a_fixed_date() -> None:
    for name in ("demo-shapes", "demo-shape-boxes"):
        for demo_file in DATASETS[name].files:
            with zipfile.ZipFile(io.BytesIO(demo_file.data)) as zf:
                infos = zf.infolist()
            assert all(i.date_time == (2024, 1, 1, 0, 0, 0) for i in infos)
            assert all(i.compress_type == zipfile.ZIP_STORED for i in infos if i.filename.endswith(".png"))
