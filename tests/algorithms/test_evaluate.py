"""The promotion gate's evaluation entrypoint (``python -m algorithms.evaluate``, called in process) on real S3 and
MLflow: per scenario, registered models are scored on a release split by the scenario's contract, the same
numbers as the algorithms' own ``evaluate`` for presets, custom pyfuncs measured alike, ``gate_<metric>`` logged
on the version's run with the evaluation id as step, and a model that cannot be loaded reported, not fatal."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from algorithms.base.images import RESULT_COLUMN, images_of_frame
from algorithms.evaluate import main
from algorithms.registry import get_algorithm
from tests.algorithms.conftest import make_series
from tests.algorithms.test_prophet import weekly_series
from tests.algorithms.test_text import make_texts
from tests.algorithms.test_train_logs_text_e2e import log_files, zip_release
from tests.algorithms.vision_data import COLOURS, SHAPES, classification_release, detection_release

pytestmark = [pytest.mark.slow, pytest.mark.platform_servers("s3", "mlflow")]


@pytest.fixture(scope="module")
def world(module_platform_env) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from infra.objectstore import ObjectStore
    from infra.tracking import client

    mlflow = client()
    experiment = mlflow.create_experiment(f"evaluate-tests-{uuid.uuid4().hex[:8]}")
    return {"store": ObjectStore.from_settings(), "mlflow": mlflow, "experiment": experiment}


def put_release(world: dict[str, Any], data: bytes) -> tuple[str, str]:
    key = f"releases/eval/{uuid.uuid4().hex[:8]}.zip"
    world["store"].put_bytes(key, data)
    return world["store"].uri(key), hashlib.sha256(data).hexdigest()


def register(
    world: dict[str, Any], python_model: Any, pip: tuple[str, ...] = ("pandas",), signature: Any = None
) -> tuple[str, str]:
    """Log ``python_model`` in a run of its own and register it; (``models:/name/1``, run id)."""
    from algorithms.base.tracking import log_and_register_model

    mlflow = world["mlflow"]
    run_id = mlflow.create_run(world["experiment"]).info.run_id
    name = f"eval-{uuid.uuid4().hex[:10]}"
    version = log_and_register_model(
        mlflow, run_id, python_model, model_name=name, pip_requirements=list(pip), signature=signature
    )
    mlflow.set_terminated(run_id, "FINISHED")
    return f"models:/{name}/{version.version}", run_id


def evaluate(
    scenario: str, release: tuple[str, str], uris: list[str], result: str, *extra: str, evaluation_id: int = 7
) -> dict[str, Any]:
    argv = [
        "--release-uri",
        release[0],
        "--release-sha256",
        release[1],
        "--scenario",
        scenario,
        "--result-uri",
        result,
        "--evaluation-id",
        str(evaluation_id),
        *extra,
    ]
    for uri in uris:
        argv += ["--model-uri", uri]
    assert main(argv) == 0
    if result.startswith("s3://"):
        return json.loads(world_store().get_bytes(result.split("/", 3)[3]))
    return json.loads(Path(result).read_text())


def world_store() -> Any:
    from infra.objectstore import ObjectStore

    return ObjectStore.from_settings()


def fitted_model(name: str, train: Any, params: dict[str, Any]) -> tuple[Any, Any]:
    algorithm = get_algorithm(name)
    fitted = algorithm.fit(train, params)
    return algorithm, fitted


def register_preset(world: dict[str, Any], algorithm: Any, fitted: Any) -> tuple[str, str]:
    """A preset's model as training registers it (its requirements and signature)."""
    return register(
        world, algorithm.pyfunc_model(fitted), tuple(algorithm.serving_requirements), algorithm.signature()
    )


