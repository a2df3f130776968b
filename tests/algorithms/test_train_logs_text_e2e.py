"""Spell and the three text classifiers through ``python -m algorithms.train`` on real S3 + MLflow servers:
release zip and job config in S3, run and registered model in MLflow; then the registered model is served by
the inference app (in process) and answers /predict by its scenario's contract."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from typing import Any

import pytest
from mlflow import MlflowClient
from starlette.testclient import TestClient

from algorithms.base.contracts import Limits
from algorithms.base.storage import s3_client_from_env
from algorithms.serve.app import create_app
from tests.algorithms.test_serve_app import wait_ready
from tests.algorithms.test_spell import FORMAT, make_logs
from tests.algorithms.test_text import SMALL, VOCAB, make_texts
from tests.algorithms.test_train_e2e import assert_plots, put, run_train

pytestmark = [pytest.mark.slow, pytest.mark.platform_servers("s3", "mlflow")]


def zip_release(scenario: str, files: dict[str, dict[str, bytes]]) -> bytes:
    """``files``: split → {member name: content}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        splits: dict[str, Any] = {}
        for split, members in files.items():
            for name, content in members.items():
                zf.writestr(name, content)
            splits[split] = {"files": list(members), "samples": 0}
        zf.writestr(
            "manifest.json",
            json.dumps({"format": 1, "scenario": scenario, "version": "v1", "splits": splits}),
        )
    return buf.getvalue()


def log_files(split: str, n: int, seed: int) -> dict[str, bytes]:
    lines, events = make_logs(n, seed)
    truth = "LineId,EventId\n" + "".join(f"{i + 1},{e}\n" for i, e in enumerate(events))
    return {
        f"{split}/1_app.log": ("\n".join(lines) + "\n").encode(),
        f"{split}/1_app_structured.csv": truth.encode(),
    }


def text_files(split: str, n: int, seed: int) -> dict[str, bytes]:
    return {f"{split}/2_news.csv": make_texts(n, seed).to_csv(index=False).encode()}


def train_and_get_run(
    job_env: dict[str, str],
    scenario: str,
    algorithm: str,
    params: dict[str, Any],
    data: bytes,
    max_evals: int = 0,
    search_space: dict[str, Any] | None = None,
    plots: tuple[str, ...] = (),
) -> tuple[Any, str]:
    """Train through the container entrypoint; the run must have exactly the ``plots`` named."""
    s3 = s3_client_from_env()
    bucket = job_env.get("MLOPS_S3_BUCKET", "mlops")
    if not s3.bucket_exists(bucket):
        s3.make_bucket(bucket)
    tag = uuid.uuid4().hex[:8]
    release_uri = put(s3, bucket, f"releases/{tag}/v1.zip", data)
    model_name = f"mlops-{scenario}-{algorithm}-test{tag}"
    client = MlflowClient(job_env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(f"mlops/{scenario}")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(f"mlops/{scenario}")
    run_id = client.create_run(experiment_id).info.run_id
    config = {
        "job_id": 950,
        "scenario": scenario,
        "algorithm": algorithm,
        "params": params,
        "search_space": search_space or {},
        "max_evals": max_evals,
        "model_name": model_name,
        "experiment_name": f"mlops/{scenario}",
        "release": {"uri": release_uri, "sha256": hashlib.sha256(data).hexdigest(), "version": "v1"},
    }
    proc = run_train(job_env, config, run_id)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert_plots(client, run_id, *plots)
    version = run.data.tags["mlops.model_version"]
    return run, f"models:/{model_name}/{version}"


def serve(model_uri: str) -> TestClient:
    return TestClient(create_app(model_uri, limits=Limits(max_batch_size=1000)))


def test_spell_trains_logs_grouping_accuracy_and_serves(env: dict[str, str]) -> None:
    data = zip_release(
        "log_clustering", {"train": log_files("train", 1500, 11), "test": log_files("test", 400, 12)}
    )
    run, uri = train_and_get_run(
        env, "log_clustering", "Spell", {"tau": 0.5, "log_format": FORMAT}, data, plots=("template_counts",)
    )
    metrics = run.data.metrics
    assert metrics["templates"] == 6
    assert metrics["train_grouping_accuracy"] == 1.0 and metrics["grouping_accuracy"] == 1.0
    assert metrics["coverage"] == 1.0
    assert run.data.params["eval_split"] == "test" and run.data.params["tau"] == "0.5"

    lines, events = make_logs(30, seed=13)
    lines.append("an alien message")
    with serve(uri) as client:
        wait_ready(client)
        response = client.post("/predict", json={"data": lines})
        assert response.status_code == 200, response.text
        body = response.json()
    assert body["summary"] == {"total": 31, "matched": 30, "templates": len(set(events)), "coverage": 30 / 31}
    assert body["unknown"] == [{"index": 30, "line": "an alien message"}]
    by_index = {i: g["template"] for g in body["template_groups"] for i in g["indices"]}
    # Lines of one generated event share one template, lines of different events do not.
    assert len({(events[i], by_index[i]) for i in range(30)}) == len(set(events))


def test_spell_tunes_tau_on_ground_truth(env: dict[str, str]) -> None:
    data = zip_release(
        "log_clustering", {"train": log_files("train", 800, 21), "val": log_files("val", 300, 22)}
    )
    run, _ = train_and_get_run(
        env,
        "log_clustering",
        "Spell",
        {"log_format": FORMAT},
        data,
        max_evals=4,
        search_space={"tau": {"type": "uniform", "low": 0.3, "high": 0.6}},
        plots=("template_counts", "tuning_trials"),
    )
    assert run.data.params["tuned"] == "true" and run.data.params["tuning_max_evals"] == "4"
    assert 0.3 <= float(run.data.params["tau"]) <= 0.6
    assert run.data.metrics["train_grouping_accuracy"] == 1.0


@pytest.mark.parametrize("algorithm", sorted(SMALL))
def test_text_classifier_trains_logs_metrics_and_serves(env: dict[str, str], algorithm: str) -> None:
    data = zip_release(
        "text_classification", {"train": text_files("train", 600, 31), "test": text_files("test", 200, 32)}
    )
    run, uri = train_and_get_run(
        env, "text_classification", algorithm, SMALL[algorithm], data, plots=("confusion_matrix",)
    )
    metrics = run.data.metrics
    assert metrics["accuracy"] > 0.9 and metrics["f1_macro"] > 0.9 and "f1_weighted" in metrics
    assert all(f"class_{label}_f1" in metrics for label in VOCAB)

    with serve(uri) as client:
        wait_ready(client)
        response = client.post(
            "/predict",
            json={"texts": ["bank shares price profit", "sunny forecast cloud"], "config": {"top_k": 2}},
        )
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["label"] for r in results] == ["finance", "weather"]
        assert all(len(r["top"]) == 2 and r["top"][0]["probability"] == r["probability"] for r in results)
        assert client.post("/predict", json={"texts": [1]}).status_code == 422
