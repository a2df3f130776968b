"""YOLOClassification and YOLODetection (tuned) through ``python -m algorithms.train`` on real S3 + MLflow servers
(generated image releases, tiny image sizes), then the registered model served by the inference app and asked
by the image contracts; the image limits (413) on the real image contracts; a pretrained weights name that is
not on disk failing the job at once."""

from __future__ import annotations

import base64
import hashlib
import io
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow import MlflowClient
from PIL import Image
from starlette.testclient import TestClient

from algorithms.base.contracts import Limits
from algorithms.serve.app import create_app
from tests.algorithms.test_serve_app import wait_ready
from tests.algorithms.test_train_e2e import run_train
from tests.algorithms.test_train_logs_text_e2e import train_and_get_run
from tests.algorithms.vision_data import (
    COLOURS,
    classification_release,
    colour_image,
    detection_release,
    shapes_image,
)

pytestmark = [pytest.mark.slow, pytest.mark.platform_servers("s3", "mlflow")]

# SGD at a high rate and no warm-up: 144 steps reach top-1 1.0 on the colour classes for every seed tried
# (ultralytics' batch-norm statistics need some tens of steps before evaluation means anything).
CLASSIFY_PARAMS = {
    "epochs": 12,
    "imgsz": 32,
    "batch": 8,
    "optimizer": "SGD",
    "lr0": 0.05,
    "warmup_epochs": 0,
    "patience": 0,
}
DETECT_PARAMS = {"epochs": 1, "imgsz": 64, "batch": 8, "warmup_epochs": 0, "conf": 0.3}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def serve(model_uri: str, limits: Limits) -> TestClient:
    return TestClient(create_app(model_uri, limits=limits))


def epoch_history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def assert_413(response: Any, variable: str) -> None:
    assert response.status_code == 413, response.text
    assert variable in response.json()["error"]["message"]


def test_yolo_classification_trains_logs_epochs_and_serves(env: dict[str, str]) -> None:
    data = classification_release({"train": 32, "test": 6}, seed=1)
    run, uri = train_and_get_run(
        env, "image_classification", "YOLOClassification", CLASSIFY_PARAMS, data, plots=("confusion_matrix",)
    )
    metrics = run.data.metrics
    assert metrics["top1"] >= 0.9 and metrics["top5"] == 1.0 and metrics["f1_macro"] >= 0.9
    assert metrics["epochs_run"] == 12 and metrics["n_classes"] == 3 and metrics["train_images"] == 96
    assert run.data.params["eval_split"] == "test" and run.data.params["optimizer"] == "SGD"
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    top1 = epoch_history(client, run.info.run_id, "epoch_top1")
    assert [step for step, _ in top1] == list(range(12))
    assert len(epoch_history(client, run.info.run_id, "epoch_train_loss")) == 12
    assert not any(
        key.startswith("metrics/") for key in metrics
    )  # ultralytics' own MLflow callback stayed off

    rng = np.random.default_rng(42)
    images = {name: colour_image(rng, rgb) for name, rgb in COLOURS.items()}
    with serve(uri, Limits(max_images=4, max_image_bytes=20_000)) as server:
        wait_ready(server)
        body = {
            "images": [
                b64(images["red"]),
                "data:image/png;base64," + b64(images["blue"]),
                b64(b"definitely not a picture"),
                b64(images["green"]),
            ],
            "config": {"top_k": 2},
        }
        response = server.post("/predict", json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        results = answer["results"]
        assert [r["predictions"][0]["class_name"] for r in (results[0], results[1], results[3])] == [
            "red",
            "blue",
            "green",
        ]
        assert all(len(r["predictions"]) == 2 for r in (results[0], results[1], results[3]))
        first = results[0]["predictions"]
        assert first[0]["confidence"] >= first[1]["confidence"] and first[0]["class_id"] == 2  # sorted names
        assert "image 2" in results[2]["error"] and "predictions" not in results[2]
        assert answer["metadata"]["count"] == 4 and answer["metadata"]["errors"] == 1

        assert_413(
            server.post("/predict", json={"images": [b64(images["red"])] * 5}), "MLOPS_PREDICT_MAX_IMAGES"
        )
        big = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)  # ~49 KB as PNG
        buf = io.BytesIO()
        Image.fromarray(big).save(buf, format="PNG")
        assert_413(
            server.post("/predict", json={"images": [b64(buf.getvalue())]}), "MLOPS_PREDICT_MAX_IMAGE_BYTES"
        )
        bad = server.post("/predict", json={"images": [b64(images["red"])], "config": {"top_k": 0}})
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "config.top_k"


