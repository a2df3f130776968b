"""The ``docker`` runtime: each container is a named Docker container on one engine (docker SDK).

Owns the translation of a ``ContainerSpec`` into a Docker container (name, labels, environment, network,
CPU/memory limits, bind mounts) and of Docker's states and errors back into the runtime interface.

Containers carry ``app=mlops-lite`` plus the spec's labels, and private ``mlops-lite.*`` labels (kind,
port) so that any later ``DockerRuntime`` — after a platform restart — can report on them. ``start`` never
pulls the platform image: a missing one is a non-transient error naming the image (build
``deployments/runtime.Dockerfile``). A user's image (``ContainerSpec.user_code``) is pulled when missing, and its
command runs as given. ``inputs`` are streamed into the created container before it starts (``put_archive``).

Reaching an inference server (``MLOPS_RUNTIME_DOCKER_NETWORK``):

- a user network (production, ``deployments/compose.yaml``): the platform runs on the same network, and
  Docker's embedded DNS resolves container names, so ``inference_url`` is ``http://{name}:3000/predict``.
  Every serving container listens on the same port, ``SERVING_PORT`` (3000) — each container
  has its own network namespace — and ``start`` refuses a serving spec with another port.
  ``host_url`` gives the container's address on that network, for a platform running on the host itself.
- ``host`` (the default; development and tests): containers share the host's network namespace, container
  names do not resolve, and the server listens on the spec's port on the host. Both ``inference_url`` and
  ``host_url`` are ``http://{serving_host}:{port}/predict``, as for the process runtime. The port is the
  platform's choice (its port allocator), since all servings share one port space.
- ``none``: nothing can reach the container; both URLs raise.

Status of many names is one ``containers.list`` call (sparse, by label); only containers that are not
running are inspected too, for their exit code, OOM flag and error. Running containers therefore report
no ``started_at`` in a batch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import Mount

from infra.runtime.base import (
    INPUT_DIR,
    ContainerExistsError,
    ContainerRuntime,
    ContainerSpec,
    ContainerState,
    ContainerStatus,
    RuntimeError_,
)
from infra.runtime.inputs import input_archive
from infra.runtime.states import Observed, docker_state
from infra.settings import Settings, get_settings

APP_LABEL = ("app", "mlops-lite")
KIND_LABEL = "mlops-lite.kind"
PORT_LABEL = "mlops-lite.port"
PRIVATE_PREFIX = "mlops-lite."
SERVING_PORT = 3000
DEFAULT_ENV = {"PYTHONUNBUFFERED": "1"}
# The SDK's default HTTP timeout (60 s) is far longer than a healthy local engine ever needs for a call;
# a hung engine should surface as a transient error the caller retries.
API_TIMEOUT_SECONDS = 30.0
_T = TypeVar("_T")


class _Conflict(RuntimeError_):
    """HTTP 409 from the engine: a name in use, a running container, a removal in progress."""


def parse_mounts(value: str) -> list[Mount]:
    """``host:container[:ro|rw]`` entries, comma-separated, as Docker bind mounts."""
    mounts = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) not in (2, 3) or not parts[0].startswith("/") or not parts[1].startswith("/"):
            raise ValueError(f"invalid docker mount {entry!r}: expected /host/path:/container/path[:ro|rw]")
        mode = parts[2] if len(parts) == 3 else "rw"
        if mode not in ("ro", "rw"):
            raise ValueError(f"invalid docker mount mode {mode!r} in {entry!r}: ro or rw")
        mounts.append(Mount(target=parts[1], source=parts[0], type="bind", read_only=mode == "ro"))
    return mounts


class DockerRuntime(ContainerRuntime):
    """Containers on the Docker engine at ``MLOPS_RUNTIME_DOCKER_HOST`` (default: ``DOCKER_HOST``/the socket)."""

    name: ClassVar[str] = "docker"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.network = self.settings.runtime.docker_network
        self.mounts = parse_mounts(self.settings.runtime.docker_mounts)
        self.exit_check_seconds = self.settings.runtime.exit_check_seconds
        self._client: docker.DockerClient | None = None

    # -- engine access -------------------------------------------------------------------------------------
    @property
    def engine(self) -> str:
        return self.settings.runtime.docker_host or "the default Docker engine (DOCKER_HOST)"

    def client(self) -> docker.DockerClient:
        """The SDK client, built on first use: building it already asks the engine for its API version."""
        if self._client is None:
            host = self.settings.runtime.docker_host
            try:
                if host:
                    self._client = docker.DockerClient(
                        base_url=host, version="auto", timeout=API_TIMEOUT_SECONDS
                    )
                else:
                    self._client = docker.from_env(version="auto", timeout=API_TIMEOUT_SECONDS)
            except DockerException as exc:
                raise RuntimeError_(
                    f"Docker engine at {self.engine} unreachable: {exc}", transient=True
                ) from exc
        return self._client

    def _call(self, what: str, fn: Callable[[], _T]) -> _T:
        """Run one SDK call; connection trouble and engine-side 5xx become transient ``RuntimeError_``."""
        try:
            return fn()
        except (requests.ConnectionError, requests.Timeout) as exc:
            self._client = None  # the engine may come back on another connection
            raise RuntimeError_(
                f"Docker engine at {self.engine} unreachable ({what}): {exc}", transient=True
            ) from exc
        except NotFound:
            raise
        except APIError as exc:
            if exc.status_code == 409:
                raise _Conflict(f"Docker refused {what}: {exc.explanation or exc}") from exc
            if exc.is_server_error():
                raise RuntimeError_(
                    f"Docker engine error ({what}): {exc.explanation or exc}", transient=True
                ) from exc
            raise RuntimeError_(f"Docker refused {what}: {exc.explanation or exc}") from exc
        except DockerException as exc:
            raise RuntimeError_(
                f"Docker engine at {self.engine} unreachable ({what}): {exc}", transient=True
            ) from exc

    # -- start ---------------------------------------------------------------------------------------------
    def _command(self, command: Sequence[str], *, user_code: bool = False) -> list[str]:
        argv = [str(part) for part in command]
        if not argv:
            raise ValueError("a container needs a command")
        if argv[0] == "python" and not user_code:
            argv[0] = self.settings.runtime.docker_python
        return argv

    def _network_options(self) -> dict[str, Any]:
        if self.network in ("host", "none", "bridge"):
            return {"network_mode": self.network}
        return {"network": self.network}

    def create_options(self, spec: ContainerSpec) -> dict[str, Any]:
        """The ``containers.create`` arguments for ``spec`` (public so tests can check them without an engine)."""
        if (
            spec.kind == "serve"
            and self.network not in ("host", "none")
            and spec.port not in (None, SERVING_PORT)
        ):
            raise ValueError(
                f"on Docker network {self.network!r} serving containers listen on {SERVING_PORT} "
                f"(reached as http://<name>:{SERVING_PORT}); got port {spec.port}"
            )
        labels = {
            **{str(k): str(v) for k, v in spec.labels.items()},
            APP_LABEL[0]: APP_LABEL[1],
            KIND_LABEL: str(spec.kind),
        }
        if spec.port is not None:
            labels[PORT_LABEL] = str(spec.port)
        options: dict[str, Any] = {
            "image": spec.image or self.settings.runtime.image,
            "command": self._command(spec.command, user_code=spec.user_code),
            "name": spec.name,
            "labels": labels,
            "environment": {
                **DEFAULT_ENV,
                **{str(k): str(v) for k, v in spec.env.items()},
                **spec.input_env(INPUT_DIR),
            },
            "detach": True,
            # Docker's init as PID 1: a Python PID 1 ignores SIGTERM, so every stop would wait for SIGKILL.
            "init": True,
            "mounts": list(self.mounts),
            **self._network_options(),
        }
        cpu = spec.cpu_limit if spec.cpu_limit is not None else self.settings.runtime.cpu_limit
        memory = (
            spec.memory_limit_mb
            if spec.memory_limit_mb is not None
            else self.settings.runtime.memory_limit_mb
        )
        if cpu is not None:
            options["nano_cpus"] = int(cpu * 1e9)
        if memory is not None:
            # Equal swap limit: a run over its memory is OOM-killed instead of crawling in swap.
            options["mem_limit"] = options["memswap_limit"] = f"{int(memory)}m"
        return options

    def _pull(self, image: str) -> None:
        """Pull a user's image (the platform's is built, never pulled); a failure is the user's to fix."""
        client = self.client()
        failed = f"image {image!r} is not on {self.engine} and could not be pulled"
        try:
            # A pull answers 200 and reports its failure in the progress stream.
            for event in client.api.pull(image, stream=True, decode=True):
                if isinstance(event, dict) and event.get("error"):
                    raise RuntimeError_(f"{failed}: {event['error']}")
        except (APIError, DockerException, requests.RequestException) as exc:
            raise RuntimeError_(f"{failed}: {getattr(exc, 'explanation', None) or exc}") from None

    def start(self, spec: ContainerSpec) -> ContainerStatus:
        options = self.create_options(spec)
        client = self.client()

        def create() -> Any:
            return self._call(f"creating {spec.name}", lambda: client.containers.create(**options))

        try:
            try:
                container = create()
            except ImageNotFound:
                if not spec.user_code:
                    raise
                self._pull(options["image"])
                container = create()
        except ImageNotFound as exc:
            fix = (
                "pull it"
                if spec.user_code
                else "build it (deployments/runtime.Dockerfile) or set MLOPS_RUNTIME_IMAGE"
            )
            raise RuntimeError_(f"image {options['image']!r} not found on {self.engine}: {fix}") from exc
        except _Conflict as exc:
            raise ContainerExistsError(f"container {spec.name!r} already exists (remove it first)") from exc
        except NotFound as exc:  # e.g. the user network does not exist
            raise RuntimeError_(f"cannot create {spec.name!r}: {exc.explanation or exc}") from exc
        try:
            if spec.inputs:
                archive = input_archive(spec.inputs)
                self._call(f"copying inputs into {spec.name}", lambda: container.put_archive("/", archive))
            self._call(f"starting {spec.name}", container.start)
        except (RuntimeError_, NotFound) as exc:
            # The name must not stay taken by a container that never ran, or a retry would conflict.
            try:
                container.remove(force=True)
            except (APIError, requests.RequestException):
                pass
            transient = isinstance(exc, RuntimeError_) and exc.transient
            raise RuntimeError_(
                f"container {spec.name!r} could not start: {exc}", transient=transient
            ) from exc
        return self._status_from_inspect(spec.name, self._inspect(spec.name))

    # -- status --------------------------------------------------------------------------------------------
    def _inspect(self, name: str) -> dict[str, Any] | None:
        client = self.client()
        try:
            return self._call(f"inspecting {name}", lambda: client.api.inspect_container(name))
        except NotFound:
            return None

    def _summaries(self, labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        wanted = [f"{APP_LABEL[0]}={APP_LABEL[1]}", *(f"{k}={v}" for k, v in (labels or {}).items())]
        client = self.client()
        return self._call(
            "listing containers", lambda: client.api.containers(all=True, filters={"label": wanted})
        )

    @staticmethod
    def _public_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
        return {k: v for k, v in (labels or {}).items() if not k.startswith(PRIVATE_PREFIX)}

    @staticmethod
    def _port(labels: Mapping[str, str] | None) -> int | None:
        value = (labels or {}).get(PORT_LABEL)
        return int(value) if value and value.isdigit() else None

    def _status_from_inspect(self, name: str, attrs: Mapping[str, Any] | None) -> ContainerStatus:
        if attrs is None:
            return ContainerStatus(name, ContainerState.NOT_FOUND)
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        observed = docker_state(attrs.get("State") or {})
        return self._status(name, observed, labels)

    def _status(self, name: str, observed: Observed, labels: Mapping[str, str]) -> ContainerStatus:
        return ContainerStatus(
            name=name,
            state=observed.state,
            exit_code=observed.exit_code,
            port=self._port(labels),
            detail=observed.detail,
            started_at=observed.started_at,
            finished_at=observed.finished_at,
            labels=self._public_labels(labels),
        )

    def _status_from_summary(self, summary: Mapping[str, Any]) -> ContainerStatus:
        name = str((summary.get("Names") or ["/?"])[0]).lstrip("/")
        labels = summary.get("Labels") or {}
        if summary.get("State") == "running":
            return self._status(name, docker_state({"Status": "running"}), labels)
        # Exit codes, the OOM flag and start errors are only in the full inspect.
        return self._status_from_inspect(name, self._inspect(name))

    def status(self, names: Sequence[str]) -> dict[str, ContainerStatus]:
        if not names:
            return {}
        found = {}
        for summary in self._summaries():
            for raw in summary.get("Names") or []:
                found[str(raw).lstrip("/")] = summary
        result = {}
        for name in names:
            summary = found.get(name)
            result[name] = (
                self._status_from_summary(summary)
                if summary
                else ContainerStatus(name, ContainerState.NOT_FOUND)
            )
        return result

    def list(self, *, labels: Mapping[str, str] | None = None) -> list[ContainerStatus]:
        statuses = [self._status_from_summary(summary) for summary in self._summaries(labels)]
        return sorted((s for s in statuses if s.state is not ContainerState.NOT_FOUND), key=lambda s: s.name)

    def wait_exit(self, name: str, *, timeout: float) -> ContainerStatus | None:
        """The engine's wait API (``POST /containers/{name}/wait?condition=not-running``): it answers the moment
        the container stops, whoever started it."""
        deadline = time.monotonic() + max(timeout, 0.0)
        answered = False
        while True:
            current = self.status([name])[name]
            remaining = deadline - time.monotonic()
            if current.has_ended or remaining <= 0:
                return current if current.has_ended else None
            if answered:  # "not-running" also answers at once for a container created but not started
                time.sleep(min(self.exit_check_seconds, remaining))
                answered = False
                continue
            client = self.client()
            try:
                # The HTTP timeout is the wait's: the engine holds the request open until the exit.
                client.api.wait(name, timeout=remaining, condition="not-running")
            except NotFound:
                continue  # removed meanwhile: the next status says NOT_FOUND
            except (requests.ConnectionError, requests.Timeout) as exc:
                # A read timeout at the end of the wait is the normal "still running"; anything earlier
                # is the engine going away.
                if deadline - time.monotonic() > self.exit_check_seconds:
                    self._client = None
                    raise RuntimeError_(
                        f"Docker engine at {self.engine} unreachable (waiting for {name}): {exc}",
                        transient=True,
                    ) from exc
                continue
            except (APIError, DockerException) as exc:
                raise RuntimeError_(f"Docker refused waiting for {name}: {exc}", transient=True) from exc
            answered = True

    # -- stop / remove / logs ------------------------------------------------------------------------------
    def stop(self, name: str, *, timeout: float | None = None) -> None:
        timeout = self.settings.runtime.stop_timeout_seconds if timeout is None else timeout
        client = self.client()
        try:
            # The API takes whole seconds; rounding up never cuts the grace period short.
            self._call(f"stopping {name}", lambda: client.api.stop(name, timeout=math.ceil(timeout)))
        except NotFound:
            return

    def remove(self, name: str, *, force: bool = False) -> None:
        client = self.client()
        try:
            self._call(f"removing {name}", lambda: client.api.remove_container(name, force=force))
        except NotFound:
            return
        except _Conflict as exc:
            if "already in progress" in str(exc):
                return  # someone else is removing it: the outcome we want
            raise RuntimeError_(f"container {name!r} is running; stop it first or pass force=True") from exc

    def logs(self, name: str, *, tail: int | None = None) -> str:
        client = self.client()
        try:
            data = self._call(
                f"reading logs of {name}",
                lambda: client.api.logs(
                    name, stdout=True, stderr=True, tail="all" if tail is None else max(tail, 0)
                ),
            )
        except NotFound:
            return ""
        if tail is not None and tail <= 0:
            return ""
        return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data)

    # -- urls ----------------------------------------------------------------------------------------------
    def _host_port_url(self, name: str, port: int | None) -> str:
        return self.host_port_url(name, port, self.settings.runtime.serving_host)

    def inference_url(self, name: str, port: int | None) -> str:
        """How the platform's servers reach ``name``'s /predict (see the module docstring per network)."""
        if self.network == "none":
            raise RuntimeError_(f"container {name!r} runs with network 'none' and cannot be reached")
        if self.network == "host":
            return self._host_port_url(name, port)
        return f"http://{name}:{SERVING_PORT}/predict"

    def host_url(self, name: str, port: int | None) -> str:
        """How a platform running on the Docker host itself (outside any container) reaches ``name``."""
        if self.network in ("host", "none"):
            return self.inference_url(name, port)
        attrs = self._inspect(name)
        networks = ((attrs or {}).get("NetworkSettings") or {}).get("Networks") or {}
        address = (networks.get(self.network) or {}).get("IPAddress")
        if not address:
            raise RuntimeError_(f"container {name!r} has no address on Docker network {self.network!r}")
        return f"http://{address}:{SERVING_PORT}/predict"
