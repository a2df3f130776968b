"""Shared benchmark helpers: a private SeaweedFS started exactly as the platform starts it, and running a
phase in a child process while sampling its peak RSS (the child alone, not the servers it talks to), an
inference server (``algorithms.serve``) started as its own process and awaited until its model is ready, and a
private platform (SeaweedFS, MLflow, Prefect on free ports, a fresh catalog, the process runtime)."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from infra.embedded.components import prefect_spec, s3_spec
from infra.embedded.process import start_component, stop_component, wait_healthy
from infra.net import free_port
from infra.settings import ObjectStoreSettings, PlatformSettings, PrefectSettings, Settings


@contextmanager
def seaweedfs(data_dir: Path) -> Iterator[ObjectStoreSettings]:
    """A SeaweedFS S3 endpoint on free loopback ports, its data under ``data_dir``; stopped on exit."""
    master, volume, filer, s3 = (free_port(companion_offsets=(10000,)) for _ in range(4))
    settings = ObjectStoreSettings(
        endpoint=f"http://127.0.0.1:{s3}",
        master_port=master,
        volume_port=volume,
        filer_port=filer,
        access_key="bench-access",
        secret_key="bench-secret-key",
        bucket="mlops",
        artifacts_bucket="mlflow",
        embedded=False,
        timeout_seconds=120.0,
        max_retries=2,
    )
    running = start_component(s3_spec(Settings(platform=PlatformSettings(data_dir=data_dir), s3=settings)))
    try:
        wait_healthy(running, 120.0)
        yield settings
    finally:
        stop_component(running)


@contextmanager
def prefect_server(data_dir: Path) -> Iterator[PrefectSettings]:
    """A real ``prefect server start`` on a free port (flows in the measured child report to it)."""
    settings = PrefectSettings(
        api_url=f"http://127.0.0.1:{free_port()}/api",
        embedded=False,
        auth_string=f"bench:{secrets.token_urlsafe(24)}",
    )
    running = start_component(
        prefect_spec(Settings(platform=PlatformSettings(data_dir=data_dir), prefect=settings))
    )
    try:
        wait_healthy(running, 180.0)
        yield settings
    finally:
        stop_component(running)


@dataclass
class PhaseResult:
    output: dict[str, Any]
    peak_rss_bytes: int


def run_phase(argv: list[str], env: dict[str, str], *, interval: float = 0.02) -> PhaseResult:
    """Run ``argv`` (which prints one JSON line last) while sampling the child's RSS every ``interval`` s."""
    child = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)
    proc = psutil.Process(child.pid)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = child.communicate()
    done.set()
    sampler.join()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {child.returncode}")
    # ru_maxrss of waited-for children is exact where sampling could miss a short spike; the larger wins.
    lines = [line for line in out.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1])
    return PhaseResult(output=result, peak_rss_bytes=max(peak, int(result.get("self_maxrss_bytes", 0))))


def self_maxrss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def python() -> str:
    return sys.executable


def wait_http(port: int, path: str, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    """Poll ``GET path`` on 127.0.0.1:``port`` until it answers 200; fail at once if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            ok = conn.getresponse().status == 200
            conn.close()
            if ok:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"server on {port} not ready in {timeout:.0f}s")


def start_inference_server(
    model_dir: Path,
    log: Path,
    *,
    scenario: str,
    token: str,
    env: dict[str, str] | None = None,
    timeout: float = 300.0,
) -> tuple[subprocess.Popen[bytes], int]:
    """``python -m algorithms.serve`` on a free port of 127.0.0.1 with ``token``, ready (``/ready`` 200)."""
    port = free_port()
    environ = {
        **(os.environ if env is None else env),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLOPS_SERVING_TOKEN": token,
    }
    command = [
        sys.executable,
        "-m",
        "algorithms.serve",
        "--model-uri",
        str(model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--scenario",
        scenario,
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(command, env=environ, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_http(port, "/ready", proc, timeout)
    except Exception:
        proc.kill()
        raise
    return proc, port


def configure_platform(data_dir: Path) -> Any:
    """The platform's settings for private servers on free ports (``start_platform_servers``), a fresh SQLite
    catalog under ``data_dir``, the process runtime and inline flows, exported to this process's environment (and
    the clients' own variables); must run before Prefect or MLflow are imported."""
    from infra.net import free_port

    s3_ports = [free_port(companion_offsets=(10000,)) for _ in range(4)]
    env = {
        "MLOPS_ENV_FILE": "/nonexistent",
        "MLOPS_DATA_DIR": str(data_dir),
        "MLOPS_DATABASE_URL": f"sqlite:///{data_dir / 'catalog.db'}",
        "MLOPS_S3_MASTER_PORT": str(s3_ports[0]),
        "MLOPS_S3_VOLUME_PORT": str(s3_ports[1]),
        "MLOPS_S3_FILER_PORT": str(s3_ports[2]),
        "MLOPS_S3_ENDPOINT": f"http://127.0.0.1:{s3_ports[3]}",
        "MLOPS_S3_ACCESS_KEY": "bench-access",
        "MLOPS_S3_SECRET_KEY": "bench-secret-key",
        "MLOPS_MLFLOW_URI": f"http://127.0.0.1:{free_port()}",
        "MLOPS_PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",
        "MLOPS_PREFECT_RUN_MODE": "inline",
        "MLOPS_RUNTIME_NAME": "process",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PREFECT_HOME": str(data_dir / "prefect-home"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    repo = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p)
    os.environ.update(env)
    from infra.embedded.components import platform_env
    from infra.settings import get_settings, reset_settings

    reset_settings()
    settings = get_settings()
    os.environ.update(platform_env(settings))
    return settings


def start_platform_servers(settings: Any) -> list[Any]:
    """SeaweedFS, MLflow and Prefect as ``mlops up`` starts them, healthy; stop with ``stop_platform_servers``."""
    from infra.embedded.components import build_components
    from infra.embedded.process import start_component, wait_healthy
    from infra.objectstore import ObjectStore

    running = []
    for spec in build_components(settings, ["s3", "mlflow", "prefect"]):
        if spec.name == "mlflow":
            store = ObjectStore.from_settings(settings.s3)
            store.ensure_bucket(settings.s3.bucket)
            store.ensure_bucket(settings.s3.artifacts_bucket)
        component = start_component(spec)
        running.append(component)
        wait_healthy(component, 180)
    return running


def stop_platform_servers(running: list[Any]) -> None:
    for component in reversed(running):
        stop_component(component)
