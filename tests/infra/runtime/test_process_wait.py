"""``ProcessRuntime.wait_exit`` on real process groups: it wakes on the command's exit through a pidfd, also for a
container another process started (as after ``mlops down --keep-workloads`` and a new runner).

The state is re-read only every ``MLOPS_RUNTIME_EXIT_CHECK_SECONDS``, set to 60 s here: a wait that returns
well before that (the deadlines below are 30 s) was woken by the exit itself. Commands wait for a trigger file
the test creates once the waiter is waiting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from infra.procs import wait_pid_exit
from infra.runtime.base import ContainerState, ContainerStatus
from infra.runtime.launcher import read_state
from infra.runtime.process import ProcessRuntime
from infra.settings import Settings, get_settings, reset_settings
from tests.infra.runtime.test_process import SLEEP, runtime, spec, wait_for  # noqa: F401

WAIT_TIMEOUT = 120.0
EVENT_DEADLINE = 30.0
RECHECK_SECONDS = 60.0


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLOPS_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("MLOPS_RUNTIME_STOP_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("MLOPS_RUNTIME_EXIT_CHECK_SECONDS", str(RECHECK_SECONDS))
    reset_settings()
    yield get_settings()
    reset_settings()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield executor


def on_trigger(trigger: Path, code: int) -> list[str]:
    """A command that prints a line once ``trigger`` exists, then exits with ``code``."""
    script = (
        f"import os, sys, time\nwhile not os.path.exists({str(trigger)!r}): time.sleep(0.05)\n"
        f"print('last words', flush=True)\nsys.exit({code})"
    )
    return ["python", "-c", script]


def waiting(
    runtime: ProcessRuntime,  # noqa: F811
    pool: ThreadPoolExecutor,
    name: str,
) -> Future[ContainerStatus | None]:
    future = pool.submit(runtime.wait_exit, name, timeout=WAIT_TIMEOUT)
    wait_for(lambda: runtime.status([name])[name].state is ContainerState.RUNNING, what=f"{name} running")
    assert not future.done(), future.result()
    return future


def test_settings_reach_the_runtime(runtime: ProcessRuntime) -> None:  # noqa: F811
    assert runtime.exit_check_seconds == RECHECK_SECONDS


def test_wakes_on_the_exit_with_its_code(
    runtime: ProcessRuntime,  # noqa: F811
    pool: ThreadPoolExecutor,
    tmp_path: Path,
) -> None:
    runtime.start(spec("train-w", on_trigger(tmp_path / "go", 3)))
    future = waiting(runtime, pool, "train-w")
    (tmp_path / "go").touch()
    status = future.result(timeout=EVENT_DEADLINE)
    assert status is not None and (status.state, status.exit_code) == (ContainerState.FAILED, 3)
    assert "last words" in runtime.logs("train-w", tail=5)


def test_wakes_on_a_kill_from_outside(runtime: ProcessRuntime, pool: ThreadPoolExecutor) -> None:  # noqa: F811
    runtime.start(spec("train-k", SLEEP))
    future = waiting(runtime, pool, "train-k")
    state = read_state(runtime.state_path("train-k"))
    assert state is not None
    os.kill(state["pid"], signal.SIGKILL)
    status = future.result(timeout=EVENT_DEADLINE)
    assert status is not None and (status.state, status.exit_code) == (ContainerState.FAILED, 137)
    assert "SIGKILL" in status.detail


def test_wakes_for_a_container_another_process_started(
    runtime: ProcessRuntime,  # noqa: F811
    pool: ThreadPoolExecutor,
    tmp_path: Path,
) -> None:
    starter = (
        "import sys\n"
        "from infra.runtime.base import ContainerKind, ContainerSpec\n"
        "from infra.runtime.process import ProcessRuntime\n"
        "cmd = sys.argv[1:]\n"
        "print(ProcessRuntime().start(ContainerSpec('train-o', ContainerKind.TRAIN, cmd)).state)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", starter, *on_trigger(tmp_path / "go", 0)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.strip() == "running", done.stderr
    state = read_state(runtime.state_path("train-o"))
    assert state is not None and psutil.Process(state["launcher_pid"]).ppid() != os.getpid()
    future = waiting(runtime, pool, "train-o")
    (tmp_path / "go").touch()
    status = future.result(timeout=EVENT_DEADLINE)
    assert status is not None and (status.state, status.exit_code) == (ContainerState.EXITED, 0)


def test_times_out_while_it_runs_and_returns_at_once_when_ended(runtime: ProcessRuntime) -> None:  # noqa: F811
    runtime.start(spec("train-t", SLEEP))
    assert runtime.wait_exit("train-t", timeout=0.5) is None
    runtime.stop("train-t")
    ended = runtime.wait_exit("train-t", timeout=WAIT_TIMEOUT)
    assert ended is not None and ended.state is ContainerState.FAILED and "stopped" in ended.detail
    assert runtime.wait_exit("train-none", timeout=WAIT_TIMEOUT) == ContainerStatus(
        "train-none", ContainerState.NOT_FOUND
    )


def test_wait_pid_exit() -> None:
    sleeper = subprocess.Popen(["sleep", "120"])
    try:
        created = psutil.Process(sleeper.pid).create_time()
        assert wait_pid_exit(sleeper.pid, created, 0.2) is False
        # Another process's create time: the recorded process is gone, whatever now holds the pid.
        assert wait_pid_exit(sleeper.pid, created - 3600, RECHECK_SECONDS) is True
        sleeper.kill()
        assert wait_pid_exit(sleeper.pid, created, RECHECK_SECONDS) is True  # a timeout would say False
    finally:
        sleeper.kill()
        sleeper.wait()
