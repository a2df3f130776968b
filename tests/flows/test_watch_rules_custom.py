"""The watchdog's rules for custom jobs (``flows.watch_rules.CUSTOM_RULES``), pure: the command's exit code decides,
then whether the job's run registered a version of its model; the MLflow run's own status does not (the user's
code ends it when it likes). A table of rounds and the action each must give, and properties over every
combination. No servers."""

from __future__ import annotations

import itertools

import pytest

from catalog.models import JobKind, JobStatus
from flows.watch_rules import Action, Finish, Leave, Round, Wait, decide
from infra.runtime.base import ContainerStatus
from tests.flows.test_watch_rules import (
    CONTAINERS,
    DEADLINE,
    EXITED,
    FAILED_1,
    GONE,
    KILLED_137,
    OOM,
    PENDING,
    RULES,
    RUNNING,
    RUNS,
    failed,
)

NO_MODEL = (
    "the command exited with code 0 but registered no version of model 'm-job1' from the job's MLflow run: "
    "log a pyfunc model into the run $MLFLOW_RUN_ID and register it as $MLOPS_MODEL_NAME (e.g. "
    "mlflow.pyfunc.log_model(..., registered_model_name=os.environ['MLOPS_MODEL_NAME']))"
)


def seen(
    *,
    job: JobStatus | None = JobStatus.RUNNING,
    container: ContainerStatus = RUNNING,
    run: str | None = "RUNNING",
    errors: int = 0,
    polls: int = 1,
    remaining: float = 200,
    versions: tuple[str, ...] | None = None,
) -> Round:
    return Round(
        job_status=job,
        container=container,
        run_status=run,
        mlflow_errors=errors,
        polls=polls,
        remaining_seconds=remaining,
        kind=JobKind.CUSTOM,
        model_name="m-job1",
        model_versions=versions,
    )


TABLE: list[tuple[str, Round, Action]] = [
    ("stopped by a user", seen(job=JobStatus.STOPPED, container=GONE), Leave(JobStatus.STOPPED)),
    # Exit 0 and a model of the run: completed, the run ended FINISHED if the code left it running.
    (
        "exit 0, model registered",
        seen(container=EXITED, versions=("1",)),
        Finish(JobStatus.COMPLETED, end_run="FINISHED"),
    ),
    (
        "exit 0, model registered, run ended by the code",
        seen(container=EXITED, run="FINISHED", versions=("2", "3")),
        Finish(JobStatus.COMPLETED, end_run="FINISHED"),
    ),
    (
        "exit 0, the code marked its run FAILED: the exit code decides",
        seen(container=EXITED, run="FAILED", versions=("1",)),
        Finish(JobStatus.COMPLETED, end_run="FINISHED"),
    ),
    # Exit 0 and no model: failed, saying what was expected.
    ("exit 0, no model", seen(container=EXITED, versions=()), failed(NO_MODEL, end_run="FAILED")),
    (
        "exit 0, no model, run finished",
        seen(container=EXITED, run="FINISHED", versions=()),
        failed(NO_MODEL, end_run="FAILED"),
    ),
    # A non-zero exit: failed with the exit code, whatever the run or the registry say.
    ("exit 1", seen(container=FAILED_1), failed("container failed with exit code 1", end_run="FAILED")),
    (
        "exit 1 after a finished run",
        seen(container=FAILED_1, run="FINISHED"),
        failed("container failed with exit code 1", end_run="FAILED"),
    ),
    (
        "out of memory",
        seen(container=OOM),
        failed("container failed with exit code 137: killed: out of memory (OOMKilled)", end_run="FAILED"),
    ),
    ("vanished", seen(container=GONE), failed("container not_found", end_run="FAILED")),
    # The run finished (or failed) while the command still runs: its exit decides, so wait.
    ("run finished, command still running", seen(run="FINISHED"), Wait(30, wake_on_exit=True)),
    ("run failed, command still running", seen(run="FAILED"), Wait(30, wake_on_exit=True)),
    ("fetching the release", seen(container=PENDING), Wait(30, wake_on_exit=True)),
    # Killed from the MLflow UI while running: the container is stopped.
    ("run killed", seen(run="KILLED"), failed("MLflow run KILLED", stop_container=True)),
    (
        "run killed, container killed too",
        seen(run="KILLED", container=KILLED_137),
        failed("container failed with exit code 137: killed by SIGKILL", end_run="FAILED"),
    ),
    # MLflow unreachable when the model must be checked: ask again, give up at the threshold.
    ("exit 0, MLflow down once", seen(container=EXITED, run=None, errors=1), Wait(30, wake_on_exit=False)),
    (
        "exit 0, MLflow down long",
        seen(container=EXITED, run=None, errors=3),
        failed(
            "the command exited with code 0, but MLflow was unreachable for 3 polls: whether it registered a "
            "model is unknown"
        ),
    ),
    ("MLflow down, command running", seen(run=None, errors=5, remaining=900), Wait(300, wake_on_exit=True)),
    ("out of polls", seen(polls=10), failed(DEADLINE, stop_container=True, end_run="KILLED")),
]


@pytest.mark.parametrize(("now", "expected"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_decide_custom(now: Round, expected: Action) -> None:
    assert decide(now, RULES) == expected


VERSIONS: list[tuple[str, ...] | None] = [None, (), ("1",)]


@pytest.mark.parametrize(
    ("container", "run", "versions"), list(itertools.product(CONTAINERS, RUNS, VERSIONS))
)
def test_properties_of_every_custom_round(
    container: ContainerStatus, run: str | None, versions: tuple[str, ...] | None
) -> None:
    errors = 1 if run is None else 0
    action = decide(seen(container=container, run=run, errors=errors, versions=versions), RULES)
    # Completed only on an exit code 0 and a version of the model registered by the job's run.
    if isinstance(action, Finish) and action.status is JobStatus.COMPLETED:
        assert container == EXITED and versions
    # A command that ended with a non-zero code, or vanished, always fails the job at once.
    if container.has_ended and container != EXITED:
        assert isinstance(action, Finish) and action.status is JobStatus.FAILED
        assert action.reason is not None and action.reason.startswith("container")
    # A command still running is never judged by its run, but for a KILL from outside.
    if container.is_alive and run != "KILLED":
        assert isinstance(action, Wait) and action.wake_on_exit
    # Every failure says why and keeps the log tail.
    if isinstance(action, Finish) and action.status is JobStatus.FAILED:
        assert action.reason and action.with_logs
    if isinstance(action, Wait):
        assert not (action.wake_on_exit and container.has_ended)
