"""Tests of the process runtime: real detached process groups, each test with its own data directory."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from infra.runtime.base import (
    ContainerExistsError,
    ContainerKind,
    ContainerSpec,
    ContainerState,
    ContainerStatus,
    RuntimeError_,
)
from infra.runtime.launcher import read_state, write_state
from infra.runtime.ports import allocate_port
from infra.runtime.process import VANISHED_DETAIL, ProcessRuntime, _reap_children
from infra.settings import Settings, get_settings, reset_settings

SLEEP = ["python", "-c", "import time; print('up', flush=True); time.sleep(120)"]
DEADLINE = 20.0


def wait_for(predicate: Callable[[], Any], timeout: float = DEADLINE, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def spec(name: str, command: list[str], **kwargs: Any) -> ContainerSpec:
    return ContainerSpec(name=name, kind=kwargs.pop("kind", ContainerKind.TRAIN), command=command, **kwargs)


def wait_ended(runtime: ProcessRuntime, name: str) -> ContainerStatus:
    def ended() -> ContainerStatus | None:
        status = runtime.status([name])[name]
        return None if status.is_alive else status

    return wait_for(ended, what=f"{name} to end")


def pid_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _processes_of(data_dir: Path) -> list[psutil.Process]:
    """Live members of every process group with a process working inside the data dir (a container's cwd)."""
    _reap_children()
    by_group: dict[int, list[psutil.Process]] = {}
    groups: set[int] = set()
    for proc in psutil.process_iter():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            by_group.setdefault(os.getpgid(proc.pid), []).append(proc)
            if proc.cwd().startswith(str(data_dir)):
                groups.add(os.getpgid(proc.pid))
        except (psutil.Error, ProcessLookupError):
            continue
    return [proc for group in groups for proc in by_group.get(group, [])]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLOPS_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("MLOPS_RUNTIME_STOP_TIMEOUT_SECONDS", "5")
    reset_settings()
    yield get_settings()
    reset_settings()


@pytest.fixture
def runtime(settings: Settings) -> Iterator[ProcessRuntime]:
    yield ProcessRuntime(settings)
    data_dir = settings.platform.data_dir
    # Let groups that are ending on their own (a launcher killing leftovers) finish before judging.
    try:
        wait_for(lambda: not _processes_of(data_dir), timeout=5)
    except AssertionError:
        pass
    leftovers = _processes_of(data_dir)
    described = [f"{p.pid} {p.cmdline()}" for p in leftovers if p.is_running()]
    for proc in leftovers:
        try:
            os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    assert not described, f"processes left running by the test: {described}"


def test_start_status_logs_stop_remove(runtime: ProcessRuntime) -> None:
    started = runtime.start(spec("train-1", SLEEP, labels={"job": "1"}))
    assert started.state is ContainerState.RUNNING
    assert started.labels == {"job": "1"} and started.started_at is not None
    wait_for(lambda: "up" in runtime.logs("train-1"), what="log output")
    state = read_state(runtime.state_path("train-1"))
    assert state is not None and psutil.Process(state["pid"]).is_running()

    runtime.stop("train-1")
    stopped = runtime.status(["train-1"])["train-1"]
    assert stopped.state is ContainerState.FAILED
    assert stopped.exit_code == 128 + signal.SIGTERM and "SIGTERM" in stopped.detail
    assert stopped.finished_at is not None and stopped.finished_at >= stopped.started_at
    assert pid_gone(state["pid"]) and pid_gone(state["launcher_pid"])
    assert "up" in runtime.logs("train-1"), "stop keeps the logs"
    runtime.stop("train-1")  # stopping an ended container is a no-op

    runtime.remove("train-1")
    assert runtime.status(["train-1"])["train-1"].state is ContainerState.NOT_FOUND
    assert runtime.logs("train-1") == ""
    assert not runtime.log_path("train-1").exists() and not runtime.work_dir("train-1").exists()
    runtime.remove("train-1")  # removing a missing container is a no-op


@pytest.mark.parametrize(
    ("command", "state", "exit_code", "detail"),
    [
        (["python", "-c", "pass"], ContainerState.EXITED, 0, "exited with code 0"),
        (["python", "-c", "import sys; sys.exit(3)"], ContainerState.FAILED, 3, "exited with code 3"),
        (["/nonexistent/binary", "--flag"], ContainerState.FAILED, 127, "could not start the command"),
    ],
)
def test_exit_codes_map_to_exited_and_failed(
    runtime: ProcessRuntime, command: list[str], state: ContainerState, exit_code: int, detail: str
) -> None:
    runtime.start(spec("train-exit", command))
    ended = wait_ended(runtime, "train-exit")
    assert (ended.state, ended.exit_code) == (state, exit_code)
    assert detail in ended.detail and ended.finished_at is not None


def test_status_of_many_names_in_one_call(runtime: ProcessRuntime) -> None:
    runtime.start(spec("serve-a", SLEEP, kind=ContainerKind.SERVE, port=31001))
    runtime.start(spec("train-b", ["python", "-c", "pass"]))
    wait_ended(runtime, "train-b")
    result = runtime.status(["serve-a", "nope-1", "train-b", "nope-2"])
    assert list(result) == ["serve-a", "nope-1", "train-b", "nope-2"]
    assert result["serve-a"].state is ContainerState.RUNNING and result["serve-a"].port == 31001
    assert result["train-b"].state is ContainerState.EXITED
    assert result["nope-1"].state is result["nope-2"].state is ContainerState.NOT_FOUND
    runtime.remove("serve-a", force=True)


def test_environment_is_minimal_plus_spec_env(
    runtime: ProcessRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_PLATFORM_SECRET", "must-not-leak")
    code = "import json, os, sys; print(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd(), 'exe': sys.executable}))"
    runtime.start(spec("train-env", ["python", "-c", code], env={"FOO": "bar", "MLFLOW_RUN_ID": "r1"}))
    assert wait_ended(runtime, "train-env").state is ContainerState.EXITED
    seen = json.loads(runtime.logs("train-env").strip().splitlines()[-1])
    assert seen["env"]["FOO"] == "bar" and seen["env"]["MLFLOW_RUN_ID"] == "r1"
    assert seen["env"]["PATH"] == os.environ["PATH"]
    assert "MLOPS_PLATFORM_SECRET" not in seen["env"] and "MLOPS_DATA_DIR" not in seen["env"]
    assert seen["cwd"] == str(runtime.work_dir("train-env"))
    assert seen["exe"] == sys.executable


def test_logs_tail(runtime: ProcessRuntime) -> None:
    runtime.start(spec("train-log", ["python", "-c", "for i in range(1, 101): print(i)"]))
    wait_ended(runtime, "train-log")
    assert runtime.logs("train-log", tail=3) == "98\n99\n100\n"
    assert runtime.logs("train-log").count("\n") == 100
    assert runtime.logs("train-log", tail=0) == ""


def test_existing_name_is_refused_until_removed(runtime: ProcessRuntime) -> None:
    runtime.start(spec("train-dup", ["python", "-c", "pass"]))
    wait_ended(runtime, "train-dup")
    with pytest.raises(ContainerExistsError):
        runtime.start(spec("train-dup", ["python", "-c", "pass"]))
    runtime.remove("train-dup")
    runtime.start(spec("train-dup", ["python", "-c", "print('second')"]))
    wait_ended(runtime, "train-dup")
    assert runtime.logs("train-dup") == "second\n"


def test_remove_running_needs_force(runtime: ProcessRuntime) -> None:
    runtime.start(spec("serve-rm", SLEEP))
    with pytest.raises(RuntimeError_):
        runtime.remove("serve-rm")
    assert runtime.status(["serve-rm"])["serve-rm"].state is ContainerState.RUNNING
    pid = read_state(runtime.state_path("serve-rm"))["pid"]  # type: ignore[index]
    runtime.remove("serve-rm", force=True)
    assert pid_gone(pid)
    assert runtime.status(["serve-rm"])["serve-rm"].state is ContainerState.NOT_FOUND


def test_list_filters_by_labels(runtime: ProcessRuntime) -> None:
    runtime.start(spec("train-l1", ["python", "-c", "pass"], labels={"team": "a", "kind": "train"}))
    runtime.start(spec("train-l2", ["python", "-c", "pass"], labels={"team": "b", "kind": "train"}))
    assert {s.name for s in runtime.list()} == {"train-l1", "train-l2"}
    assert [s.name for s in runtime.list(labels={"team": "a"})] == ["train-l1"]
    assert runtime.list(labels={"team": "a", "kind": "serve"}) == []
    wait_ended(runtime, "train-l1")
    wait_ended(runtime, "train-l2")


def test_stop_kills_a_process_ignoring_sigterm_after_the_timeout(runtime: ProcessRuntime) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(120)"
    )
    runtime.start(spec("train-stubborn", ["python", "-c", code]))
    wait_for(lambda: "ready" in runtime.logs("train-stubborn"), what="the SIGTERM handler")
    state = read_state(runtime.state_path("train-stubborn"))
    assert state is not None
    began = time.monotonic()
    runtime.stop("train-stubborn", timeout=1.0)
    elapsed = time.monotonic() - began
    assert 1.0 <= elapsed < 8.0, elapsed
    stopped = runtime.status(["train-stubborn"])["train-stubborn"]
    assert stopped.state is ContainerState.FAILED and stopped.exit_code == 128 + signal.SIGKILL
    assert "SIGKILL" in stopped.detail
    assert pid_gone(state["pid"]) and pid_gone(state["launcher_pid"])


def test_stop_reaches_the_whole_process_group(runtime: ProcessRuntime) -> None:
    code = "import subprocess, time; p = subprocess.Popen(['sleep', '120']); print(p.pid, flush=True); time.sleep(120)"
    runtime.start(spec("train-tree", ["python", "-c", code]))
    grandchild = int(wait_for(lambda: runtime.logs("train-tree").strip(), what="grandchild pid"))
    runtime.stop("train-tree", timeout=5)
    wait_for(lambda: pid_gone(grandchild), timeout=5, what="the grandchild to end")


def test_leftovers_of_an_ended_command_are_killed(runtime: ProcessRuntime) -> None:
    code = "import subprocess; p = subprocess.Popen(['sleep', '120']); print(p.pid, flush=True)"
    runtime.start(spec("train-orphan", ["python", "-c", code]))
    ended = wait_ended(runtime, "train-orphan")
    assert (ended.state, ended.exit_code) == (ContainerState.EXITED, 0)
    grandchild = int(runtime.logs("train-orphan").strip())
    wait_for(lambda: pid_gone(grandchild), timeout=5, what="the leftover process to be killed")


def test_container_survives_its_starter_and_a_fresh_runtime_stops_it(
    runtime: ProcessRuntime, settings: Settings
) -> None:
    starter = (
        "from infra.runtime.base import ContainerKind, ContainerSpec\n"
        "from infra.runtime.process import ProcessRuntime\n"
        "cmd = ['python', '-c', 'import time; time.sleep(120)']\n"
        "status = ProcessRuntime().start(ContainerSpec('serve-7', ContainerKind.SERVE, cmd, port=31777))\n"
        "print(status.state)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", starter], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "running"

    fresh = ProcessRuntime(settings)
    seen = fresh.status(["serve-7"])["serve-7"]
    assert seen.state is ContainerState.RUNNING and seen.port == 31777
    state = read_state(fresh.state_path("serve-7"))
    assert state is not None
    assert psutil.Process(state["launcher_pid"]).ppid() != os.getpid()  # not our child: its starter is gone

    fresh.stop("serve-7")
    stopped = ProcessRuntime(settings).status(["serve-7"])["serve-7"]
    assert stopped.state is ContainerState.FAILED and "stopped" in stopped.detail
    assert pid_gone(state["pid"]) and pid_gone(state["launcher_pid"])


def test_vanished_launcher_is_reported_failed(runtime: ProcessRuntime) -> None:
    runtime.start(spec("train-gone", SLEEP))
    state = read_state(runtime.state_path("train-gone"))
    assert state is not None
    os.killpg(state["launcher_pid"], signal.SIGKILL)  # as if the machine had killed everything
    ended = wait_ended(runtime, "train-gone")
    assert ended.state is ContainerState.FAILED and ended.detail == VANISHED_DETAIL
    assert ended.exit_code is None


def test_pid_reuse_guard(runtime: ProcessRuntime) -> None:
    """A live pid with another create time is a different process: never RUNNING, never signalled."""
    stranger = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        real = psutil.Process(stranger.pid).create_time()
        path = runtime.state_path("serve-reused")
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "format": 1, "name": "serve-reused", "kind": "serve", "command": ["x"], "labels": {}, "port": None,
            "created_at": "2020-01-01T00:00:00+00:00", "started_at": "2020-01-01T00:00:00+00:00",
            "pid": stranger.pid, "create_time": real - 1000, "launcher_pid": stranger.pid,
            "launcher_create_time": real - 1000,
        }  # fmt: skip
        write_state(path, record)
        seen = runtime.status(["serve-reused"])["serve-reused"]
        assert seen.state is ContainerState.FAILED and seen.detail == VANISHED_DETAIL
        runtime.stop("serve-reused", timeout=0.5)
        assert stranger.poll() is None, "stop signalled a process that is not the container"

        # The same record with the true create time is recognised: the guard is what made the difference.
        write_state(path, {**record, "create_time": real, "launcher_create_time": real})
        assert runtime.status(["serve-reused"])["serve-reused"].state is ContainerState.RUNNING
    finally:
        stranger.kill()
        stranger.wait()
    runtime.remove("serve-reused")


