"""``DockerRuntime.wait_exit`` on a real Docker engine: it wakes on the container's exit through the engine's wait
API. The state is re-read only every ``MLOPS_RUNTIME_EXIT_CHECK_SECONDS`` (60 s here), so a wait that returns
within the 30 s deadlines below was woken by the exit itself. Commands wait for a trigger file in a directory
bind-mounted from the test's temporary directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from infra.runtime.base import ContainerState, ContainerStatus
from infra.runtime.docker import DockerRuntime
from tests.fixtures.docker import DockerEngine, docker_engine  # noqa: F401
from tests.infra.runtime.test_docker import SLEEP, Containers, settings_for, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.docker]
WAIT_TIMEOUT = 120.0
EVENT_DEADLINE = 30.0
RECHECK_SECONDS = 60.0


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    folder = tmp_path / "shared"
    folder.mkdir()
    return folder


@pytest.fixture
def runtime(docker_engine: DockerEngine, shared: Path) -> DockerRuntime:  # noqa: F811
    return DockerRuntime(
        settings=settings_for(
            docker_engine, exit_check_seconds=RECHECK_SECONDS, docker_mounts=f"{shared}:{shared}"
        )
    )


@pytest.fixture
def containers(runtime: DockerRuntime) -> Iterator[Containers]:
    c = Containers(runtime)
    yield c
    c.cleanup()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield executor


def on_trigger(trigger: Path, code: int) -> list[str]:
    script = (
        f"import os, sys, time\nwhile not os.path.exists({str(trigger)!r}): time.sleep(0.05)\n"
        f"print('last words', flush=True)\nsys.exit({code})"
    )
    return ["python", "-c", script]


def waiting(runtime: DockerRuntime, pool: ThreadPoolExecutor, name: str) -> Future[ContainerStatus | None]:
    future = pool.submit(runtime.wait_exit, name, timeout=WAIT_TIMEOUT)
    wait_for(lambda: runtime.status([name])[name].state is ContainerState.RUNNING, what=f"{name} running")
    assert not future.done(), future.result()
    return future


def test_wakes_on_the_exit_with_its_code(
    runtime: DockerRuntime, containers: Containers, shared: Path, pool: ThreadPoolExecutor
) -> None:
    assert runtime.exit_check_seconds == RECHECK_SECONDS
    spec = containers.spec("exit", on_trigger(shared / "go", 3))
    runtime.start(spec)
    future = waiting(runtime, pool, spec.name)
    (shared / "go").touch()
    status = future.result(timeout=EVENT_DEADLINE)
    assert status is not None and (status.state, status.exit_code) == (ContainerState.FAILED, 3)
    assert "last words" in runtime.logs(spec.name, tail=5)


def test_wakes_on_a_kill_from_outside(
    runtime: DockerRuntime, containers: Containers, pool: ThreadPoolExecutor
) -> None:
    spec = containers.spec("kill", SLEEP)
    runtime.start(spec)
    future = waiting(runtime, pool, spec.name)
    runtime.client().api.kill(spec.name, signal="SIGKILL")  # like the OOM killer or an operator
    status = future.result(timeout=EVENT_DEADLINE)
    assert status is not None and (status.state, status.exit_code) == (ContainerState.FAILED, 137)


def test_wakes_when_it_is_removed(
    runtime: DockerRuntime, containers: Containers, pool: ThreadPoolExecutor
) -> None:
    spec = containers.spec("removed", SLEEP)
    runtime.start(spec)
    future = waiting(runtime, pool, spec.name)
    runtime.remove(spec.name, force=True)
    status = future.result(timeout=EVENT_DEADLINE)
    assert status is not None and status.state in (ContainerState.FAILED, ContainerState.NOT_FOUND)


def test_timeouts_and_ended_containers(runtime: DockerRuntime, containers: Containers) -> None:
    running = containers.spec("running", SLEEP)
    runtime.start(running)
    assert runtime.wait_exit(running.name, timeout=1.0) is None
    # Created but never started: the engine's "not-running" wait answers at once, and the wait must neither
    # take that for an end nor spin on it.
    created = containers.spec("created", SLEEP)
    runtime.client().containers.create(**runtime.create_options(created))
    assert runtime.status([created.name])[created.name].state is ContainerState.PENDING
    assert runtime.wait_exit(created.name, timeout=1.5) is None
    runtime.stop(running.name, timeout=5)
    stopped = runtime.wait_exit(running.name, timeout=WAIT_TIMEOUT)
    assert stopped is not None and stopped.state is ContainerState.FAILED and stopped.exit_code == 143
    assert runtime.wait_exit("nope-404", timeout=WAIT_TIMEOUT) == ContainerStatus(
        "nope-404", ContainerState.NOT_FOUND
    )
