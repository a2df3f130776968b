"""The container runtime interface every backend implements (process, docker, kubernetes).

A "container" is a named unit of work running the platform image's command: a training run that exits, or
an inference server that listens on a port. Names are derived from the resource they run for
(``train-<job id>``, ``serve-<serving id>``), so a runtime can be asked about them after a restart.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import ClassVar


class ContainerKind(StrEnum):
    TRAIN = "train"
    SERVE = "serve"


class ContainerState(StrEnum):
    """Observed state of a container, the same set for every backend."""

    PENDING = "pending"  # accepted, not running yet (image pull, scheduling)
    RUNNING = "running"
    EXITED = "exited"  # ended with exit code 0
    FAILED = "failed"  # ended with a non-zero exit code, or was killed
    NOT_FOUND = "not_found"  # no container of that name exists
    UNKNOWN = "unknown"  # the runtime answered but the state could not be mapped


ENDED_STATES = frozenset({ContainerState.EXITED, ContainerState.FAILED, ContainerState.NOT_FOUND})


class RuntimeError_(Exception):
    """The runtime could not be reached or refused the call. ``transient`` errors may be retried."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class ContainerExistsError(RuntimeError_):
    """A container of that name already exists (``start`` never replaces one silently)."""


# Where the Docker and Kubernetes runtimes put a container's ``inputs`` (the process runtime: ``<work dir>/input``).
INPUT_DIR = "/mlops/input"
INPUT_DIR_ENV = "MLOPS_INPUT_DIR"


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file a runtime puts into the container before its command starts: fetched from ``url`` (an HTTP(S) GET,
    e.g. a presigned object URL: a credential, never logged nor shown to the container), checked against
    ``size`` and ``sha256``, placed as ``<input dir>/<name>`` (read-only). The container finds the directory in
    ``MLOPS_INPUT_DIR`` and, when ``env_var`` is set, the file's path in that variable."""

    name: str
    url: str
    size: int
    sha256: str
    env_var: str | None = None

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name in (".", ".."):
            raise ValueError(f"invalid input file name {self.name!r}")


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """What to run. ``command`` is argv inside the image; a leading ``python`` means the image's Python —
    the platform image's interpreter (``MLOPS_RUNTIME_DOCKER_PYTHON``) unless ``user_code``: the command and
    image are then a user's (a custom training job), run as given."""

    name: str
    kind: ContainerKind
    command: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None  # the port an inference server listens on
    image: str | None = None  # None: the runtime settings' image
    cpu_limit: float | None = None
    memory_limit_mb: int | None = None
    inputs: Sequence[InputFile] = ()
    user_code: bool = False

    def input_env(self, input_dir: str) -> dict[str, str]:
        """The variables naming ``input_dir`` and each input's path in it (none without inputs)."""
        if not self.inputs:
            return {}
        env = {INPUT_DIR_ENV: input_dir}
        env.update({f.env_var: f"{input_dir}/{f.name}" for f in self.inputs if f.env_var})
        return env


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    name: str
    state: ContainerState
    exit_code: int | None = None
    port: int | None = None
    detail: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_alive(self) -> bool:
        return self.state in (ContainerState.PENDING, ContainerState.RUNNING)

    @property
    def has_ended(self) -> bool:
        """Ended for good: exited, failed, or gone. UNKNOWN is neither alive nor ended."""
        return self.state in ENDED_STATES


class ContainerRuntime(abc.ABC):
    """One backend. Implementations are registered by ``name`` in ``infra.runtime.registry``."""

    name: ClassVar[str]
    # How often ``wait_exit`` re-reads a container's state; the bundled backends take it from
    # ``MLOPS_RUNTIME_EXIT_CHECK_SECONDS``.
    exit_check_seconds: float = 1.0

    @abc.abstractmethod
    def start(self, spec: ContainerSpec) -> ContainerStatus:
        """Start a container; raises ``ContainerExistsError`` if one of that name exists."""

    @abc.abstractmethod
    def stop(self, name: str, *, timeout: float | None = None) -> None:
        """Stop (SIGTERM, then SIGKILL after ``timeout``) and keep the container for its logs. No-op if gone."""

    @abc.abstractmethod
    def remove(self, name: str, *, force: bool = False) -> None:
        """Delete the container (``force`` kills it first if running). No-op if it does not exist."""

    @abc.abstractmethod
    def status(self, names: Sequence[str]) -> dict[str, ContainerStatus]:
        """Status of many containers in one call; unknown names map to ``NOT_FOUND``."""

    @abc.abstractmethod
    def logs(self, name: str, *, tail: int | None = None) -> str:
        """The container's combined stdout/stderr (last ``tail`` lines); empty if it does not exist."""

    @abc.abstractmethod
    def list(self, *, labels: Mapping[str, str] | None = None) -> list[ContainerStatus]:
        """Every container of this platform, optionally filtered by labels."""

    def wait_exit(self, name: str, *, timeout: float) -> ContainerStatus | None:
        """Block until ``name`` has ended (``has_ended``) or ``timeout`` seconds pass.

        Returns the container's status once it has ended, None if it has not at the timeout. Raises
        ``RuntimeError_`` when the runtime cannot be asked. Backends override this with their engine's own
        exit event (process: pidfd, Docker: its wait API, Kubernetes: a watch); this default re-reads
        ``status`` every ``exit_check_seconds``.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            current = self.status([name])[name]
            if current.has_ended:
                return current
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(self.exit_check_seconds, remaining))

    @abc.abstractmethod
    def inference_url(self, name: str, port: int | None) -> str:
        """URL of the /predict endpoint of a serving container, built at request time, never stored."""

    def host_port_url(self, name: str, port: int | None, host: str) -> str:
        """``http://host:port/predict`` for runtimes whose servers listen on a host port."""
        if port is None:
            port = self.status([name])[name].port
        if port is None:
            raise RuntimeError_(f"container {name!r} has no port to reach it at")
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/predict"
