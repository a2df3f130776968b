"""Declarative specs of the embedded platform's components, built from ``Settings``.

One ``ComponentSpec`` per process `mlops up` starts (in start order: s3, nats, mlflow, prefect, deployments,
api, dashboard; the last three, the platform's own processes, in ``infra.embedded.app_components``): its argv, environment, log file, health check, user-facing URL and whether it is enabled, and
the configuration it writes before starting (``prepare``: the files in ``infra.embedded.server_configs``
that make every server authenticate its callers).
The test fixtures build their servers from the same functions, so tests and `mlops up` start servers alike.
Also owns ``platform_env``: the environment that makes a child process see the same platform.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel
from pydantic_settings import BaseSettings

from infra.embedded.server_configs import (
    mlflow_auth_ini,
    nats_config,
    write_private,
    write_seaweedfs_config,
)
from infra.net import nats_ping
from infra.settings import Settings
from infra.settings.secrets import install_secret

# Servers that phone home are told not to, whatever else the environment says.
TELEMETRY_OFF: dict[str, str] = {
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}

HealthCheck = str | Callable[[], bool]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMPONENT_NAMES = ("s3", "nats", "mlflow", "prefect", "deployments", "api", "dashboard")


@dataclass(frozen=True)
class ComponentSpec:
    """How to start, check and show one server. ``health`` is a URL answering 2xx when ready, or a callable."""

    name: str
    label: str
    argv: list[str]
    env: dict[str, str]
    log_file: Path
    health: HealthCheck
    url: str
    enabled: bool = True
    ports: tuple[int, ...] = ()
    dirs: tuple[Path, ...] = ()
    stale_files: tuple[Path, ...] = ()
    cwd: Path | None = None
    prepare: Callable[[], None] | None = None
    after_healthy: Callable[[], None] | None = None
    stop_grace_seconds: float = 10.0
    term_signals: int = 1
    startup_timeout_seconds: float | None = None

    @property
    def health_url(self) -> str | None:
        return self.health if isinstance(self.health, str) else None


def venv_bin(name: str) -> str:
    """A console script or binary installed next to the running interpreter (the platform's venv)."""
    return str(Path(sys.executable).parent / name)


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)  # how pydantic-settings reads complex fields back
    return str(value)


def _group_env(group: BaseSettings) -> dict[str, str]:
    prefix = str(group.model_config.get("env_prefix", ""))
    out: dict[str, str] = {}
    for name in type(group).model_fields:
        value = getattr(group, name)
        if value is None:
            # Unset optional fields stay unset: an empty string would not parse back to None everywhere.
            continue
        out[f"{prefix}{name}".upper()] = _env_value(value)
    return out


def platform_env(settings: Settings) -> dict[str, str]:
    """Every settings field as its ``MLOPS_*`` variable, plus the variables the MLflow, Prefect and S3
    clients read, so a child process (server, container, flow runner) sees exactly this platform."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        group = getattr(settings, name)
        if isinstance(group, BaseSettings):
            env.update(_group_env(group))
        elif isinstance(group, BaseModel):  # pragma: no cover - every group is a settings group today
            raise TypeError(f"settings group {name} is not a BaseSettings")
    env.update(
        {
            "MLFLOW_TRACKING_URI": settings.mlflow.uri,
            "MLFLOW_S3_ENDPOINT_URL": settings.s3.endpoint,
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(settings.mlflow.request_timeout_seconds),
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(settings.mlflow.request_max_retries),
            "MLFLOW_TRACKING_USERNAME": settings.mlflow.username,
            "MLFLOW_TRACKING_PASSWORD": settings.mlflow.password,
            "PREFECT_API_URL": settings.prefect.api_url,
            "PREFECT_API_AUTH_STRING": settings.prefect.auth_string,
            "AWS_ACCESS_KEY_ID": settings.s3.access_key,
            "AWS_SECRET_ACCESS_KEY": settings.s3.secret_key,
            "AWS_DEFAULT_REGION": settings.s3.region,
        }
    )
    env.update(TELEMETRY_OFF)
    return env


def child_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(platform_env(settings))
    env["PYTHONUNBUFFERED"] = "1"  # logs reach the log file as they happen, not at exit
    if extra:
        env.update(extra)
    return env


def logs_dir(settings: Settings) -> Path:
    return settings.platform.data_dir / "logs"


def run_dir(settings: Settings) -> Path:
    return settings.platform.data_dir / "run"


def deployments_ready_file(settings: Settings) -> Path:
    return run_dir(settings) / "deployments.ready"


UNIX_SOCKET_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin
HEALTH_PROBE_KEY = ".mlops/health-probe"


def _weed_sockets(data: Path) -> list[str]:
    """Keep SeaweedFS' local sockets in its data directory (its default leaves them behind in /tmp)."""
    filer, s3 = data / "filer.sock", data / "s3.sock"
    if len(str(filer)) > UNIX_SOCKET_MAX:
        return []
    return [f"-filer.localSocket={filer}", f"-s3.localSocket={s3}"]


