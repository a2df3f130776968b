"""Training end to end on a real Docker engine (``MLOPS_RUNTIME_NAME=docker``): the train flow claims the job,
launches ``train-<id>`` through the Docker runtime, the watchdog follows the MLflow run to completed.

The test image is a minimal Debian with python3 (tests/fixtures/docker.py); the project and its venv are
bind-mounted read-only and ``docker_python`` points at a small wrapper that runs the venv's interpreter with
the project on PYTHONPATH — configuration only, the production spec is unchanged. Host networking lets the
container reach the test servers on 127.0.0.1.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from tests.fixtures.docker import DockerEngine, docker_engine  # noqa: F401
from tests.flows.training_support import create_job, job_row, seed_catalog, set_training, wait_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_train_on_docker(platform_env, docker_engine: DockerEngine, tmp_path: Path,  # noqa: F811
                         monkeypatch: pytest.MonkeyPatch) -> None:
    venv = Path(sys.prefix).resolve()
    python_home = Path(sys.base_prefix).resolve()
    wrapper_dir = tmp_path / "wrap"
    wrapper_dir.mkdir()
    wrapper = wrapper_dir / "python"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {venv}/bin/python "$@"\n')
    wrapper.chmod(0o755)
    mounts = ",".join(f"{p}:{p}:ro" for p in dict.fromkeys([REPO, venv, python_home, wrapper_dir]))
    for key, value in {"NAME": "docker", "DOCKER_HOST": docker_engine.host, "IMAGE": docker_engine.image,
                       "DOCKER_NETWORK": "host", "DOCKER_MOUNTS": mounts, "DOCKER_PYTHON": str(wrapper),
                       "MEMORY_LIMIT_MB": "2048"}.items():
        monkeypatch.setenv(f"MLOPS_RUNTIME_{key}", value)
    monkeypatch.setenv("MLOPS_MLFLOW_EXPERIMENT_PREFIX", f"t{uuid.uuid4().hex[:10]}")
    set_training(monkeypatch, poll_seconds=0.5)
    from flows.training import train
    from infra import tracking
    from infra.runtime.registry import get_runtime

    runtime = get_runtime()
    assert runtime.name == "docker"
    seeded = seed_catalog()
    job_id = create_job(seeded, "ecod-docker")
    name = f"train-{job_id}"
    try:
        outcome = train(job_id)
        job = job_row(job_id)
        name = job.container_name
        assert outcome["status"] == "completed", (job.error, job.log_tail, runtime.logs(name, tail=40))
        # The run is FINISHED a moment before the interpreter has exited.
        status = wait_for(lambda: (s := runtime.status([name])[name]).state != "running" and s, timeout=120,
                          what="the container to exit")
        assert status.state == "exited" and status.exit_code == 0
        assert status.labels.get("job-id") == str(job_id) and status.labels.get("kind") == "train"
        assert "FINISHED" in runtime.logs(name)
        run = tracking.get_run(tracking.client(), job.mlflow_run_id)
        assert run.status == "FINISHED" and run.tags[tracking.TAG_JOB] == str(job_id)
        assert tracking.latest_version(tracking.client(), job.model_name) == "1"
    finally:
        runtime.remove(name, force=True)
