"""EWMA, PELT and Prophet (and the tuning) through ``python -m algorithms.train`` on real servers: release
zip and job config in S3 (SeaweedFS), run and registered model in a real MLflow server; then the registered
model is served by the inference app (in process) and answers /predict by its scenario's contract."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from starlette.testclient import TestClient

from algorithms.base.storage import s3_client_from_env
from algorithms.serve.app import create_app
from tests.algorithms.conftest import make_series
from tests.algorithms.test_pelt import shifted_series
from tests.algorithms.test_prophet import weekly_series
from tests.algorithms.test_train_e2e import assert_plots, put, run_train

pytestmark = [pytest.mark.slow, pytest.mark.platform_servers("s3", "mlflow")]


def release_zip(scenario: str, frames: dict[str, list[pd.DataFrame]]) -> bytes:
    buf = io.BytesIO()
    splits: dict[str, Any] = {}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for entry_id, (split, parts) in enumerate(frames.items(), start=1):
            files = []
            for k, frame in enumerate(parts):
                name = f"{split}/{entry_id * 10 + k}_series.csv"
                zf.writestr(name, frame.to_csv(index=False))
                files.append(name)
            splits[split] = {"files": files, "samples": sum(len(f) for f in parts)}
        manifest = {"format": 1, "dataset_id": 5, "dataset": "series", "version": "v1", "scenario": scenario}
        zf.writestr("manifest.json", json.dumps(manifest | {"splits": splits}))
    return buf.getvalue()


def train_job(
    env: dict[str, str],
    scenario: str,
    algorithm: str,
    frames: dict[str, list[pd.DataFrame]],
    params: dict[str, Any],
    *,
    search_space: dict[str, Any] | None = None,
    max_evals: int = 0,
) -> tuple[MlflowClient, str, str, str]:
    """Upload release + config, run the training container entrypoint; (client, run id, model, version)."""
    s3 = s3_client_from_env()
    bucket = env.get("MLOPS_S3_BUCKET", "mlops")
    if not s3.bucket_exists(bucket):
        s3.make_bucket(bucket)
    tag = uuid.uuid4().hex[:8]
    data = release_zip(scenario, frames)
    release_uri = put(s3, bucket, f"releases/{tag}/v1.zip", data)
    model_name = f"mlops-{scenario}-{algorithm}-test{tag}"
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = f"mlops/{scenario}"
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    run_id = client.create_run(experiment_id).info.run_id
    config = {
        "job_id": int(tag, 16) % 100000,
        "scenario": scenario,
        "algorithm": algorithm,
        "params": params,
        "search_space": search_space or {},
        "max_evals": max_evals,
        "model_name": model_name,
        "experiment_name": experiment,
        "release": {"uri": release_uri, "sha256": hashlib.sha256(data).hexdigest(), "version": "v1"},
    }
    proc = run_train(env, config, run_id)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    version = run.data.tags["mlops.model_version"]
    assert client.get_model_version(model_name, version).run_id == run_id
    return client, run_id, model_name, version


@contextmanager
def served(model_uri: str) -> Iterator[TestClient]:
    """The inference app on the registered model, ready (its loader thread joined: no polling)."""
    with TestClient(create_app(model_uri)) as client:
        for thread in threading.enumerate():
            if thread.name == "model-load":
                thread.join(timeout=300)
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
        yield client


def anomaly_body(values: np.ndarray) -> dict[str, Any]:
    return {
        "data": [
            {"timestamp": f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}", "value": float(v)}
            for i, v in enumerate(values)
        ]
    }


def test_ewma_trains_logs_and_serves(env: dict[str, str]) -> None:
    frames = {"train": [make_series(2000, 11)], "test": [make_series(800, 12)]}
    client, run_id, name, version = train_job(
        env, "anomaly_detection", "EWMA", frames, {"smoothing": "span", "span": 10, "threshold": 4.0}
    )
    run = client.get_run(run_id)
    assert run.data.params["span"] == "10" and run.data.params["tuned"] == "false"
    assert run.data.metrics["recall"] > 0.9 and run.data.metrics["roc_auc"] > 0.95
    assert_plots(client, run_id, "anomalies")
    values = np.zeros(40)
    values[25] = 30.0
    with served(f"models:/{name}/{version}") as app:
        body = app.post("/predict", json=anomaly_body(values)).json()
    assert body["metadata"]["count"] == 40
    labelled = [i for i, r in enumerate(body["results"]) if r["label"] == 1]
    assert 25 in labelled and body["results"][25]["severity"] == "high"
    assert all(r["severity"] == "normal" for i, r in enumerate(body["results"]) if i < 25)


def test_pelt_trains_logs_and_serves_change_points(env: dict[str, str]) -> None:
    frames = {"train": [shifted_series(21)], "test": [shifted_series(22)]}
    client, run_id, name, version = train_job(
        env,
        "anomaly_detection",
        "PELT",
        frames,
        {"cost": "l2", "penalty": "MBIC", "jump": 1, "event_window": 3},
    )
    metrics = client.get_run(run_id).data.metrics
    assert metrics["cp_f1"] == 1.0 and metrics["n_change_points"] == 3
    assert_plots(client, run_id, "anomalies")
    values = np.r_[np.zeros(100), np.full(100, 8.0)] + np.random.default_rng(0).normal(0, 1, 200)
    with served(f"models:/{name}/{version}") as app:
        body = app.post("/predict", json=anomaly_body(values)).json()
    (cp,) = body["metadata"]["change_points"]
    assert abs(cp["index"] - 100) <= 2 and cp["timestamp"] == body["results"][cp["index"]]["timestamp"]
    assert body["metadata"]["anomalies"] == 7


def test_prophet_trains_logs_and_forecasts(env: dict[str, str]) -> None:
    series = weekly_series(400)
    frames = {"train": [series.iloc[:340]], "test": [series.iloc[340:]]}
    client, run_id, name, version = train_job(
        env, "timeseries_predict", "Prophet", frames, {"horizon": 10, "yearly_seasonality": "false"}
    )
    metrics = client.get_run(run_id).data.metrics
    assert {"rmse", "mae", "mape", "smape", "coverage"} <= set(metrics)
    assert metrics["rmse"] < 0.8 and metrics["mape"] < 0.04
    assert_plots(client, run_id, "forecast")
    with served(f"models:/{name}/{version}") as app:
        body = app.post("/predict", json={"config": {"steps": 7}}).json()
        too_many = app.post("/predict", json={"config": {"steps": 5000}})
    assert [p["timestamp"][:10] for p in body["prediction"]] == [
        str(d.date()) for d in pd.date_range(series["timestamp"].iloc[339], periods=8, freq="D")[1:]
    ]
    assert all(p["lower"] <= p["value"] <= p["upper"] for p in body["prediction"])
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "invalid_request"


def test_tuning_logs_trials_and_trains_with_the_best_params(env: dict[str, str]) -> None:
    frames = {"train": [make_series(1500, 31)], "val": [make_series(600, 32)], "test": [make_series(600, 33)]}
    space = {
        "span": {"type": "quniform", "low": 2, "high": 60, "q": 1},
        "threshold": {"type": "uniform", "low": 0.5, "high": 8.0},
    }
    client, run_id, _, _ = train_job(
        env, "anomaly_detection", "EWMA", frames, {"threshold": 0.5}, search_space=space, max_evals=6
    )
    run = client.get_run(run_id)
    losses = client.get_metric_history(run_id, "tuning_trial_loss")
    assert len(losses) == int(run.data.metrics["tuning_trials"]) <= 6 and len(losses) >= 2
    assert sorted(m.step for m in losses) == list(range(len(losses)))
    spans = {m.step: m.value for m in client.get_metric_history(run_id, "tuning_trial_param_span")}
    best = int(run.data.metrics["tuning_best_trial"])
    assert min(m.value for m in losses) == run.data.metrics["tuning_best_loss"]
    # The final model was trained with the best trial's params, not the job's own threshold.
    assert run.data.params["span"] == run.data.params["best_span"] == str(int(spans[best]))
    assert run.data.params["threshold"] == run.data.params["best_threshold"] != "0.5"
    assert run.data.params["tuned"] == "true" and run.data.params["eval_split"] == "test"
    assert "tuning/trials.json" in [f.path for f in client.list_artifacts(run_id, "tuning")]
    assert_plots(client, run_id, "anomalies", "tuning_trials")