def s3_spec(settings: Settings) -> ComponentSpec:
    s3 = settings.s3
    host = settings.platform.host
    port = s3.port
    data = settings.platform.data_dir / "s3"

    def prepare() -> None:
        write_seaweedfs_config(settings, data)

    def ensure_buckets() -> None:
        from infra.objectstore import ObjectStore  # import here: the adapter is only needed after start

        store = ObjectStore(s3)
        for bucket in dict.fromkeys((s3.bucket, s3.artifacts_bucket)):
            store.ensure_bucket(bucket)
        # /healthz answers seconds before the volume server has rejoined the master after a restart (reads of
        # stored objects fail with InternalError meanwhile): ready means a write and a read went through.
        store.put_bytes(HEALTH_PROBE_KEY, b"ok")
        store.get_bytes(HEALTH_PROBE_KEY)

    return ComponentSpec(
        name="s3",
        label="S3 endpoint",
        # `weed server` rather than `weed mini`: mini also runs an admin server (an unauthenticated gRPC port)
        # and dies when the master's HTTP API is off. Without these flags weed binds 0.0.0.0 and sends
        # telemetry. The master's and filer's HTTP APIs are off (anyone could delete a bucket's volumes through
        # the master's); the volume servers' HTTP needs the JWTs of security.toml, every gRPC port a client
        # certificate (``prepare``); the S3 API checks the access keys.
        argv=[
            venv_bin("weed"),
            "server",
            f"-dir={data}",
            f"-ip={host}",
            f"-ip.bind={host}",
            f"-master.port={s3.master_port}",
            f"-volume.port={s3.volume_port}",
            "-filer",
            f"-filer.port={s3.filer_port}",
            "-s3",
            f"-s3.port={port}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-disableHttp",
            "-filer.disableHttp",
            "-volume.max=0",
            "-master.volumeSizeLimitMB=128",
            "-master.electionTimeout=1s",
            *_weed_sockets(data),
        ],
        env=child_env(settings, {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}),
        log_file=logs_dir(settings) / "s3.log",
        health=f"http://{host}:{port}/healthz",
        url=s3.endpoint,
        enabled=s3.embedded,
        # Each SeaweedFS gRPC port is its HTTP port + 10000.
        ports=tuple(
            p + off for p in (s3.master_port, s3.volume_port, s3.filer_port, port) for off in (0, 10000)
        ),
        dirs=(data,),
        # Anything weed writes relative to its working directory stays with its data, not in the caller's cwd.
        cwd=data,
        prepare=prepare,
        after_healthy=ensure_buckets,
    )


def nats_spec(settings: Settings) -> ComponentSpec:
    nats = settings.nats
    host = settings.platform.host
    _, port = _host_port(nats.url, 4222)
    data = settings.platform.data_dir / "nats"
    config = data / "nats.conf"

    def prepare() -> None:
        write_private(config, nats_config(settings, host, port))

    return ComponentSpec(
        name="nats",
        label="NATS",
        # No monitoring port: it answers anyone (connections, subjects); health is an authenticated PING.
        argv=[venv_bin("nats-server"), "-c", str(config)],
        env=child_env(settings),
        log_file=logs_dir(settings) / "nats.log",
        health=lambda: nats_ping(host, port, nats.user, nats.password),
        url=nats.url,
        enabled=nats.embedded,
        ports=(port,),
        dirs=(data,),
        prepare=prepare,
    )


