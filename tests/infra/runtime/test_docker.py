"""Tests of the docker runtime on a real Docker engine (started by the ``docker_engine`` session fixture).

Every container a test starts carries a per-test label; the ``runtime`` fixture removes them all afterwards
and asserts that none is left. Pure option-building tests need no engine.
"""

from __future__ import annotations

import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.runtime.base import (
    ContainerExistsError,
    ContainerKind,
    ContainerSpec,
    ContainerState,
    ContainerStatus,
    RuntimeError_,
)
from infra.runtime.docker import SERVING_PORT, DockerRuntime, parse_mounts
from infra.runtime.registry import get_runtime
from infra.settings import RuntimeSettings, Settings
from tests.fixtures.docker import DockerEngine, docker_engine, private_docker_engine, stop_engine  # noqa: F401

DEADLINE = 30.0
SLEEP = ["python", "-c", "import time; print('up', flush=True); time.sleep(300)"]
REPO = Path(__file__).resolve().parents[3]


def wait_for(predicate: Callable[[], Any], timeout: float = DEADLINE, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def settings_for(engine: DockerEngine | None = None, **runtime: Any) -> Settings:
    values: dict[str, Any] = {"docker_python": "python3"}
    if engine is not None:
        values.update(docker_host=engine.host, image=engine.image)
    values.update(runtime)
    return Settings(runtime=RuntimeSettings(**values))


class Containers:
    """Names for one test's containers, all labelled so cleanup finds every one of them."""

    def __init__(self, runtime: DockerRuntime) -> None:
        self.runtime = runtime
        self.tag = uuid.uuid4().hex[:8]

    def spec(self, suffix: str, command: list[str], **kwargs: Any) -> ContainerSpec:
        labels = {"test-run": self.tag, **kwargs.pop("labels", {})}
        return ContainerSpec(
            name=f"t{self.tag}-{suffix}",
            kind=kwargs.pop("kind", ContainerKind.TRAIN),
            command=command,
            labels=labels,
            **kwargs,
        )

    def wait_ended(self, name: str, timeout: float = DEADLINE) -> ContainerStatus:
        def ended() -> ContainerStatus | None:
            status = self.runtime.status([name])[name]
            return None if status.is_alive else status

        return wait_for(ended, timeout, what=f"{name} to end")

    def cleanup(self) -> None:
        for status in self.runtime.list(labels={"test-run": self.tag}):
            self.runtime.remove(status.name, force=True)
        assert self.runtime.list(labels={"test-run": self.tag}) == [], "containers left behind"


@pytest.fixture
def runtime(docker_engine: DockerEngine) -> DockerRuntime:  # noqa: F811
    return DockerRuntime(settings=settings_for(docker_engine))


@pytest.fixture
def containers(runtime: DockerRuntime) -> Iterator[Containers]:
    c = Containers(runtime)
    yield c
    c.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- without an engine -------------------------------------------------------------------------------------
def test_registered_by_name() -> None:
    assert isinstance(get_runtime("docker", settings=settings_for()), DockerRuntime)


def test_parse_mounts() -> None:
    mounts = parse_mounts("/a:/b:ro, /c:/d")
    assert [(m["Source"], m["Target"], m["ReadOnly"]) for m in mounts] == [
        ("/a", "/b", True),
        ("/c", "/d", False),
    ]
    assert parse_mounts("") == []
    for bad in ("relative:/x", "/a", "/a:/b:rx", "/a:/b:ro:z"):
        with pytest.raises(ValueError, match="invalid docker mount"):
            parse_mounts(bad)


def test_create_options() -> None:
    rt = DockerRuntime(settings=settings_for(image="img:1", docker_mounts="/src:/app:ro", cpu_limit=2.0))
    spec = ContainerSpec(
        name="train-7",
        kind=ContainerKind.TRAIN,
        command=["python", "-m", "x"],
        env={"A": "1"},
        labels={"job-id": "7"},
        memory_limit_mb=256,
    )
    opts = rt.create_options(spec)
    assert opts["name"] == "train-7" and opts["image"] == "img:1"
    assert opts["command"] == ["python3", "-m", "x"]
    assert opts["labels"]["app"] == "mlops-lite" and opts["labels"]["job-id"] == "7"
    assert opts["environment"] == {"PYTHONUNBUFFERED": "1", "A": "1"}
    assert opts["network_mode"] == "host"
    assert opts["init"] is True
    assert opts["nano_cpus"] == 2_000_000_000  # from settings, since the spec names none
    assert opts["mem_limit"] == opts["memswap_limit"] == "256m"
    assert opts["mounts"][0]["Target"] == "/app"


def test_user_network_serving_port_is_fixed() -> None:
    rt = DockerRuntime(settings=settings_for(docker_network="mlops"))
    serve = ContainerSpec(name="serve-1", kind=ContainerKind.SERVE, command=["python"], port=31000)
    with pytest.raises(ValueError, match="listen on 3000"):
        rt.create_options(serve)
    opts = rt.create_options(
        ContainerSpec(name="serve-1", kind=ContainerKind.SERVE, command=["python"], port=SERVING_PORT)
    )
    assert opts["network"] == "mlops" and "network_mode" not in opts
    assert rt.inference_url("serve-1", SERVING_PORT) == "http://serve-1:3000/predict"


def test_urls_per_network_mode() -> None:
    assert (
        DockerRuntime(settings=settings_for()).inference_url("serve-2", 31005)
        == "http://127.0.0.1:31005/predict"
    )
    with pytest.raises(RuntimeError_, match="network 'none'"):
        DockerRuntime(settings=settings_for(docker_network="none")).inference_url("serve-2", 31005)


def test_unreachable_engine_is_transient(tmp_path: Path) -> None:
    rt = DockerRuntime(settings=settings_for(docker_host=f"unix://{tmp_path}/absent.sock"))
    with pytest.raises(RuntimeError_, match="unreachable") as info:
        rt.status(["x"])
    assert info.value.transient


def test_compose_parses_and_names_real_settings() -> None:
    from tests.infra.runtime.test_kubernetes import known_settings_variables, mlops_variables

    text = (REPO / "deployments" / "compose.yaml").read_text()
    compose = yaml.safe_load(text)
    assert {"minio", "postgres", "mlflow", "prefect", "nats", "platform", "api", "dashboard"} <= compose[
        "services"
    ].keys()
    unknown = mlops_variables(text) - known_settings_variables()
    assert not unknown, f"compose.yaml names settings that do not exist: {sorted(unknown)}"
    platform_env = compose["services"]["platform"]["environment"]
    assert platform_env["MLOPS_RUNTIME_NAME"] == "docker"
    assert platform_env["MLOPS_RUNTIME_DOCKER_NETWORK"] == compose["networks"]["mlops"]["name"]
    assert "postgresql+psycopg2://" in " ".join(compose["services"]["mlflow"]["command"])
    # Every server of the stack asks who is calling, with secrets the stack refuses to start without.
    services = compose["services"]
    assert "basic-auth" in services["mlflow"]["command"]
    assert services["prefect"]["environment"]["PREFECT_SERVER_API_AUTH_STRING"].startswith("mlops:${")
    assert services["nats"]["command"] == ["-c", "/etc/nats/nats.conf"]
    for key in (
        "MLOPS_SECRET_KEY",
        "MLOPS_MLFLOW_PASSWORD",
        "MLOPS_PREFECT_AUTH_STRING",
        "MLOPS_NATS_PASSWORD",
        "MLOPS_S3_SECRET_KEY",
        "PREFECT_API_AUTH_STRING",
    ):
        assert ":?" in platform_env[key], key
    assert ":-" not in "".join(line for line in text.splitlines() if "PASSWORD" in line or "SECRET" in line)
    # deployments/nats.conf is the embedded server's config, with the passwords taken from its environment.
    from infra.embedded.server_configs import nats_config
    from infra.settings import NatsSettings, Settings

    rendered = nats_config(
        Settings(nats=NatsSettings(password="-", client_password="-")),
        "0.0.0.0",
        4222,
        password_env=("NATS_RESPONDER_PASSWORD", "NATS_CLIENT_PASSWORD"),
    )
    committed = (REPO / "deployments" / "nats.conf").read_text()
    assert committed.split("\nlisten:", 1)[1] == rendered.split("\nlisten:", 1)[1], (
        "deployments/nats.conf is out of date: render it with infra.embedded.server_configs.nats_config"
    )
    for dockerfile in ("runtime.Dockerfile", "platform.Dockerfile"):
        instructions = [
            line.split()[0]
            for line in (REPO / "deployments" / dockerfile).read_text().splitlines()
            if line.strip() and not line.startswith(("#", " "))
        ]
        assert "ENTRYPOINT" not in instructions and "FROM" in instructions


# -- on the engine -----------------------------------------------------------------------------------------
def test_lifecycle(runtime: DockerRuntime, containers: Containers) -> None:
    spec = containers.spec("life", SLEEP, port=31001)
    started = runtime.start(spec)
    assert started.state is ContainerState.RUNNING and started.port == 31001
    assert started.labels == {"test-run": containers.tag, "app": "mlops-lite"}
    wait_for(lambda: "up" in runtime.logs(spec.name), what="log line")
    begun = time.monotonic()
    runtime.stop(spec.name, timeout=5)
    assert time.monotonic() - begun < 5, "SIGTERM should end a sleeping python at once"
    stopped = runtime.status([spec.name])[spec.name]
    assert stopped.state is ContainerState.FAILED and stopped.exit_code == 143
    assert "SIGTERM" in stopped.detail and stopped.finished_at is not None
    assert runtime.logs(spec.name, tail=1) == "up\n"  # kept for its logs until removed
    runtime.stop(spec.name)  # stopping a stopped container is a no-op
    runtime.remove(spec.name)
    assert runtime.status([spec.name])[spec.name].state is ContainerState.NOT_FOUND
    assert runtime.logs(spec.name) == ""
    runtime.remove(spec.name)  # no-op when gone
    runtime.stop(spec.name)


def test_exit_codes_and_oom(runtime: DockerRuntime, containers: Containers) -> None:
    ok = runtime.start(containers.spec("ok", ["python", "-c", "print('done')"]))
    bad = runtime.start(containers.spec("bad", ["python", "-c", "import sys; sys.exit(3)"]))
    oom = runtime.start(
        containers.spec("oom", ["python", "-c", "b = bytearray(400 * 2**20)"], memory_limit_mb=48)
    )
    assert containers.wait_ended(ok.name).state is ContainerState.EXITED
    assert runtime.status([ok.name])[ok.name].exit_code == 0
    failed = containers.wait_ended(bad.name)
    assert (failed.state, failed.exit_code, failed.detail) == (ContainerState.FAILED, 3, "exit code 3")
    killed = containers.wait_ended(oom.name)
    assert killed.state is ContainerState.FAILED and killed.exit_code == 137
    assert "out of memory" in killed.detail


def test_limits_and_mounts_applied(
    docker_engine: DockerEngine,  # noqa: F811
    tmp_path: Path,
    containers: Containers,
) -> None:
    (tmp_path / "hello.txt").write_text("from the host")
    rt = DockerRuntime(settings=settings_for(docker_engine, docker_mounts=f"{tmp_path}:/data:ro"))
    containers.runtime = rt
    program = "import os; print(open('/data/hello.txt').read(), os.environ['GREETING'])"
    spec = containers.spec(
        "limits", ["python", "-c", program], env={"GREETING": "hi"}, cpu_limit=0.5, memory_limit_mb=64
    )
    rt.start(spec)
    assert containers.wait_ended(spec.name).state is ContainerState.EXITED
    assert rt.logs(spec.name).strip() == "from the host hi"
    host_config = rt.client().api.inspect_container(spec.name)["HostConfig"]
    assert host_config["NanoCpus"] == 500_000_000
    assert host_config["Memory"] == 64 * 2**20
    assert host_config["NetworkMode"] == "host"
    assert host_config["Mounts"][0]["ReadOnly"] is True


def test_name_conflict(runtime: DockerRuntime, containers: Containers) -> None:
    first = runtime.start(containers.spec("dup", SLEEP))
    with pytest.raises(ContainerExistsError):
        runtime.start(containers.spec("dup", ["python", "-c", "print('second')"]))
    assert runtime.status([first.name])[first.name].state is ContainerState.RUNNING
    with pytest.raises(RuntimeError_, match="stop it first"):
        runtime.remove(first.name)
    runtime.remove(first.name, force=True)
    assert runtime.status([first.name])[first.name].state is ContainerState.NOT_FOUND


def test_batch_status_is_one_list_call(
    runtime: DockerRuntime, containers: Containers, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = runtime.start(containers.spec("run", SLEEP, labels={"kind": "serve"}))
    done = runtime.start(containers.spec("done", ["python", "-c", "pass"]))
    containers.wait_ended(done.name)
    api = runtime.client().api
    calls: list[str] = []
    for method in ("containers", "inspect_container"):
        original = getattr(api, method)
        monkeypatch.setattr(
            api, method, lambda *a, _m=method, _o=original, **k: (calls.append(_m), _o(*a, **k))[1]
        )
    result = runtime.status([running.name, done.name, "no-such-container"])
    assert {n: s.state for n, s in result.items()} == {
        running.name: ContainerState.RUNNING,
        done.name: ContainerState.EXITED,
        "no-such-container": ContainerState.NOT_FOUND,
    }
    # One list for everything; only the ended container needs an inspect (for its exit code).
    assert calls == ["containers", "inspect_container"]
    listed = runtime.list(labels={"test-run": containers.tag, "kind": "serve"})
    assert [s.name for s in listed] == [running.name]


def test_start_errors(runtime: DockerRuntime, containers: Containers) -> None:
    missing = containers.spec("noimage", ["python", "-c", "pass"], image="mlops-lite/absent:never")
    with pytest.raises(RuntimeError_, match="mlops-lite/absent:never.*not found") as info:
        runtime.start(missing)
    assert not info.value.transient
    assert runtime.status([missing.name])[missing.name].state is ContainerState.NOT_FOUND
    # As on the process runtime, a command that does not exist is a container that fails with 127.
    nocmd = runtime.start(containers.spec("nocmd", ["no-such-binary"]))
    ended = containers.wait_ended(nocmd.name)
    assert (ended.state, ended.exit_code) == (ContainerState.FAILED, 127)
    assert "no-such-binary" in runtime.logs(nocmd.name)


def test_serving_container_reachable(runtime: DockerRuntime, containers: Containers) -> None:
    port = free_port()
    spec = containers.spec(
        "web",
        ["python", "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        kind=ContainerKind.SERVE,
        port=port,
    )
    runtime.start(spec)
    url = runtime.inference_url(spec.name, None)  # the port comes from the container's labels
    assert url == f"http://127.0.0.1:{port}/predict" == runtime.host_url(spec.name, port)

    def answers() -> bool:
        try:
            with urllib.request.urlopen(url.removesuffix("predict"), timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError):
            return False

    wait_for(answers, what="the server in the container")
    runtime.remove(spec.name, force=True)
    assert not answers()


def test_user_network_reached_by_name(docker_engine: DockerEngine, containers: Containers) -> None:  # noqa: F811
    network_name = f"mlt-{containers.tag}"
    client = containers.runtime.client()
    network = client.networks.create(network_name, driver="bridge")
    try:
        rt = DockerRuntime(settings=settings_for(docker_engine, docker_network=network_name))
        containers.runtime = rt
        server = containers.spec(
            "srv",
            ["python", "-m", "http.server", str(SERVING_PORT)],
            kind=ContainerKind.SERVE,
            port=SERVING_PORT,
        )
        rt.start(server)
        url = rt.inference_url(server.name, SERVING_PORT)
        assert url == f"http://{server.name}:3000/predict"
        # Another container on the network (as the platform in compose) reaches the server by its name.
        probe = (
            "import time, urllib.request\n"
            "for _ in range(300):\n"
            "    try:\n"
            f"        print(urllib.request.urlopen({url.removesuffix('predict')!r}).status); break\n"
            "    except OSError: time.sleep(0.1)\n"
        )
        client_spec = containers.spec("cli", ["python", "-c", probe])
        rt.start(client_spec)
        assert containers.wait_ended(client_spec.name).state is ContainerState.EXITED
        assert rt.logs(client_spec.name).strip() == "200"
        assert rt.host_url(server.name, SERVING_PORT).endswith(":3000/predict")
    finally:
        containers.cleanup()
        network.remove()


def test_engine_stopped_is_transient() -> None:
    # A short path: the engine's socket paths are limited to 108 bytes.
    with (
        tempfile.TemporaryDirectory(prefix="dk") as directory,
        private_docker_engine(Path(directory)) as engine,
    ):
        rt = DockerRuntime(settings=settings_for(engine))
        assert rt.status(["x"])["x"].state is ContainerState.NOT_FOUND  # connected while it runs
        stop_engine(Path(directory))
        for call in (
            lambda: rt.status(["x"]),
            lambda: rt.logs("x"),
            lambda: rt.stop("x"),
            lambda: rt.wait_exit("x", timeout=5),
        ):
            with pytest.raises(RuntimeError_, match="unreachable") as info:
                call()
            assert info.value.transient


def test_platform_code_runs_in_container(docker_engine: DockerEngine, containers: Containers) -> None:  # noqa: F811
    """The platform's own serve command runs in the minimal image, with the project and its venv mounted."""
    venv = Path(sys.prefix).resolve()
    python_home = Path(sys.base_prefix).resolve()
    mounts = ",".join(f"{p}:{p}:ro" for p in dict.fromkeys([REPO, venv, python_home]))
    rt = DockerRuntime(
        settings=settings_for(docker_engine, docker_mounts=mounts, docker_python=str(venv / "bin" / "python"))
    )
    containers.runtime = rt
    # Explicit, because the shared venv's editable install points at whichever checkout installed it last.
    env = {"PYTHONPATH": str(REPO)}
    helped = rt.start(containers.spec("help", ["python", "-m", "algorithms.serve", "--help"], env=env))
    assert containers.wait_ended(helped.name).state is ContainerState.EXITED, rt.logs(helped.name)
    assert "--model-uri" in rt.logs(helped.name)
    # A model that cannot load must make the server exit non-zero: this imports the real serving stack.
    broken = rt.start(
        containers.spec(
            "broken",
            [
                "python",
                "-m",
                "algorithms.serve",
                "--model-uri",
                "/nonexistent/model",
                "--port",
                str(free_port()),
            ],
            kind=ContainerKind.SERVE,
            env={**env, "MLOPS_SERVING_TOKEN": "t" * 32},
        )
    )
    ended = containers.wait_ended(broken.name, timeout=120)
    assert ended.state is ContainerState.FAILED and ended.exit_code not in (None, 0), rt.logs(broken.name)
    assert "failed to load" in rt.logs(broken.name, tail=5)
