"""Container runtime settings: which backend runs training and inference containers, and how."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from infra.settings.base import GroupSettings


class RuntimeSettings(GroupSettings):
    """``MLOPS_RUNTIME_*``: the container runtime (process, docker or kubernetes)."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_RUNTIME_", extra="ignore")

    name: str = Field(
        default="process", description="Runtime backend: process, docker or kubernetes (MLOPS_RUNTIME_NAME)."
    )
    image: str = Field(
        default="mlops-lite/runtime:latest", description="Image of training and inference containers."
    )
    serving_host: str = Field(
        default="127.0.0.1",
        description="Host the process runtime's inference servers bind to and are reached at.",
    )
    serving_port_range: str = Field(
        default="31000-31999",
        description="Ports handed to inference servers when a serving names none (lo-hi).",
    )
    keep_workloads: bool = Field(
        default=False,
        description="Leave the process runtime's training and serving processes running when the platform "
        "stops (the next `mlops up` finds them again); by default they stop with it.",
    )
    docker_host: str | None = Field(
        default=None, description="Docker engine address (unix:// or tcp://); default from env."
    )
    docker_network: str = Field(
        default="host",
        description="Docker network of the platform's containers: host, none, or a user network's name "
        "(on a user network servings listen on 3000 and are reached by container name).",
    )
    docker_mounts: str = Field(
        default="",
        description="Bind mounts added to every Docker container, comma-separated host:container[:ro|rw] "
        "(e.g. the project and its venv, to run the platform's code in a minimal image).",
    )
    docker_python: str = Field(
        default="python",
        description="Interpreter that replaces a leading 'python' in Docker container commands "
        "(e.g. a mounted venv's bin/python when the image has only python3).",
    )
    cpu_limit: float | None = Field(
        default=None, gt=0, description="CPU limit per container (cores); none = unlimited."
    )
    memory_limit_mb: int | None = Field(default=None, gt=0, description="Memory limit per container in MiB.")
    default_cpus: float = Field(
        default=1.0,
        gt=0,
        description="CPUs a container is given and counted for when its team (or an ancestor) has a CPU quota "
        "and neither the job or serving nor MLOPS_RUNTIME_CPU_LIMIT names a limit (catalog.services.quotas).",
    )
    default_memory_mb: int = Field(
        default=2048,
        gt=0,
        description="Memory (MiB) a container is given and counted for when its team (or an ancestor) has a "
        "memory quota and neither the job or serving nor MLOPS_RUNTIME_MEMORY_LIMIT_MB names a limit.",
    )
    kube_namespace: str = Field(default="mlops", description="Kubernetes namespace of jobs and deployments.")
    kube_active_deadline_seconds: int = Field(
        default=4 * 3600, gt=0, description="activeDeadlineSeconds of Kubernetes training Jobs."
    )
    kube_context: str | None = Field(
        default=None,
        description="kubeconfig context of the Kubernetes runtime; none = in-cluster config, else the current context.",
    )
    kube_service_account: str | None = Field(
        default=None,
        description="Service account of training and inference pods; none = the namespace default.",
    )
    stop_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Grace period between SIGTERM and SIGKILL."
    )
    exit_check_seconds: float = Field(
        default=0.5,
        gt=0,
        description="While waiting for a container to end (the training watchdog), how often its state is read "
        "again besides the engine's own exit event: the process runtime between pidfd wake-ups (and instead of "
        "them where the kernel has no pidfd), Docker when its wait call returns early. Bounds how late an end "
        "is noticed when the event is missed.",
    )

    @property
    def port_range(self) -> tuple[int, int]:
        lo, hi = (int(p) for p in self.serving_port_range.split("-", 1))
        return lo, hi