def test_yolo_detection_tunes_logs_epochs_and_serves(env: dict[str, str]) -> None:
    data = detection_release({"train": 16, "val": 6, "test": 4}, seed=2)
    space = {
        "lr0": {"type": "loguniform", "low": 1e-4, "high": 0.1},
        "imgsz": {"type": "choice", "options": [32, 64]},
        "batch": {"type": "choice", "options": [4, 8]},
    }
    run, uri = train_and_get_run(
        env,
        "object_detection",
        "YOLODetection",
        DETECT_PARAMS,
        data,
        max_evals=2,
        search_space=space,
        plots=("tuning_trials",),
    )
    params, metrics = run.data.params, run.data.metrics
    assert params["tuned"] == "true" and params["tuning_max_evals"] == "2" and params["eval_split"] == "test"
    assert (
        int(params["imgsz"]) in (32, 64)
        and int(params["batch"]) in (4, 8)
        and 1e-4 <= float(params["lr0"]) <= 0.1
    )
    assert params["optimizer"] == "AdamW"  # lr0 was tuned: ultralytics' auto mode would have ignored it
    for key in ("mAP50", "mAP50-95", "precision", "recall"):
        assert 0.0 <= metrics[key] <= 1.0
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    assert len(epoch_history(client, run.info.run_id, "tuning_trial_loss")) == 2
    # One epoch per fit: two trials then the final fit, each epoch on a step of its own.
    for key in ("epoch_mAP50", "epoch_mAP50-95", "epoch_precision", "epoch_recall", "epoch_train_box_loss"):
        assert [step for step, _ in epoch_history(client, run.info.run_id, key)] == [0, 1, 2], key
    version = client.get_model_version(uri.split("/")[1], uri.split("/")[2])
    assert version.run_id == run.info.run_id

    rng = np.random.default_rng(7)
    wide = Image.new("RGB", (96, 48), (255, 255, 255))
    wide_bytes = io.BytesIO()
    wide.save(wide_bytes, format="JPEG")
    pictures = [shapes_image(rng)[0], wide_bytes.getvalue()]
    with serve(uri, Limits(max_images=3)) as server:
        wait_ready(server)
        many = server.post(
            "/predict",
            json={
                "images": [b64(p) for p in pictures] + ["%%%"],
                "config": {"conf": 0.001, "max_detections": 50},
            },
        )
        assert many.status_code == 200, many.text
        results = many.json()["results"]
        assert (results[0]["width"], results[0]["height"]) == (64, 64)
        assert (results[1]["width"], results[1]["height"]) == (96, 48)
        assert "image 2" in results[2]["error"]
        # An untrained-looking network at conf 0.001 proposes boxes: the request's cap and threshold apply.
        assert 0 < len(results[0]["detections"]) <= 50
        for det in results[0]["detections"]:
            box = det["bbox"]
            assert 0 <= box["x1"] <= box["x2"] <= 64 and 0 <= box["y1"] <= box["y2"] <= 64
            assert det["class_name"] in ("square", "disc") and det["confidence"] >= 0.001
        one = server.post(
            "/predict", json={"images": [b64(pictures[0])], "config": {"conf": 0.001, "max_detections": 1}}
        )
        assert len(one.json()["results"][0]["detections"]) == 1
        strict = server.post("/predict", json={"images": [b64(pictures[0])], "config": {"conf": 1.0}})
        assert strict.json()["results"][0]["detections"] == []
        assert_413(
            server.post("/predict", json={"images": [b64(pictures[0])] * 4}), "MLOPS_PREDICT_MAX_IMAGES"
        )
        bad = server.post("/predict", json={"images": [b64(pictures[0])], "config": {"iou": 2}})
        assert bad.status_code == 422 and "config.iou" in bad.json()["error"]["message"]


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ("yolo11n.pt", "pretrained weights 'yolo11n.pt' are not on disk"),
        ("/etc/passwd", "pretrained weights '/etc/passwd' are outside the weights directory"),
        ("../outside.pt", "pretrained weights '../outside.pt' are outside the weights directory"),
    ],
)
def test_missing_or_outside_pretrained_weights_fail_the_job_at_once(
    env: dict[str, str],
    tmp_path: Path,
    weights: str,
    message: str,
) -> None:
    """The weights are checked before the release is even fetched: this release URI does not exist."""
    (tmp_path / "weights").mkdir()
    (tmp_path / "outside.pt").write_bytes(b"x")
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("mlops/object_detection")
    experiment_id = (
        experiment.experiment_id if experiment else client.create_experiment("mlops/object_detection")
    )
    run_id = client.create_run(experiment_id).info.run_id
    config = {
        "job_id": 951,
        "scenario": "object_detection",
        "algorithm": "YOLODetection",
        "params": {"weights": weights, "epochs": 1},
        "model_name": f"mlops-det-{uuid.uuid4().hex[:8]}",
        "release": {"uri": "s3://mlops/releases/none/missing.zip", "sha256": hashlib.sha256(b"").hexdigest()},
    }
    started = time.monotonic()
    proc = run_train(env | {"MLOPS_TRAIN_WEIGHTS_DIR": str(tmp_path / "weights")}, config, run_id)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1
    assert message in proc.stderr and "downloading release" not in proc.stdout
    assert client.get_run(run_id).info.status == "FAILED"
    print(f"failed in {elapsed:.1f} s (process start included)")
