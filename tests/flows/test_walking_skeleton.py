"""Walking skeleton, ECOD, through the real path on real servers (SeaweedFS, MLflow, Prefect):
upload a CSV → publish a release (flow; zip in S3) → create and start a training job (flow; config in S3;
training container = subprocess; MLflow run + registered model) → serving (flow; inference server process)
→ POST /predict returns a label and score per point."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def make_series(path: Path, *, n: int, seed: int, anomalies: list[int], jump: float = 8.0) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    value = 10 + np.sin(t / 12) + rng.normal(0, 0.2, n)
    label = np.zeros(n, dtype=int)
    for i in anomalies:
        value[i] += jump
        label[i] = 1
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=n, freq="min").astype(str),
            "value": value.round(4),
            "label": label,
        }
    )
    frame.to_csv(path, index=False)
    return path


def test_upload_publish_train_serve_predict(
    platform_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    from infra.settings import reset_settings

    monkeypatch.setenv("MLOPS_TRAIN_POLL_SECONDS", "0.5")
    reset_settings()
    from catalog.db import session_scope
    from catalog.services import datasets as ds
    from catalog.services import releases as rel
    from catalog.services import serving as sv
    from catalog.services import training as tr
    from catalog.services.init import initialize
    from catalog.services.teams import actor_for
    from catalog.uploads import upload_entry
    from flows.datasets import publish_release
    from flows.serving import serving_delete, serving_start
    from flows.training import train
    from infra import tracking
    from infra.objectstore import ObjectStore
    from infra.runtime.registry import get_runtime
    from infra.settings import get_settings
    from tasks.predict import predict

    initialize(admin_password="skeleton-pass-1", echo=lambda *a, **k: None)
    settings = get_settings()
    with session_scope() as session:
        admin = actor_for(session, username=settings.platform.admin_username)
    team_id = min(admin.team_ids)

    with session_scope() as session:
        dataset = ds.create_dataset(
            session, actor=admin, team_id=team_id, scenario="anomaly_detection", name="cpu"
        )
    # ECOD scores by marginal tails: test spikes must lie beyond the training range (which holds its own,
    # smaller spikes), and a long training window keeps the normal test values inside it.
    train_csv = make_series(tmp_path / "train.csv", n=2000, seed=1, anomalies=[100, 300, 450], jump=6.0)
    test_csv = make_series(tmp_path / "test.csv", n=300, seed=2, anomalies=[50, 200], jump=12.0)
    upload_entry(actor=admin, dataset_id=dataset.id, path=train_csv)
    upload_entry(actor=admin, dataset_id=dataset.id, path=test_csv, is_train=False, is_test=True)

    with session_scope() as session:
        release = rel.create_release(session, actor=admin, dataset_id=dataset.id)
    assert release.version == "v1" and release.status == "pending"
    result = publish_release(release.id)
    assert result["status"] == "published"
    with session_scope() as session:
        release = rel.get_release(session, actor=admin, release_id=release.id)
    assert release.status == "published"
    assert release.split_counts == {"train": 2000, "test": 300}
    store = ObjectStore.from_settings(settings.s3)
    zpath = store.download_file(release.object_key, tmp_path / "release.zip")
    with zipfile.ZipFile(zpath) as zf:
        names = set(zf.namelist())
    assert "manifest.json" in names and any(n.startswith("train/") for n in names)

    with session_scope() as session:
        job, _ = tr.create_job(
            session,
            actor=admin,
            team_id=team_id,
            name="ecod-1",
            scenario="anomaly_detection",
            algorithm="ECOD",
            release_id=release.id,
            params={"contamination": 0.01},
        )
    assert store.exists(job.config_key)
    outcome = train(job.id)
    with session_scope() as session:
        job = tr.get_job(session, actor=admin, job_id=job.id)
    assert outcome["status"] == "completed", (job.error, job.log_tail)
    assert job.status == "completed" and job.mlflow_run_id
    mlflow = tracking.client()
    run = mlflow.get_run(job.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags[tracking.TAG_JOB] == str(job.id)
    assert "contamination" in run.data.params
    assert tracking.latest_version(mlflow, job.model_name) == "1"

    with session_scope() as session:
        serving = sv.create_serving(
            session, actor=admin, team_id=team_id, name="cpu-live", train_job_id=job.id
        )
    started_serving = serving_start(serving.id)
    assert started_serving["url"].endswith("/predict")
    frame = pd.read_csv(test_csv)
    payload = {"data": [{"timestamp": t, "value": float(v)} for t, v in zip(frame.timestamp, frame.value)]}
    answer = predict(actor=admin, serving_id=serving.id, payload=payload)
    results = answer["results"]
    assert len(results) == len(frame)
    assert all({"timestamp", "label", "score", "severity"} <= set(r) for r in results)
    flagged = {i for i, r in enumerate(results) if r["label"] == 1}
    assert {50, 200} <= flagged, f"injected anomalies not flagged: {sorted(flagged)[:20]}"
    assert len(flagged) <= 10, f"too many points flagged: {sorted(flagged)}"
    assert answer["metadata"]["count"] == len(frame)
    from catalog.services.serving import inference_token

    token = inference_token(
        serving
    )  # what `mlops servings token` prints; the server answers no one without it
    direct = httpx.post(
        started_serving["url"], json=payload, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert [r["score"] for r in direct["results"]] == [r["score"] for r in results]

    serving_delete(serving.id)
    name = f"serve-{serving.id}"
    assert get_runtime().status([name])[name].state.value == "not_found"
    # Duration is reported, not asserted (timing belongs in benchmarks); the walk should take under 3 minutes.
    print(f"walking skeleton: {time.monotonic() - started:.1f} s")