class FlagAbove(mlflow.pyfunc.PythonModel):
    """A custom anomaly model (no platform base class): a point is anomalous above ``limit``."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        score = model_input["value"].abs().to_numpy()
        return pd.DataFrame({"label": (score > self.limit).astype(int), "score": score})


def anomaly_release(labelled: bool) -> bytes:
    test = make_series(200, seed=2)
    if not labelled:
        test = test.drop(columns=["label"])
    return zip_release(
        "anomaly_detection",
        {
            "train": {"train/1_a.csv": make_series(400, seed=1).to_csv(index=False).encode()},
            "test": {"test/1_a.csv": test.to_csv(index=False).encode()},
        },
    )


def test_anomaly_labelled_and_unlabelled_presets_and_custom_models(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    algorithm, fitted = fitted_model("ECOD", make_series(400, seed=1), {"contamination": 0.02})
    ecod, ecod_run = register_preset(world, algorithm, fitted)
    custom, _ = register(world, FlagAbove(3.0))
    missing = f"models:/eval-missing-{uuid.uuid4().hex[:6]}/1"
    labelled = put_release(world, anomaly_release(labelled=True))
    result = evaluate(
        "anomaly_detection",
        labelled,
        [ecod, custom, missing],
        world["store"].uri("results/a.json"),
        evaluation_id=41,
    )
    assert result["split"] == "test" and result["rows"] == 200 and result["scenario"] == "anomaly_detection"
    # The preset's numbers are its own evaluate's on the same split.
    own = algorithm.evaluate(fitted, make_series(200, seed=2))
    got = result["models"][ecod]
    for key in ("f1", "roc_auc", "precision", "recall"):
        assert got[key] == pytest.approx(own[key]), key
    assert got["anomaly_rate"] == pytest.approx(own["eval_anomaly_rate"])
    # The custom model is measured by the contract alike: spikes are 4..6 away, the series within ~1.5.
    assert result["models"][custom]["f1"] == pytest.approx(1.0)
    assert (
        "RESOURCE_DOES_NOT_EXIST" in result["models"][missing]["error"]
        or "not" in result["models"][missing]["error"]
    )
    # gate_<metric> on the version's run, with the evaluation id as step.
    history = world["mlflow"].get_metric_history(ecod_run, "gate_f1")
    assert [(m.step, m.value) for m in history] == [(41, pytest.approx(own["f1"]))]

    unlabelled = put_release(world, anomaly_release(labelled=False))
    bare = evaluate("anomaly_detection", unlabelled, [ecod, custom], str(tmp_path / "u.json"))
    assert set(bare["models"][ecod]) == {"anomaly_rate", "eval_samples"}
    assert bare["models"][ecod]["anomaly_rate"] == pytest.approx(own["eval_anomaly_rate"])
    # A split asked for by name; one that is not in the release fails the container, as a wrong checksum does.
    assert (
        evaluate("anomaly_detection", unlabelled, [custom], str(tmp_path / "t.json"), "--split", "train")[
            "rows"
        ]
        == 400
    )
    argv = ["--release-uri", unlabelled[0], "--scenario", "anomaly_detection", "--model-uri", custom]
    assert main([*argv, "--release-sha256", "0" * 64, "--result-uri", str(tmp_path / "x.json")]) == 1
    assert (
        main(
            [
                *argv,
                "--release-sha256",
                unlabelled[1],
                "--split",
                "val",
                "--result-uri",
                str(tmp_path / "x.json"),
            ]
        )
        == 1
    )
    assert not (tmp_path / "x.json").exists()


def test_forecasting_matches_the_algorithms_evaluation(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    series = weekly_series(112)
    train, test = series.iloc[:98], series.iloc[98:]
    algorithm, fitted = fitted_model("Prophet", train, {"horizon": 7})
    uri, _ = register_preset(world, algorithm, fitted)
    release = put_release(
        world,
        zip_release(
            "timeseries_predict",
            {
                "train": {"train/1_s.csv": train.to_csv(index=False).encode()},
                "test": {"test/1_s.csv": test.to_csv(index=False).encode()},
            },
        ),
    )
    result = evaluate("timeseries_predict", release, [uri], str(tmp_path / "f.json"))
    own = algorithm.evaluate(fitted, test)
    got = result["models"][uri]
    assert got["rmse"] == pytest.approx(own["rmse"], rel=1e-6) and got["mape"] == pytest.approx(
        own["mape"], rel=1e-6
    )
    assert got["eval_samples"] == 14 and result["rows"] == 14


def test_logs_and_text_match_the_algorithms_evaluation(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from algorithms.base.logs import LogSplit
    from tests.algorithms.test_spell import make_logs

    lines, events = make_logs(300, seed=1)
    algorithm, fitted = fitted_model("Spell", LogSplit(lines, events), {})
    spell, _ = register_preset(world, algorithm, fitted)
    release = put_release(
        world,
        zip_release(
            "log_clustering", {"train": log_files("train", 300, 1), "test": log_files("test", 120, 2)}
        ),
    )
    got = evaluate("log_clustering", release, [spell], str(tmp_path / "l.json"))["models"][spell]
    own = algorithm.evaluate(fitted, LogSplit(*make_logs(120, seed=2)))
    assert got["coverage"] == pytest.approx(own["coverage"]) and got["grouping_accuracy"] == pytest.approx(
        own["grouping_accuracy"]
    )

    train, test = make_texts(150, seed=1), make_texts(60, seed=2)
    algorithm, fitted = fitted_model("RandomForest", train, {"n_estimators": 20})
    text, _ = register_preset(world, algorithm, fitted)
    release = put_release(
        world,
        zip_release(
            "text_classification",
            {
                "train": {"train/1_t.csv": train.to_csv(index=False).encode()},
                "test": {"test/1_t.csv": test.to_csv(index=False).encode()},
            },
        ),
    )
    got = evaluate("text_classification", release, [text], str(tmp_path / "t.json"))["models"][text]
    own = algorithm.evaluate(fitted, test)
    assert got["accuracy"] == pytest.approx(own["accuracy"]) and got["f1_macro"] == pytest.approx(
        own["f1_macro"]
    )
    assert got["accuracy"] > 0.8


def _pixels(image: Any) -> str:
    return hashlib.sha256(np.asarray(image).tobytes()).hexdigest()


class ColourModel(mlflow.pyfunc.PythonModel):
    """A custom classifier: the classes ranked by distance to the image's mean colour (``reverse``: worst first)."""

    def __init__(self, reverse: bool) -> None:
        self.reverse = reverse

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        out = []
        for image in images_of_frame(model_input):
            mean = np.asarray(image, dtype=float).reshape(-1, 3).mean(0)
            ranked = sorted(COLOURS, key=lambda c: np.abs(mean - COLOURS[c]).sum(), reverse=self.reverse)
            out.append({"predictions": [{"class_id": 0, "class_name": c, "confidence": 0.5} for c in ranked]})
        return pd.DataFrame({RESULT_COLUMN: out})