def mlflow_spec(settings: Settings) -> ComponentSpec:
    mlflow = settings.mlflow
    host = settings.platform.host
    _, port = _host_port(mlflow.uri, 5000)
    data = settings.platform.data_dir / "mlflow"
    destination = mlflow.artifacts_destination or f"s3://{settings.s3.artifacts_bucket}/artifacts"
    auth_ini = data / "basic_auth.ini"

    def prepare() -> None:
        write_private(auth_ini, mlflow_auth_ini(data))

    return ComponentSpec(
        name="mlflow",
        label="MLflow UI",
        argv=[
            venv_bin("mlflow"),
            "server",
            "--app-name",
            "basic-auth",
            "--backend-store-uri",
            f"sqlite:///{data / 'mlflow.db'}",
            "--artifacts-destination",
            destination,
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=child_env(
            settings,
            {
                "MLFLOW_S3_ENDPOINT_URL": settings.s3.endpoint,
                # Otherwise MLflow starts six job-runner processes (~1.2 GB) the platform never uses.
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                # Basic auth (the platform's user is the only account), and the key of its CSRF tokens.
                "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
                "MLFLOW_AUTH_ADMIN_USERNAME": mlflow.username,
                "MLFLOW_AUTH_ADMIN_PASSWORD": mlflow.password,
                "MLFLOW_FLASK_SERVER_SECRET_KEY": install_secret(
                    "mlflow_flask_secret", settings.platform.data_dir
                ),
            },
        ),
        log_file=logs_dir(settings) / "mlflow.log",
        health=f"{mlflow.uri.rstrip('/')}/health",
        url=mlflow.uri,
        enabled=mlflow.embedded,
        ports=(port,),
        dirs=(data,),
        prepare=prepare,
    )


def prefect_spec(settings: Settings) -> ComponentSpec:
    prefect = settings.prefect
    host = settings.platform.host
    _, port = _host_port(prefect.api_url, 4200)
    home = settings.platform.data_dir / "prefect"
    return ComponentSpec(
        name="prefect",
        label="Prefect UI",
        argv=[venv_bin("prefect"), "server", "start", "--host", host, "--port", str(port)],
        env=child_env(
            settings,
            {
                "PREFECT_HOME": str(home),
                "PREFECT_API_URL": prefect.api_url,
                "PREFECT_UI_API_URL": prefect.api_url,
                # Every API call but /health needs it; the UI asks for it once per browser.
                "PREFECT_SERVER_API_AUTH_STRING": prefect.auth_string,
                "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
            },
        ),
        log_file=logs_dir(settings) / "prefect.log",
        health=f"{prefect.api_url.rstrip('/')}/health",
        url=prefect.ui_url,
        enabled=prefect.embedded,
        ports=(port,),
        dirs=(home,),
    )


SERVERS: dict[str, Callable[[Settings], ComponentSpec]] = {
    "s3": s3_spec,
    "nats": nats_spec,
    "mlflow": mlflow_spec,
    "prefect": prefect_spec,
}


def builders() -> dict[str, Callable[[Settings], ComponentSpec]]:
    """Every component's spec builder: the servers here, the platform's own processes in
    ``infra.embedded.app_components`` (imported here, not at the top: it builds on this module)."""
    from infra.embedded import app_components

    return {**SERVERS, **app_components.APPS}


def build_components(
    settings: Settings, names: list[str] | tuple[str, ...] | None = None
) -> list[ComponentSpec]:
    """Specs in start order (all of them, or ``names`` only); disabled ones are included, flagged."""
    known = builders()
    wanted = COMPONENT_NAMES if names is None else tuple(names)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ValueError(f"unknown component(s) {unknown}; known: {list(COMPONENT_NAMES)}")
    return [known[name](settings) for name in COMPONENT_NAMES if name in wanted]
