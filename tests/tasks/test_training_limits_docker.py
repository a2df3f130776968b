"""Container limits reach the Docker engine: a job of a team under a CPU and memory quota, with no limit of its
own nor a runtime default, claims the quota defaults (``MLOPS_RUNTIME_DEFAULT_CPUS``/``_MEMORY_MB``) when its
start is claimed, and the container the platform's launch task starts on a real engine has exactly those limits
(``docker inspect``: HostConfig.NanoCpus and Memory)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.docker import DockerEngine, docker_engine  # noqa: F401
from tests.flows.training_support import seed_catalog

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.platform_servers("s3")]


def _job(team_id: int, release_id: int) -> int:
    """A preset job row with an id no other test's container name (train-<id>) will share on the engine."""
    from sqlmodel import select

    from catalog.db import session_scope
    from catalog.models import AlgorithmConfig, TrainJob

    with session_scope() as session:
        algo = session.exec(select(AlgorithmConfig).where(AlgorithmConfig.name == "ECOD")).one()
        job = TrainJob(
            id=random.randint(10**8, 2 * 10**8),
            team_id=team_id,
            scenario="anomaly_detection",
            name="limited",
            algorithm_id=algo.id,
            release_id=release_id,
            params={},
        )
        session.add(job)
        session.flush()
        return int(job.id or 0)


def test_claimed_limits_reach_the_docker_engine(
    platform_env: Any,
    docker_engine: DockerEngine,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in {
        "NAME": "docker",
        "DOCKER_HOST": docker_engine.host,
        "IMAGE": docker_engine.image,
        "DOCKER_NETWORK": "none",
        "DOCKER_PYTHON": "python3",
        "DEFAULT_CPUS": "0.5",
        "DEFAULT_MEMORY_MB": "300",
    }.items():
        monkeypatch.setenv(f"MLOPS_RUNTIME_{key}", value)
    from infra.settings import reset_settings

    reset_settings()
    from catalog.db import session_scope
    from catalog.models import TrainJob
    from catalog.scoping import SYSTEM
    from catalog.services import quotas, training
    from infra.runtime.registry import get_runtime
    from tasks.training import launch_container

    seeded = seed_catalog()
    job_id = _job(seeded.team_id, seeded.release_id)
    with session_scope() as session:
        quotas.set_quota(session, actor=SYSTEM, team_id=seeded.team_id, cpus=2, memory_mb=1024)
    with session_scope() as session:
        training.claim_start(session, actor=SYSTEM, job_id=job_id, flow_run_id="limits")
    with session_scope() as session:
        job = session.get(TrainJob, job_id)
        assert job is not None and (job.claimed_cpu, job.claimed_memory_mb) == (0.5, 300)

    runtime = get_runtime()
    assert runtime.name == "docker"
    name = launch_container.fn(job_id, "run-limits")
    try:
        host_config = runtime.client().api.inspect_container(name)["HostConfig"]  # type: ignore[attr-defined]
        assert host_config["NanoCpus"] == 500_000_000
        assert host_config["Memory"] == 300 * 2**20
    finally:
        runtime.remove(name, force=True)
