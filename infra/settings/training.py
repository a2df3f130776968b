"""Training settings: how often and how long a running job is watched, and where pretrained weights live."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from infra.settings.base import GroupSettings, default_data_dir


class TrainingSettings(GroupSettings):
    """``MLOPS_TRAIN_*``: watchdog polling, pretrained weights, the promotion gate's evaluation deadline."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_TRAIN_", extra="ignore")

    poll_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Interval between the watchdog's MLflow status polls. A run's end is noticed at once when its "
        "container exits; the poll is the safety net (MLflow down, a runtime that cannot be waited on).",
    )
    poll_max: int = Field(
        default=360, ge=1, description="Most polls before the watchdog gives up (its deadline)."
    )
    error_threshold: int = Field(
        default=10, ge=1, description="Consecutive MLflow errors after which the container itself is checked."
    )
    slow_poll_seconds: float = Field(
        default=300.0, gt=0, description="Interval while MLflow is unreachable but the container still runs."
    )
    watch_stale_seconds: float = Field(
        default=180.0,
        gt=0,
        description="A running job whose watchdog has not reported for this long (and 3 polls) is watched anew by "
        "the scheduled reconcile-training (its watcher died with a runner or a Prefect outage).",
    )
    custom_jobs: bool = Field(
        default=True,
        description="Allow custom jobs (the user's own image and command). Their code runs as an MLflow account "
        "of its own (its job's experiment and model only), but on the process runtime as the platform's OS user, "
        "on its host: turn them off where the platform's users are not trusted that far.",
    )
    custom_jobs_on_process: bool = Field(
        default=False,
        description="Also allow custom jobs on the process runtime (MLOPS_RUNTIME_NAME=process), where their code "
        "runs as the platform's OS user and can read its data directory and secrets: only where every user "
        "who may create a job is trusted as the platform's operator. Docker and Kubernetes isolate them.",
    )
    log_tail_lines: int = Field(default=50, ge=1, description="Container log lines kept on a failed job.")
    eval_timeout_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="How long the promotion gate's evaluation container may run before the evaluation fails "
        "(its container is then stopped).",
    )
    weights_dir: Path = Field(
        default_factory=lambda: default_data_dir() / "weights",
        description="Directory of the pretrained weights (.pt files) YOLO jobs may start from; a job's 'weights' "
        "must name a file inside it (default <data dir>/weights). Training containers get it as "
        "MLOPS_TRAIN_WEIGHTS_DIR: Docker and Kubernetes runtimes must mount it at the same path.",
    )

    @field_validator("weights_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()
