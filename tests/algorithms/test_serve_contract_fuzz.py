"""The inference server's OpenAPI document is exact: schemathesis, an OpenAPI property-based fuzzer, runs every
check it has (schema-valid requests accepted, schema-invalid ones refused, every status, content type, header
and answer body as documented, 405 with ``Allow``, the bearer token enforced) against a real
``python -m algorithms.serve`` process of each scenario, serving a small model trained here, and finds nothing.

The fuzzer runs as its own command (``python -m schemathesis.cli run``), as one would run it by hand against
a serving, with a fixed seed (a failure reproduces) and a bounded number of examples per operation. The
batch and image limits are set low so that the fuzzer reaches them (``maxItems`` in the document, 413 past it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from algorithms.base.release import Release
from algorithms.base.tracking import save_pyfunc
from algorithms.registry import get_algorithm
from tests.algorithms.test_prophet import weekly_series
from tests.algorithms.test_serve_process import TOKEN
from tests.algorithms.test_serve_process_limits import Server, serve  # noqa: F401 - serve is a fixture
from tests.algorithms.test_spell import spell_model_dir  # noqa: F401 - a fixture
from tests.algorithms.test_text import text_model_dir  # noqa: F401 - a fixture
from tests.algorithms.vision_data import classification_release, detection_release

# Examples per operation of the fuzzing phase (the coverage phase adds its boundary cases, ~100 for /predict):
# enough to reach every branch of each request schema, few enough for 10-40 s per scenario on a loaded
# two-core machine, server start included.
MAX_EXAMPLES = 25
SEED = 20240601
LIMITS = {"MLOPS_PREDICT_MAX_BATCH_SIZE": "20", "MLOPS_PREDICT_MAX_IMAGES": "3"}
# A list over its declared maxItems is refused with 413 naming the limit's variable (docs/architecture.md):
# a refusal the fuzzer does not count as one by default. 5xx is left out: no request may cause one.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
"""


def saved(algorithm_name: str, fitted: Any, directory: Path) -> Path:
    algorithm = get_algorithm(algorithm_name)
    return save_pyfunc(
        algorithm.pyfunc_model(fitted),
        directory / "model",
        pip_requirements=algorithm.pip_requirements(),
        metadata=algorithm.model_metadata(fitted),
        signature=algorithm.signature(),
    )


@pytest.fixture(scope="module")
def prophet_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fitted = get_algorithm("Prophet").fit(weekly_series().iloc[:350], {"horizon": 14})
    return saved("Prophet", fitted, tmp_path_factory.mktemp("prophet"))


def yolo_model_dir(tmp_path: Path, algorithm_name: str, release_zip: bytes, imgsz: int) -> Path:
    """A YOLO network trained for one epoch on a few generated pictures: a real model, not a good one."""
    (tmp_path / "release").mkdir()
    path = tmp_path / "release" / "release.zip"
    path.write_bytes(release_zip)
    release = Release.open(path)
    algorithm = get_algorithm(algorithm_name)
    params = algorithm.resolve_params({"epochs": 1, "imgsz": imgsz, "batch": 4, "warmup_epochs": 0})
    return saved(algorithm_name, algorithm.fit(algorithm.read_split(release, "train"), params), tmp_path)


@pytest.fixture(scope="module")
def yolo_classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    release = classification_release({"train": 8}, seed=0)
    return yolo_model_dir(tmp_path_factory.mktemp("yolo-cls"), "YOLOClassification", release, 32)


@pytest.fixture(scope="module")
def yolo_detector_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    release = detection_release({"train": 8, "val": 4}, seed=3)
    return yolo_model_dir(tmp_path_factory.mktemp("yolo-det"), "YOLODetection", release, 64)


SCENARIOS = [
    pytest.param("anomaly_detection", "ecod_model_dir", id="anomaly_detection"),
    pytest.param("timeseries_predict", "prophet_model_dir", id="timeseries_predict"),
    pytest.param("log_clustering", "spell_model_dir", id="log_clustering"),
    pytest.param("text_classification", "text_model_dir", id="text_classification"),
    pytest.param(
        "image_classification", "yolo_classifier_dir", id="image_classification", marks=pytest.mark.slow
    ),
    pytest.param("object_detection", "yolo_detector_dir", id="object_detection", marks=pytest.mark.slow),
]


def fuzz(url: str, report: Path) -> subprocess.CompletedProcess[str]:
    config = report.parent / "schemathesis.toml"
    config.write_text(CONFIG)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--continue-on-failure",
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--no-color",
        ],
        cwd=report.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize(("scenario", "model_fixture"), SCENARIOS)
def test_the_fuzzer_finds_the_document_exact(
    scenario: str,
    model_fixture: str,
    serve: Server,  # noqa: F811
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    url, _ = serve(request.getfixturevalue(model_fixture), scenario, **LIMITS)
    report_path = tmp_path / "report.json"
    run = fuzz(url, report_path)
    assert report_path.is_file(), run.stdout[-5_000:] + run.stderr[-5_000:]
    report = json.loads(report_path.read_text())
    # Every operation was exercised, by every phase that applies, with many requests: not a vacuous pass.
    assert report["operations"]["tested"] == 4 and report["operations"]["errored"] == 0, report["operations"]
    assert {name: phase["status"] for name, phase in report["phases"].items()} == {
        "examples": "success",
        "coverage": "success",
        "fuzzing": "success",
        "stateful": "skip",
    }, run.stdout[-20_000:]
    assert report["test_cases"]["generated"] >= 80, report["test_cases"]
    assert report["failures"] == [] and report["errors"] == [], run.stdout[-20_000:] + run.stderr[-5_000:]
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
