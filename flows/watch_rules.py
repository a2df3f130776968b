"""The training watchdog's decision, pure: what one round observed in → what the watchdog does next out.

``flows.watchdog`` is the loop around it: it waits as the last action says, gathers a ``Round`` (the catalog
row's status, the container's status, the MLflow run's status, the time left) and applies the action ``decide``
returns. Here are only the rules, so each one is tested without servers (``tests/flows/test_watch_rules.py``):

1. The job is no longer RUNNING (stopped by a user, ended by another watcher): leave it as it is.
2. The MLflow run is FINISHED: completed (the training script ends its run only once its model is registered).
3. The run is FAILED or KILLED: failed, with the container's end if it has ended; a run KILLED from outside
   (the MLflow UI) leaves its container training, so a live container is stopped.
4. MLflow unreachable ``error_threshold`` times in a row and the container has ended: failed with the reason.
   Never stop a container because MLflow is unreachable.
5. The run still RUNNING while the container has ended: failed with its exit code (the container status is
   read before the run, so a run that finished just before its container exited is never taken for this).
6. ``poll_max`` rounds, or the deadline (``poll_seconds * poll_max`` after the job started, however the watch
   was interrupted) passed: failed, container stopped, run KILLED.
7. Otherwise wait ``poll_seconds`` (``slow_poll_seconds`` while MLflow is unreachable past the threshold), and
   wake at once if the container ends meanwhile — unless it already has (nothing left to wake on).

A custom job (the user's command: it may end its run whenever it likes, or never) is judged by its container
instead (``CUSTOM_RULES``): 1; a run KILLED from outside stops a live container (failed); a container that
ended with a non-zero code (or vanished) fails the job with it; one that exited 0 completes it if a version of
the job's model was registered by the job's run, else fails it saying so (and while MLflow cannot be asked,
waits, up to ``error_threshold`` rounds); 6; 7.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from catalog.models import JobKind, JobStatus
from infra.runtime.base import ContainerState, ContainerStatus
from infra.settings.training import TrainingSettings

RUN_FINISHED = "FINISHED"
RUN_ENDED_BADLY = frozenset({"FAILED", "KILLED"})


@dataclass(frozen=True, slots=True)
class Rules:
    poll_seconds: float
    poll_max: int
    error_threshold: int
    slow_poll_seconds: float

    @classmethod
    def from_settings(cls, cfg: TrainingSettings) -> Rules:
        return cls(
            poll_seconds=cfg.poll_seconds,
            poll_max=cfg.poll_max,
            error_threshold=cfg.error_threshold,
            slow_poll_seconds=cfg.slow_poll_seconds,
        )

    @property
    def budget_seconds(self) -> float:
        """How long after the job's start the watchdog gives up."""
        return self.poll_seconds * self.poll_max


@dataclass(frozen=True, slots=True)
class Round:
    """What one round of the watch observed, in the order it is read."""

    job_status: JobStatus | None  # the catalog row's status; None when the row is gone
    container: ContainerStatus
    run_status: str | None  # the MLflow run's status; None when MLflow could not be read this round
    mlflow_errors: int  # consecutive rounds MLflow could not be read, this one included
    polls: int  # rounds so far, this one included
    remaining_seconds: float  # until the deadline
    kind: str = JobKind.PRESET
    model_name: str | None = None
    # Custom jobs, once their container exited 0: versions of model_name registered by the job's run (read after
    # the container); None when not read, or MLflow did not answer.
    model_versions: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """Keep watching: wait ``seconds``, waking early when the container ends if ``wake_on_exit``."""

    seconds: float
    wake_on_exit: bool = True


@dataclass(frozen=True, slots=True)
class Leave:
    """The job is not this watch's any more: report its status and touch nothing."""

    status: JobStatus | None


@dataclass(frozen=True, slots=True)
class Finish:
    """End the job: read the log tail, stop the container, record the status, end the MLflow run, as asked."""

    status: JobStatus
    reason: str | None = None
    with_logs: bool = False
    stop_container: bool = False
    end_run: str | None = None  # the status to end the MLflow run with, when it did not end itself


Action = Wait | Leave | Finish
Rule = Callable[[Round, Rules], Leave | Finish | None]


def _beyond_exit_code(container: ContainerStatus) -> str:
    """The container's detail less a restatement of its exit code ("exited with code 1", Docker's "exit code 1")."""
    detail, code = container.detail, container.exit_code
    if code is not None:
        for restated in (f"exit code {code}", f"exited with code {code}"):
            if detail.startswith(restated):
                return detail[len(restated) :].lstrip(":").strip()
    return detail


def _ended(container: ContainerStatus, *, verb: bool = True) -> str:
    """``container failed with exit code 137: killed by SIGKILL`` (the state, exit code and detail known)."""
    text = f"container {container.state.value}" if verb else f"the container is {container.state.value}"
    if container.exit_code is not None:
        text += f" with exit code {container.exit_code}" if verb else f" (exit code {container.exit_code})"
    detail = _beyond_exit_code(container) if verb else ""
    if detail:
        text += f" {detail}" if detail.startswith("(") else f": {detail}"
    return text


