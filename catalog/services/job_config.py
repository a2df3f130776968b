"""A training job's config JSON in S3 (``jobs/{job_id}/config-{revision}.json``, docs/architecture.md), for
either kind, and the MLflow names it carries (a job's experiment: its scenario's, or a custom job's own; a job's
registered model).

Shared by ``catalog.services.training`` (presets, edits) and ``catalog.services.custom_jobs``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from catalog.models import AlgorithmConfig, DatasetRelease, JobKind, TrainJob
from infra.objectstore import ObjectStore
from infra.settings import get_settings


def experiment_name_for(scenario: str) -> str:
    """The experiment of a scenario's preset jobs (the platform's code alone writes there)."""
    return f"{get_settings().mlflow.experiment_prefix}/{scenario}"


def experiment_name_of(job: TrainJob) -> str:
    """The experiment a job's runs are created in. A custom job has one of its own: its code may edit the
    experiment it runs in (docs/architecture.md, "Custom training jobs"), so it must hold no other job's runs."""
    if job.kind == JobKind.CUSTOM:
        return f"{get_settings().mlflow.experiment_prefix}/custom-job-{job.id}"
    return experiment_name_for(job.scenario)


def build_config(session: Session, job: TrainJob) -> dict[str, Any]:
    release = session.get(DatasetRelease, job.release_id)
    assert release is not None
    bucket = get_settings().s3.bucket
    config = {
        "job_id": job.id,
        "team_id": job.team_id,
        "kind": job.kind,
        "scenario": job.scenario,
        "model_name": job.model_name,
        "experiment_name": experiment_name_of(job),
        "release": {
            "uri": f"s3://{bucket}/{release.object_key}",
            "sha256": release.sha256,
            "version": release.version,
            "dataset_id": release.dataset_id,
            "release_id": release.id,
        },
    }
    if job.kind == JobKind.CUSTOM:  # what its container runs at this revision (None: the runtime's limits)
        return config | {
            k: getattr(job, k) for k in ("image", "command", "env", "cpu_limit", "memory_limit_mb")
        }
    algorithm = session.get(AlgorithmConfig, job.algorithm_id)
    assert algorithm is not None
    search_space = algorithm.search_space if job.max_evals > 0 else {}
    return config | {
        "algorithm": algorithm.name,
        "params": job.params,
        "search_space": search_space,
        "max_evals": job.max_evals,
    }


def store_config(session: Session, job: TrainJob, store: ObjectStore | None = None) -> str | None:
    """Upload the job's config under a new revision key; returns the previous key to delete after commit.

    Called inside the caller's transaction: if the upload raises, the transaction (the catalog change)
    is rolled back, and the previous config object is untouched.
    """
    previous = job.config_key
    job.config_revision += 1
    key = f"jobs/{job.id}/config-{job.config_revision}.json"
    body = json.dumps(build_config(session, job), indent=2, sort_keys=True).encode()
    (store or ObjectStore.from_settings(get_settings().s3)).put_bytes(
        key, body, content_type="application/json"
    )
    job.config_key = key
    session.add(job)
    session.flush()
    return previous
