"""The same serving lifecycle as on the process runtime, on a real Docker engine (``docker_engine``): the
inference server runs in a container of the minimal test image, with the project, its venv and interpreter
bind-mounted read-only, on the host network (the default for development and tests). A serving following
``champion`` rolls forward and back in its container as on the process runtime, without dropping a request."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from infra.net import wait_until
from infra.settings import reset_settings
from tests.fixtures.docker import DockerEngine, docker_engine  # noqa: F401 - the fixture
from tests.flows.follow_support import (
    Registered,
    create_follower,
    follow_moves,
    health,
    register_versions,
    seed_model,
)
from tests.flows.test_serving_lifecycle import registered_model, run_lifecycle, seed_catalog  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.docker]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def docker_platform(
    platform_env: Any,
    docker_engine: DockerEngine,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    venv = Path(sys.prefix).resolve()
    python_home = Path(sys.base_prefix).resolve()
    # The serve command's "python" becomes this wrapper: the image knows nothing of the project's path.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "python"
    wrapper.write_text(f'#!/bin/sh\nexport PYTHONPATH={REPO}\nexec {venv / "bin" / "python"} "$@"\n')
    wrapper.chmod(0o755)
    mounts = ",".join(f"{p}:{p}:ro" for p in dict.fromkeys([REPO, venv, python_home, bin_dir]))
    for key, value in {
        "MLOPS_RUNTIME_NAME": "docker",
        "MLOPS_RUNTIME_DOCKER_HOST": docker_engine.host,
        "MLOPS_RUNTIME_IMAGE": docker_engine.image,
        "MLOPS_RUNTIME_DOCKER_NETWORK": "host",
        "MLOPS_RUNTIME_DOCKER_MOUNTS": mounts,
        "MLOPS_RUNTIME_DOCKER_PYTHON": str(wrapper),
    }.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    yield platform_env
    from infra.runtime.registry import get_runtime

    runtime = get_runtime()
    for status in runtime.list(labels={"kind": "serve"}):
        runtime.remove(status.name, force=True)
    reset_settings()


def test_lifecycle_on_a_real_docker_engine(docker_platform: Any, registered_model: str) -> None:  # noqa: F811
    from infra.runtime.registry import get_runtime

    assert get_runtime().name == "docker"
    run_lifecycle(seed_catalog(registered_model))
    assert get_runtime().list(labels={"kind": "serve"}) == []


def test_killed_container_detected_and_delete_never_leaves_one(
    docker_platform: Any,
    registered_model: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.serving import serving_delete, serving_start
    from infra.runtime.base import RuntimeError_
    from infra.runtime.docker import DockerRuntime
    from infra.runtime.registry import get_runtime
    from tasks.serving import observe_now
    from tests.flows.test_serving_lifecycle import container_state, create, load

    seeded = seed_catalog(registered_model)
    sid = create(seeded, "docked")
    serving_start(sid)
    runtime = get_runtime()
    assert isinstance(runtime, DockerRuntime)
    runtime.client().api.kill(f"serve-{sid}")
    wait_until(lambda: observe_now([sid])[sid].state == "failed", timeout=30, description="kill observed")
    assert load(sid).observed_state == "failed"

    def refuse(self: Any, name: str, *, force: bool = False) -> None:
        raise RuntimeError_("Docker refused removing: simulated")

    with monkeypatch.context() as patched:
        patched.setattr(DockerRuntime, "remove", refuse)
        with pytest.raises(RuntimeError_):
            serving_delete(sid)
    assert load(sid) is not None and container_state(sid) == "failed"
    serving_delete(sid)
    assert load(sid) is None and container_state(sid) == "not_found"


@pytest.fixture(scope="module")
def follow_registered(mlflow_server: Any) -> Registered:
    return register_versions(mlflow_server.uri)


def test_a_serving_follows_champion_in_its_docker_container(
    docker_platform: Any, follow_registered: Registered
) -> None:
    from flows.serving import serving_follow, serving_start
    from infra.runtime.registry import get_runtime

    seeded = seed_model(follow_registered)
    sid = create_follower(seeded)
    serving_start(sid)
    assert get_runtime().name == "docker" and health(sid)["model_version"] == "1"
    before = get_runtime().status([f"serve-{sid}"])[f"serve-{sid}"]

    def follow() -> None:
        serving_follow(seeded.model_id)

    follow_moves(seeded, sid, follow, [(2, "2"), (None, "1")])
    # The same container all along, at the same address: the switch happened inside it.
    after = get_runtime().status([f"serve-{sid}"])[f"serve-{sid}"]
    assert (after.started_at, after.port) == (before.started_at, before.port)