def test_concurrent_starts_of_one_name_have_one_winner(runtime: ProcessRuntime) -> None:
    barrier = threading.Barrier(20)
    results: list[ContainerStatus | BaseException] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            outcome: ContainerStatus | BaseException = runtime.start(spec("train-race", SLEEP))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [r for r in results if isinstance(r, ContainerStatus)]
    losers = [r for r in results if isinstance(r, ContainerExistsError)]
    assert len(results) == 20
    assert len(winners) == 1 and len(losers) == 19, results
    assert winners[0].state is ContainerState.RUNNING
    launchers = [p for p in psutil.Process().children() if "infra.runtime.launcher" in " ".join(p.cmdline())]
    assert len(launchers) == 1
    runtime.remove("train-race", force=True)


def test_http_server_container_is_reachable_at_its_port(runtime: ProcessRuntime, settings: Settings) -> None:
    port = allocate_port(settings)
    name = "serve-http"
    runtime.start(
        spec(
            name,
            ["python", "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            kind=ContainerKind.SERVE,
            port=port,
        )
    )
    (runtime.work_dir(name) / "hello.txt").write_text("hello from the container")

    def fetch() -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=2) as response:
                return response.read().decode()
        except OSError:
            return None

    assert wait_for(fetch, what="the HTTP server") == "hello from the container"
    assert runtime.status([name])[name].port == port
    assert runtime.inference_url(name, None) == f"http://127.0.0.1:{port}/predict"
    assert runtime.inference_url(name, 9) == "http://127.0.0.1:9/predict"
    runtime.stop(name)
    assert fetch() is None


def _free_port_pair() -> int:
    for _ in range(200):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            lo = a.getsockname()[1]
            if lo >= 65535:
                continue
            try:
                b.bind(("127.0.0.1", lo + 1))
            except OSError:
                continue
            return lo
    raise AssertionError("no two consecutive free ports")


def test_allocate_port_skips_ports_held_by_live_containers(
    runtime: ProcessRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    lo = _free_port_pair()
    monkeypatch.setenv("MLOPS_RUNTIME_SERVING_PORT_RANGE", f"{lo}-{lo + 1}")
    reset_settings()
    settings = get_settings()
    assert {allocate_port(settings) for _ in range(30)} == {lo, lo + 1}

    runtime.start(spec("serve-holder", SLEEP, kind=ContainerKind.SERVE, port=lo))  # recorded, not bound
    assert {allocate_port(settings) for _ in range(30)} == {lo + 1}
    with pytest.raises(RuntimeError_):
        allocate_port(settings, exclude=[lo + 1])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", lo + 1))
        busy.listen()
        with pytest.raises(RuntimeError_):
            allocate_port(settings)

    runtime.stop("serve-holder")  # an ended container no longer holds its port
    assert allocate_port(settings, exclude=[lo + 1]) == lo