class BoxOracle(mlflow.pyfunc.PythonModel):
    """A custom detector that knows each image's boxes (by its pixels), shifted by ``shift`` of their width."""

    def __init__(self, boxes: dict[str, list[dict[str, Any]]], shift: float) -> None:
        self.boxes, self.shift = boxes, shift

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        out = []
        for image in images_of_frame(model_input):
            found = []
            for box in self.boxes.get(_pixels(image), []):
                dx = (box["x2"] - box["x1"]) * self.shift
                bbox = {k: v + (dx if k in ("x1", "x2") else 0.0) for k, v in box.items() if k != "cls"}
                found.append(
                    {"bbox": bbox, "class_id": 0, "class_name": SHAPES[box["cls"]], "confidence": 0.9}
                )
            out.append({"detections": found, "width": image.size[0], "height": image.size[1]})
        return pd.DataFrame({RESULT_COLUMN: out})


def _truth(release: bytes) -> dict[str, list[dict[str, Any]]]:
    import io
    import zipfile

    from PIL import Image

    boxes: dict[str, list[dict[str, Any]]] = {}
    with zipfile.ZipFile(io.BytesIO(release)) as zf:
        for name in zf.namelist():
            if "/images/" not in name:
                continue
            image = Image.open(io.BytesIO(zf.read(name))).convert("RGB")
            w, h = image.size
            rows = [
                line.split()
                for line in zf.read(name.replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt")
                .decode()
                .splitlines()
            ]
            boxes[_pixels(image)] = [
                {
                    "cls": int(r[0]),
                    "x1": (float(r[1]) - float(r[3]) / 2) * w,
                    "y1": (float(r[2]) - float(r[4]) / 2) * h,
                    "x2": (float(r[1]) + float(r[3]) / 2) * w,
                    "y2": (float(r[2]) + float(r[4]) / 2) * h,
                }
                for r in rows
            ]
    return boxes


def test_images_top_k_and_detection_map_by_the_contract(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    classes = put_release(world, classification_release({"train": 2, "test": 4}))
    right, _ = register(world, ColourModel(reverse=False), ("pandas", "pillow"))
    wrong, _ = register(world, ColourModel(reverse=True), ("pandas", "pillow"))
    result = evaluate("image_classification", classes, [right, wrong], str(tmp_path / "c.json"))
    assert result["rows"] == 12
    assert result["models"][right]["top1"] == 1.0 and result["models"][right]["top5"] == 1.0
    # Worst first: never top-1, always within the top 5 of 3 classes.
    assert result["models"][wrong]["top1"] == 0.0 and result["models"][wrong]["top5"] == 1.0

    data = detection_release({"train": 2, "test": 6})
    boxes = _truth(data)
    release = put_release(world, data)
    exact, _ = register(world, BoxOracle(boxes, 0.0), ("pandas", "pillow"))
    off, _ = register(world, BoxOracle(boxes, 0.6), ("pandas", "pillow"))
    result = evaluate("object_detection", release, [exact, off], str(tmp_path / "d.json"))
    # Ultralytics' 101-point interpolated AP tops out at 0.995 for a perfect detector (its validator's too).
    assert result["models"][exact]["mAP50"] == pytest.approx(0.995, abs=1e-3)
    assert result["models"][exact]["mAP50-95"] == pytest.approx(0.995, abs=1e-3)
    # Boxes moved by 60% of their width overlap below IoU 0.5: nothing matches.
    assert result["models"][off]["mAP50"] == pytest.approx(0.0)
