"""The watchdog's decision (``flows.watch_rules``), pure: a table of observed rounds and the action each must give,
plus properties checked over every combination of container state, run status and MLflow errors. No servers."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from catalog.models import JobStatus
from flows.watch_rules import Action, Finish, Leave, Round, Rules, Wait, decide, first_action
from infra.runtime.base import ContainerState, ContainerStatus

RULES = Rules(poll_seconds=30, poll_max=10, error_threshold=3, slow_poll_seconds=300)
NAME = "train-1"
RUNNING = ContainerStatus(NAME, ContainerState.RUNNING)
PENDING = ContainerStatus(NAME, ContainerState.PENDING, detail="launching")
UNKNOWN = ContainerStatus(NAME, ContainerState.UNKNOWN, detail="runtime unreachable")
EXITED = ContainerStatus(NAME, ContainerState.EXITED, exit_code=0)
FAILED_1 = ContainerStatus(NAME, ContainerState.FAILED, exit_code=1, detail="exited with code 1")
KILLED_137 = ContainerStatus(NAME, ContainerState.FAILED, exit_code=137, detail="killed by SIGKILL")
GONE = ContainerStatus(NAME, ContainerState.NOT_FOUND)
DOCKER_KILLED = ContainerStatus(
    NAME, ContainerState.FAILED, exit_code=137, detail="exit code 137 (killed by SIGKILL)"
)
OOM = ContainerStatus(NAME, ContainerState.FAILED, exit_code=137, detail="killed: out of memory (OOMKilled)")
DOCKER_FAILED_1 = ContainerStatus(
    NAME, ContainerState.FAILED, exit_code=1, detail="exit code 1: no such file"
)
FAILED_TO_LAUNCH = ContainerStatus(NAME, ContainerState.FAILED, detail="never started")
DEADLINE = "watchdog deadline reached (10 polls, 300 s since the start); container stopped"


def seen(
    *,
    job: JobStatus | None = JobStatus.RUNNING,
    container: ContainerStatus = RUNNING,
    run: str | None = "RUNNING",
    errors: int = 0,
    polls: int = 1,
    remaining: float = 200,
) -> Round:
    return Round(
        job_status=job,
        container=container,
        run_status=run,
        mlflow_errors=errors,
        polls=polls,
        remaining_seconds=remaining,
    )


def failed(reason: str, **kwargs: Any) -> Finish:
    return Finish(JobStatus.FAILED, reason, with_logs=True, **kwargs)


TABLE: list[tuple[str, Round, Action]] = [
    # Not this watch's job any more.
    ("stopped by a user", seen(job=JobStatus.STOPPED, container=GONE), Leave(JobStatus.STOPPED)),
    ("ended by another watcher", seen(job=JobStatus.COMPLETED), Leave(JobStatus.COMPLETED)),
    ("row deleted", seen(job=None), Leave(None)),
    (
        "stopped, even past the deadline",
        seen(job=JobStatus.STOPPED, polls=10, remaining=0),
        Leave(JobStatus.STOPPED),
    ),
    # The run finished: completed, however the container looks.
    ("run finished, container exited", seen(run="FINISHED", container=EXITED), Finish(JobStatus.COMPLETED)),
    ("run finished, container still exiting", seen(run="FINISHED"), Finish(JobStatus.COMPLETED)),
    (
        "run finished, container killed after",
        seen(run="FINISHED", container=KILLED_137),
        Finish(JobStatus.COMPLETED),
    ),
    (
        "run finished on the last poll",
        seen(run="FINISHED", polls=10, remaining=0),
        Finish(JobStatus.COMPLETED),
    ),
    # The run failed or was killed: failed, with the container's end when known.
    (
        "run failed, container exited 1",
        seen(run="FAILED", container=FAILED_1),
        failed("MLflow run FAILED; container failed with exit code 1"),
    ),
    (
        "run failed, Docker's detail",
        seen(run="FAILED", container=DOCKER_FAILED_1),
        failed("MLflow run FAILED; container failed with exit code 1: no such file"),
    ),
    (
        "run failed, container still exiting",
        seen(run="FAILED"),
        failed("MLflow run FAILED", stop_container=True),
    ),
    (
        "run killed from the MLflow UI",
        seen(run="KILLED", container=RUNNING),
        failed("MLflow run KILLED", stop_container=True),
    ),
    (
        "run killed, container gone",
        seen(run="KILLED", container=GONE),
        failed("MLflow run KILLED; container not_found"),
    ),
    # The container ended while the run says RUNNING.
    (
        "killed from outside",
        seen(container=KILLED_137),
        failed(
            "container failed with exit code 137: killed by SIGKILL before the MLflow run ended",
            end_run="FAILED",
        ),
    ),
    (
        "killed, as Docker says it",
        seen(container=DOCKER_KILLED),
        failed(
            "container failed with exit code 137 (killed by SIGKILL) before the MLflow run ended",
            end_run="FAILED",
        ),
    ),
    (
        "killed for its memory",
        seen(container=OOM),
        failed(
            "container failed with exit code 137: killed: out of memory (OOMKilled) before the MLflow run ended",
            end_run="FAILED",
        ),
    ),
    (
        "exited 0 without ending its run",
        seen(container=EXITED),
        failed("container exited with exit code 0 before the MLflow run ended", end_run="FAILED"),
    ),
    (
        "vanished",
        seen(container=GONE),
        failed("container not_found before the MLflow run ended", end_run="FAILED"),
    ),
    (
        "never launched",
        seen(container=FAILED_TO_LAUNCH, run="SCHEDULED"),
        failed("container failed: never started before the MLflow run ended", end_run="FAILED"),
    ),
    # Still training: wait, waking on the container's exit.
    ("training", seen(), Wait(30, wake_on_exit=True)),
    ("launching", seen(container=PENDING), Wait(30, wake_on_exit=True)),
    ("runtime unreachable", seen(container=UNKNOWN), Wait(30, wake_on_exit=True)),
    ("close to the deadline", seen(remaining=5), Wait(5, wake_on_exit=True)),
    # MLflow unreachable: never fail or stop for that alone.
    ("MLflow down once", seen(run=None, errors=1), Wait(30, wake_on_exit=True)),
    (
        "MLflow down as the container exits",
        seen(run=None, errors=1, container=EXITED),
        Wait(30, wake_on_exit=False),
    ),
    (
        "MLflow down long, container training",
        seen(run=None, errors=3, remaining=900),
        Wait(300, wake_on_exit=True),
    ),
    (
        "MLflow down long, runtime unknown",
        seen(run=None, errors=5, container=UNKNOWN, remaining=900),
        Wait(300, wake_on_exit=True),
    ),
    (
        "MLflow down long, near the deadline",
        seen(run=None, errors=3, remaining=50),
        Wait(50, wake_on_exit=True),
    ),
    (
        "MLflow down long, container killed",
        seen(run=None, errors=3, container=KILLED_137),
        failed("MLflow unreachable for 3 polls and the container is failed (exit code 137)"),
    ),
    (
        "MLflow down long, container exited",
        seen(run=None, errors=4, container=EXITED),
        failed("MLflow unreachable for 4 polls and the container is exited (exit code 0)"),
    ),
    (
        "MLflow down long, container gone",
        seen(run=None, errors=3, container=GONE),
        failed("MLflow unreachable for 3 polls and the container is not_found"),
    ),
    # The deadline.
    ("out of polls", seen(polls=10), failed(DEADLINE, stop_container=True, end_run="KILLED")),
    (
        "out of time",
        seen(polls=4, remaining=0),
        failed(DEADLINE.replace("10 polls", "4 polls"), stop_container=True, end_run="KILLED"),
    ),
    (
        "out of time while MLflow is down",
        seen(run=None, errors=1, polls=10),
        failed(DEADLINE, stop_container=True, end_run="KILLED"),
    ),
]


@pytest.mark.parametrize(("now", "expected"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_decide(now: Round, expected: Action) -> None:
    assert decide(now, RULES) == expected


@pytest.mark.parametrize(
    ("remaining", "expected"),
    [
        (200, Wait(30)),
        (12, Wait(12)),
        (0, failed(DEADLINE.replace("10 polls", "0 polls"), stop_container=True, end_run="KILLED")),
        (-5, failed(DEADLINE.replace("10 polls", "0 polls"), stop_container=True, end_run="KILLED")),
    ],
)
def test_first_action(remaining: float, expected: Action) -> None:
    assert first_action(remaining, RULES) == expected


CONTAINERS = [
    RUNNING,
    PENDING,
    UNKNOWN,
    EXITED,
    FAILED_1,
    KILLED_137,
    GONE,
    DOCKER_KILLED,
    OOM,
    FAILED_TO_LAUNCH,
]
RUNS = [None, "RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]


# MLflow errors count only rounds in which MLflow could not be read.
ROUNDS = [
    (c, r, e) for c, r in itertools.product(CONTAINERS, RUNS) for e in ([1, 3, 7] if r is None else [0])
]


@pytest.mark.parametrize(("container", "run", "errors"), ROUNDS)
def test_properties_of_every_round(container: ContainerStatus, run: str | None, errors: int) -> None:
    action = decide(seen(container=container, run=run, errors=errors), RULES)
    # An ended container never makes the next wait wake on its exit: that would spin.
    if isinstance(action, Wait):
        assert not (action.wake_on_exit and container.has_ended)
        assert action.seconds > 0
        # Waiting on a container that ended is only right while MLflow cannot say how the run ended.
        assert run is None or not container.has_ended
    # MLflow being unreachable never stops a container, nor ends a job whose container still runs.
    if run is None:
        assert not (isinstance(action, Finish) and (action.stop_container or not container.has_ended))
    # Completed only on the run's own word.
    if isinstance(action, Finish) and action.status is JobStatus.COMPLETED:
        assert run == "FINISHED"
    # Every failure says why and keeps the log tail.
    if isinstance(action, Finish) and action.status is JobStatus.FAILED:
        assert action.reason and action.with_logs