def not_ours(now: Round, rules: Rules) -> Leave | None:
    return Leave(now.job_status) if now.job_status != JobStatus.RUNNING else None


def run_finished(now: Round, rules: Rules) -> Finish | None:
    return Finish(JobStatus.COMPLETED) if now.run_status == RUN_FINISHED else None


def run_ended_badly(now: Round, rules: Rules) -> Finish | None:
    if now.run_status not in RUN_ENDED_BADLY:
        return None
    reason = f"MLflow run {now.run_status}"
    if now.container.has_ended:
        reason += f"; {_ended(now.container)}"
    return Finish(JobStatus.FAILED, reason, with_logs=True, stop_container=now.container.is_alive)


def mlflow_gone_and_container_ended(now: Round, rules: Rules) -> Finish | None:
    if now.run_status is not None or now.mlflow_errors < rules.error_threshold or not now.container.has_ended:
        return None
    reason = f"MLflow unreachable for {now.mlflow_errors} polls and {_ended(now.container, verb=False)}"
    return Finish(JobStatus.FAILED, reason, with_logs=True)


def container_ended_first(now: Round, rules: Rules) -> Finish | None:
    if now.run_status is None or not now.container.has_ended:
        return None
    return Finish(
        JobStatus.FAILED,
        f"{_ended(now.container)} before the MLflow run ended",
        with_logs=True,
        end_run="FAILED",
    )


def _give_up(polls: int, rules: Rules) -> Finish:
    return Finish(
        JobStatus.FAILED,
        f"watchdog deadline reached ({polls} polls, {rules.budget_seconds:.0f} s since "
        "the start); container stopped",
        with_logs=True,
        stop_container=True,
        end_run="KILLED",
    )


def deadline(now: Round, rules: Rules) -> Finish | None:
    return _give_up(now.polls, rules) if now.polls >= rules.poll_max or now.remaining_seconds <= 0 else None


def run_killed_while_running(now: Round, rules: Rules) -> Finish | None:
    if now.run_status != "KILLED" or not now.container.is_alive:
        return None
    return Finish(JobStatus.FAILED, "MLflow run KILLED", with_logs=True, stop_container=True)


def command_ended(now: Round, rules: Rules) -> Finish | None:
    """A custom job's command has ended: its exit code, then the registered model, decide."""
    if not now.container.has_ended:
        return None
    if now.container.state != ContainerState.EXITED:
        return Finish(JobStatus.FAILED, _ended(now.container), with_logs=True, end_run="FAILED")
    if now.model_versions:
        return Finish(JobStatus.COMPLETED, end_run="FINISHED")
    if now.model_versions is not None:
        model = f"model {now.model_name!r}" if now.model_name else "the job's model"
        return Finish(
            JobStatus.FAILED,
            f"the command exited with code 0 but registered no version of {model} from the job's MLflow run: "
            "log a pyfunc model into the run $MLFLOW_RUN_ID and register it as $MLOPS_MODEL_NAME (e.g. "
            "mlflow.pyfunc.log_model(..., registered_model_name=os.environ['MLOPS_MODEL_NAME']))",
            with_logs=True,
            end_run="FAILED",
        )
    if now.mlflow_errors >= rules.error_threshold:
        return Finish(
            JobStatus.FAILED,
            f"the command exited with code 0, but MLflow was unreachable for {now.mlflow_errors} polls: "
            "whether it registered a model is unknown",
            with_logs=True,
        )
    return None  # MLflow did not answer this time: ask again next round


# In order: the first rule with an answer decides.
RULES: tuple[Rule, ...] = (
    not_ours,
    run_finished,
    run_ended_badly,
    mlflow_gone_and_container_ended,
    container_ended_first,
    deadline,
)
CUSTOM_RULES: tuple[Rule, ...] = (not_ours, run_killed_while_running, command_ended, deadline)


def next_wait(now: Round, rules: Rules) -> Wait:
    interval = rules.slow_poll_seconds if now.mlflow_errors >= rules.error_threshold else rules.poll_seconds
    return Wait(min(interval, now.remaining_seconds), wake_on_exit=not now.container.has_ended)


def decide(now: Round, rules: Rules) -> Action:
    for rule in CUSTOM_RULES if now.kind == JobKind.CUSTOM else RULES:
        action = rule(now, rules)
        if action is not None:
            return action
    return next_wait(now, rules)


def first_action(remaining_seconds: float, rules: Rules) -> Wait | Finish:
    """Before the first round: wait for it, or give up at once when the deadline passed while nothing watched."""
    if remaining_seconds <= 0:
        return _give_up(0, rules)
    return Wait(min(rules.poll_seconds, remaining_seconds))
