"""``python -m algorithms.train`` end to end on real servers: a release zip and job config in S3 (SeaweedFS),
the run and registered model in a real MLflow server; then the registered model loads and predicts."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import uuid
import zipfile
from typing import Any

import mlflow.pyfunc
import pandas as pd
import pytest
from minio import Minio
from mlflow import MlflowClient

from algorithms.base.storage import s3_client_from_env
from tests.algorithms.conftest import make_series

pytestmark = [pytest.mark.slow, pytest.mark.platform_servers("s3", "mlflow")]


def release_zip(frames: dict[str, list[pd.DataFrame]]) -> bytes:
    buf = io.BytesIO()
    splits: dict[str, Any] = {}
    entry_id = 1
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for split, parts in frames.items():
            files = []
            for frame in parts:
                name = f"{split}/{entry_id}_cpu.csv"
                zf.writestr(name, frame.to_csv(index=False))
                files.append(name)
                entry_id += 1
            splits[split] = {"files": files, "samples": sum(len(f) for f in parts)}
        zf.writestr(
            "manifest.json",
            json.dumps(
                {
                    "format": 1,
                    "dataset_id": 3,
                    "dataset": "cpu",
                    "version": "v1",
                    "scenario": "anomaly_detection",
                    "splits": splits,
                }
            ),
        )
    return buf.getvalue()


def put(client: Minio, bucket: str, key: str, data: bytes) -> str:
    client.put_object(bucket, key, io.BytesIO(data), len(data))
    return f"s3://{bucket}/{key}"


def run_train(env: dict[str, str], config: dict[str, Any], run_id: str) -> subprocess.CompletedProcess[str]:
    client = s3_client_from_env()
    bucket = env.get("MLOPS_S3_BUCKET", "mlops")
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    config_uri = put(client, bucket, f"jobs/{config['job_id']}/config-1.json", json.dumps(config).encode())
    child = os.environ | env | {"MLOPS_JOB_CONFIG_URI": config_uri, "MLFLOW_RUN_ID": run_id}
    return subprocess.run(
        [sys.executable, "-m", "algorithms.train"],
        env=child,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_plots(client: MlflowClient, run_id: str, *names: str) -> None:
    """The run has exactly these ``plots/{name}.png`` artifacts, each a real PNG image of bounded size
    (the width and height in its IHDR header), and no plotting error was recorded."""
    found = sorted(f.path for f in client.list_artifacts(run_id, "plots"))
    assert found == sorted(f"plots/{n}.png" for n in names)
    for path in found:
        local = client.download_artifacts(run_id, path)
        with open(local, "rb") as fh:
            head = fh.read(24)
        assert head[:8] == PNG_SIGNATURE, path
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        assert 200 <= width <= 2000 and 200 <= height <= 2000, (path, width, height)
    assert "mlops.plots_error" not in client.get_run(run_id).data.tags


def job_config(job_id: int, release_uri: str, sha256: str, model_name: str) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "scenario": "anomaly_detection",
        "algorithm": "ECOD",
        "params": {"contamination": 0.03},
        "search_space": {},
        "max_evals": 0,
        "model_name": model_name,
        "experiment_name": "mlops/anomaly_detection",
        "release": {"uri": release_uri, "sha256": sha256, "version": "v1", "dataset_id": 3},
    }


def test_train_logs_registers_and_the_model_serves(env: dict[str, str]) -> None:
    s3 = s3_client_from_env()
    bucket = env.get("MLOPS_S3_BUCKET", "mlops")
    if not s3.bucket_exists(bucket):
        s3.make_bucket(bucket)
    data = release_zip({"train": [make_series(1500, 1), make_series(500, 2)], "test": [make_series(800, 3)]})
    tag = uuid.uuid4().hex[:8]
    release_uri = put(s3, bucket, f"releases/{tag}/v1.zip", data)
    model_name = f"mlops-anomaly_detection-ECOD-test{tag}"

    mlflow_client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = mlflow_client.get_experiment_by_name("mlops/anomaly_detection")
    experiment_id = (
        experiment.experiment_id if experiment else mlflow_client.create_experiment("mlops/anomaly_detection")
    )
    run_id = mlflow_client.create_run(experiment_id).info.run_id

    proc = run_train(env, job_config(901, release_uri, hashlib.sha256(data).hexdigest(), model_name), run_id)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "registered models:/" in proc.stdout

    run = mlflow_client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["contamination"] == "0.03" and run.data.params["eval_split"] == "test"
    for name in ("precision", "recall", "f1", "roc_auc", "threshold"):
        assert name in run.data.metrics
    assert run.data.metrics["roc_auc"] > 0.9
    assert_plots(mlflow_client, run_id, "anomalies")
    version = run.data.tags["mlops.model_version"]
    assert mlflow_client.get_model_version(model_name, version).run_id == run_id

    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    assert model.metadata.metadata["scenario"] == "anomaly_detection"
    out = model.predict(pd.DataFrame({"timestamp": ["a", "b"], "value": [0.0, 25.0]}))
    assert out["label"].tolist() == [0, 1]


def test_checksum_mismatch_fails_the_run(env: dict[str, str]) -> None:
    s3 = s3_client_from_env()
    bucket = env.get("MLOPS_S3_BUCKET", "mlops")
    if not s3.bucket_exists(bucket):
        s3.make_bucket(bucket)
    release_uri = put(
        s3, bucket, f"releases/{uuid.uuid4().hex[:8]}/v1.zip", release_zip({"train": [make_series(300, 4)]})
    )
    mlflow_client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = mlflow_client.get_experiment_by_name("mlops/anomaly_detection")
    experiment_id = (
        experiment.experiment_id if experiment else mlflow_client.create_experiment("mlops/anomaly_detection")
    )
    run_id = mlflow_client.create_run(experiment_id).info.run_id

    proc = run_train(env, job_config(902, release_uri, "0" * 64, "mlops-never-registered"), run_id)
    assert proc.returncode != 0
    assert "checksum mismatch" in proc.stderr
    assert mlflow_client.get_run(run_id).info.status == "FAILED"
