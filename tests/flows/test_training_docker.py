"""Training end to end on a real Docker engine (``MLOPS_RUNTIME_NAME=docker``): the train flow claims the job,
launches ``train-<id>`` through the Docker runtime, the watchdog follows the MLflow run to completed — and, with
the MLflow poll 600 s away, ends jobs on the container's exit alone (Docker's wait API).

The test image is a minimal Debian with python3 (tests/fixtures/docker.py); the project and its venv are
bind-mounted read-only and ``docker_python`` points at a small wrapper that runs the venv's interpreter with
the project (and the test's ``patched-fit`` folder, see ``training_support.failing_fit``) on PYTHONPATH —
configuration only, the production spec is unchanged. Host networking lets the container reach the test servers
on 127.0.0.1.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.docker import DockerEngine, docker_engine  # noqa: F401
from tests.flows.training_support import (
    create_job,
    failing_fit,
    in_thread,
    job_row,
    seed_catalog,
    set_training,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.docker]
REPO = Path(__file__).resolve().parents[2]


def use_docker(engine: DockerEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv = Path(sys.prefix).resolve()
    python_home = Path(sys.base_prefix).resolve()
    wrapper_dir = tmp_path / "wrap"
    wrapper_dir.mkdir()
    patched = tmp_path / "patched-fit"
    patched.mkdir(exist_ok=True)
    wrapper = wrapper_dir / "python"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={patched}:{REPO} exec {venv}/bin/python "$@"\n')
    wrapper.chmod(0o755)
    mounts = ",".join(f"{p}:{p}:ro" for p in dict.fromkeys([REPO, venv, python_home, wrapper_dir, patched]))
    for key, value in {
        "NAME": "docker",
        "DOCKER_HOST": engine.host,
        "IMAGE": engine.image,
        "DOCKER_NETWORK": "host",
        "DOCKER_MOUNTS": mounts,
        "DOCKER_PYTHON": str(wrapper),
        "MEMORY_LIMIT_MB": "2048",
    }.items():
        monkeypatch.setenv(f"MLOPS_RUNTIME_{key}", value)
    monkeypatch.setenv("MLOPS_MLFLOW_EXPERIMENT_PREFIX", f"t{uuid.uuid4().hex[:10]}")


def test_train_on_docker(
    platform_env,
    docker_engine: DockerEngine,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_docker(docker_engine, tmp_path, monkeypatch)
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
        status = wait_for(
            lambda: (s := runtime.status([name])[name]).state != "running" and s,
            timeout=120,
            what="the container to exit",
        )
        assert status.state == "exited" and status.exit_code == 0
        assert status.labels.get("job-id") == str(job_id) and status.labels.get("kind") == "train"
        assert "FINISHED" in runtime.logs(name)
        run = tracking.get_run(tracking.client(), job.mlflow_run_id)
        assert run.status == "FINISHED" and run.tags[tracking.TAG_JOB] == str(job_id)
        assert tracking.latest_version(tracking.client(), job.model_name) == "1"
    finally:
        runtime.remove(name, force=True)


def test_docker_jobs_end_on_the_container_exit(
    platform_env,
    docker_engine: DockerEngine,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Poll 600 s: each job must end within 180 s of its start, so only the exit event can have ended it."""
    use_docker(docker_engine, tmp_path, monkeypatch)
    set_training(monkeypatch, poll_seconds=600)
    import flows.training
    from flows.training import train
    from flows.watchdog import watch_job
    from infra.runtime.registry import get_runtime

    rounds: list[Any] = []
    monkeypatch.setattr(
        flows.training, "watch_job", lambda job_id: rounds.append(watch_job(job_id)) or rounds[-1]
    )
    runtime = get_runtime()
    seeded = seed_catalog()

    def train_until_ended(job_id: int) -> dict[str, Any]:
        outcome = in_thread(train, job_id)
        wait_for(
            lambda: job_row(job_id).status in ("completed", "failed"),
            timeout=180,
            what=f"job {job_id} to end on its container's exit",
        )
        return outcome.result(timeout=60)

    done, fails = create_job(seeded, "ecod-docker-event"), create_job(seeded, "ecod-docker-fails")
    try:
        outcome = train_until_ended(done)
        job = job_row(done)
        assert outcome["status"] == "completed", (
            job.error,
            job.log_tail,
            runtime.logs(f"train-{done}", tail=40),
        )
        assert runtime.status([job.container_name])[job.container_name].exit_code == 0

        failing_fit(tmp_path, monkeypatch, "the fit broke on purpose")
        outcome = train_until_ended(fails)
        job = job_row(fails)
        assert outcome["status"] == "failed"
        assert job.error == "MLflow run FAILED; container failed with exit code 1", job.error
        assert "failing-fit: about to fail" in job.log_tail and "the fit broke on purpose" in job.log_tail
        assert [r.polls for r in rounds] == [1, 1]  # each watch woken once, by the exit
    finally:
        for job_id in (done, fails):
            runtime.remove(f"train-{job_id}", force=True)
