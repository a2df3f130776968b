"""A container's input files (``ContainerSpec.inputs``): fetched over HTTP from a local server that the test runs,
checked against size and sha256, and handed over the way each runtime does — the process runtime's launcher
(real detached processes), Docker's tar stream (read back with ``tarfile``), the Kubernetes init container and
Secret (manifests). No runtime ever writes the URL anywhere the container's user reads."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infra.runtime.base import ContainerKind, ContainerSpec, ContainerState, InputFile, RuntimeError_
from infra.runtime.docker import DockerRuntime
from infra.runtime.inputs import FETCH_ENV, input_archive
from infra.runtime.kube_manifests import job_manifest, secret_manifest
from infra.runtime.launcher import EXIT_INPUT_FAILED
from infra.runtime.process import ProcessRuntime
from infra.settings import RuntimeSettings, Settings
from tests.infra.runtime.test_process import runtime, settings, wait_ended  # noqa: F401

BODY = os.urandom(300_000) + b"end of the release"
SHA = hashlib.sha256(BODY).hexdigest()
SECRET_QUERY = "X-Amz-Signature=not-for-your-eyes"


class Files:
    """A local HTTP server: ``/ok`` the body, ``/denied`` 403, ``/slow`` the body trickled over ~60 s."""

    def __init__(self) -> None:
        files = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/denied":
                    self.send_error(403, "Forbidden")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                if path == "/slow":
                    for i in range(0, len(BODY), 5000):
                        if files.closing.is_set():
                            return
                        self.wfile.write(BODY[i : i + 5000])
                        self.wfile.flush()
                        time.sleep(1)
                    return
                self.wfile.write(BODY)

        self.closing = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}?{SECRET_QUERY}"

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def files() -> Iterator[Files]:
    server = Files()
    yield server
    server.close()


def release(url: str, *, sha256: str = SHA, size: int = len(BODY)) -> InputFile:
    return InputFile("release.zip", url, size=size, sha256=sha256, env_var="MLOPS_RELEASE_PATH")


READER = [
    "python",
    "-c",
    (
        "import hashlib, os, stat; p = os.environ['MLOPS_RELEASE_PATH']; "
        "assert os.path.dirname(p) == os.environ['MLOPS_INPUT_DIR']; "
        "print('read', hashlib.sha256(open(p, 'rb').read()).hexdigest(), oct(stat.S_IMODE(os.stat(p).st_mode)))"
    ),
]


def custom(name: str, url: str, **kwargs: object) -> ContainerSpec:
    return ContainerSpec(
        name=name,
        kind=ContainerKind.TRAIN,
        command=kwargs.pop("command", READER),  # type: ignore[arg-type]
        inputs=(kwargs.pop("input", None) or release(url),),  # type: ignore[arg-type]
        user_code=True,
    )


def test_process_runtime_fetches_inputs_before_the_command(runtime: ProcessRuntime, files: Files) -> None:  # noqa: F811
    runtime.start(custom("train-in", files.url("/ok")))
    ended = wait_ended(runtime, "train-in")
    log = runtime.logs("train-in")
    assert ended.state is ContainerState.EXITED, log
    assert f"read {SHA} 0o444" in log
    path = runtime.input_dir("train-in") / "release.zip"
    assert path.read_bytes() == BODY and stat.S_IMODE(path.stat().st_mode) == 0o444
    assert SECRET_QUERY not in log and SECRET_QUERY not in ended.detail
    runtime.remove("train-in")
    assert not path.exists()


@pytest.mark.parametrize(
    ("path", "sha256", "size", "problem"),
    [
        ("/ok", "0" * 64, len(BODY), f"sha256 {SHA} does not match"),
        ("/ok", SHA, len(BODY) - 1, "more than the"),
        ("/ok", SHA, len(BODY) + 7, "bytes received"),
        ("/denied", SHA, len(BODY), "HTTP 403"),
    ],
    # Named, not by value: the body is random per process, and pytest-xdist workers must collect alike.
    ids=["wrong-sha256", "longer-than-declared", "shorter-than-declared", "denied"],
)
def test_a_bad_input_fails_the_container_before_its_command(
    runtime: ProcessRuntime,  # noqa: F811
    files: Files,
    path: str,
    sha256: str,
    size: int,
    problem: str,
) -> None:
    spec = custom("train-bad", "", input=release(files.url(path), sha256=sha256, size=size))
    runtime.start(spec)
    ended = wait_ended(runtime, "train-bad")
    log = runtime.logs("train-bad")
    assert (ended.state, ended.exit_code) == (ContainerState.FAILED, EXIT_INPUT_FAILED)
    assert problem in ended.detail and "release.zip" in ended.detail, ended.detail
    assert "read " not in log, "the command must not run"
    assert SECRET_QUERY not in log and SECRET_QUERY not in ended.detail
    assert not any(runtime.input_dir("train-bad").glob("*")), "nothing half-fetched is left"


def test_a_stop_interrupts_the_fetch(runtime: ProcessRuntime, files: Files) -> None:  # noqa: F811
    runtime.start(custom("train-slow", files.url("/slow")))
    status = runtime.status(["train-slow"])["train-slow"]
    assert status.state is ContainerState.PENDING and status.detail == "fetching inputs"
    started = time.monotonic()
    runtime.stop("train-slow")
    ended = wait_ended(runtime, "train-slow")
    assert ended.state is ContainerState.FAILED and "stopped" in ended.detail, ended.detail
    assert time.monotonic() - started < 10, "the fetch must notice the stop"
    assert "read " not in runtime.logs("train-slow")


def test_the_launcher_fetch_only_mode(tmp_path: Path, files: Files) -> None:
    target = tmp_path / "input" / "release.zip"
    record = {"name": "release.zip", "url": files.url("/ok"), "size": len(BODY), "sha256": SHA}
    for given, code in ((files.url("/ok"), 0), (files.url("/denied"), EXIT_INPUT_FAILED)):
        env = {**os.environ, FETCH_ENV: json.dumps([{**record, "url": given, "path": str(target)}])}
        done = subprocess.run(
            [sys.executable, "-m", "infra.runtime.launcher", "--fetch-env", FETCH_ENV],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == code, done.stderr
        assert SECRET_QUERY not in done.stdout + done.stderr
    assert target.read_bytes() == BODY


def test_docker_archive_streams_checked_files(files: Files) -> None:
    data = b"".join(input_archive([release(files.url("/ok"))]))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = {m.name: m for m in tar.getmembers()}
        assert set(names) == {"mlops", "mlops/input", "mlops/input/release.zip"}
        member = names["mlops/input/release.zip"]
        assert member.mode == 0o444 and names["mlops/input"].isdir()
        extracted = tar.extractfile(member)
        assert extracted is not None and extracted.read() == BODY
    for bad in (release(files.url("/ok"), sha256="0" * 64), release(files.url("/denied"))):
        with pytest.raises(RuntimeError_) as err:
            b"".join(input_archive([bad]))
        assert "release.zip" in str(err.value) and SECRET_QUERY not in str(err.value)


def test_docker_options_of_user_code() -> None:
    docker_runtime = DockerRuntime(
        Settings(runtime=RuntimeSettings(docker_python="/venv/bin/python", image="plat:1"))
    )
    spec = ContainerSpec(
        name="train-3",
        kind=ContainerKind.TRAIN,
        command=["python", "train.py"],
        image="user/train:2",
        env={"EPOCHS": "3"},
        inputs=(release("http://s3.example/r.zip?" + SECRET_QUERY),),
        user_code=True,
    )
    options = docker_runtime.create_options(spec)
    assert options["command"] == ["python", "train.py"], "a user's python is the image's own"
    assert options["image"] == "user/train:2"
    assert options["environment"]["MLOPS_RELEASE_PATH"] == "/mlops/input/release.zip"
    assert options["environment"]["MLOPS_INPUT_DIR"] == "/mlops/input"
    assert SECRET_QUERY not in json.dumps(options, default=str)
    platform = docker_runtime.create_options(
        ContainerSpec(name="train-4", kind=ContainerKind.TRAIN, command=["python"])
    )
    assert platform["command"] == ["/venv/bin/python"] and platform["image"] == "plat:1"


def test_kubernetes_inputs_come_from_an_init_container() -> None:
    settings = Settings(runtime=RuntimeSettings(image="reg/runtime:1", memory_limit_mb=512))  # noqa: F811
    spec = ContainerSpec(
        name="train-9",
        kind=ContainerKind.TRAIN,
        command=["python", "train.py"],
        image="user/train:2",
        inputs=(release("http://s3.example/r.zip?" + SECRET_QUERY),),
        user_code=True,
    )
    job = job_manifest(spec, settings)
    pod = job["spec"]["template"]["spec"]
    (fetch,) = pod["initContainers"]
    (main,) = pod["containers"]
    assert fetch["image"] == "reg/runtime:1" and main["image"] == "user/train:2"
    assert fetch["command"] == ["python", "-m", "infra.runtime.launcher", "--fetch-env", FETCH_ENV]
    assert pod["volumes"] == [{"name": "mlops-input", "emptyDir": {}}]
    assert main["volumeMounts"] == [{"name": "mlops-input", "mountPath": "/mlops/input", "readOnly": True}]
    assert fetch["volumeMounts"] == [{"name": "mlops-input", "mountPath": "/mlops/input"}]
    env = {e["name"]: e for e in main["env"]}
    assert env["MLOPS_RELEASE_PATH"]["value"] == "/mlops/input/release.zip"
    assert {
        "name": FETCH_ENV,
        "valueFrom": {"secretKeyRef": {"name": "train-9-env", "key": FETCH_ENV}},
    } in fetch["env"]
    assert SECRET_QUERY not in json.dumps(job), "the URL travels in the Secret only"
    secret = secret_manifest(spec, settings)
    assert secret is not None
    (record,) = json.loads(secret["stringData"][FETCH_ENV])
    assert record["path"] == "/mlops/input/release.zip" and SECRET_QUERY in record["url"]
    assert record["sha256"] == SHA and record["size"] == len(BODY)


class _NoImageEngine:
    """Just enough of the Docker SDK client for ``start`` to meet a missing image (no engine runs here)."""

    def __init__(self, pull_events: list[dict[str, str]]) -> None:
        engine = self
        self.pulled: list[str] = []

        class Containers:
            def create(self, **options: object) -> None:
                from docker.errors import ImageNotFound

                raise ImageNotFound(f"No such image: {options['image']}")

        class Api:
            def pull(self, image: str, **kwargs: object) -> Iterator[dict[str, str]]:
                engine.pulled.append(image)
                return iter(pull_events)

        self.containers, self.api = Containers(), Api()


@pytest.mark.parametrize("user_code", [True, False])
def test_docker_pulls_only_a_users_missing_image(user_code: bool) -> None:
    docker_runtime = DockerRuntime(Settings(runtime=RuntimeSettings(image="plat:1")))
    engine = _NoImageEngine([{"status": "Pulling"}, {"error": "manifest for user/train:2 not found"}])
    docker_runtime._client = engine  # type: ignore[assignment]
    spec = ContainerSpec(
        name="train-5", kind=ContainerKind.TRAIN, command=["train"], image="user/train:2", user_code=user_code
    )
    with pytest.raises(RuntimeError_) as err:
        docker_runtime.start(spec)
    if user_code:
        assert engine.pulled == ["user/train:2"]
        assert "could not be pulled: manifest for user/train:2 not found" in str(err.value)
    else:
        assert engine.pulled == [] and "deployments/runtime.Dockerfile" in str(err.value)
    assert not err.value.transient
