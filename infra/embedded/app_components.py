"""Specs of the platform's own processes `mlops up` starts after the servers (``infra.embedded.components``):
the flow runner (``deployments``), the platform API (``api``) and the dashboard."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

from infra.embedded.components import (
    PROJECT_ROOT,
    ComponentSpec,
    child_env,
    deployments_ready_file,
    logs_dir,
    venv_bin,
)
from infra.settings import Settings


def deployments_spec(settings: Settings) -> ComponentSpec:
    ready = deployments_ready_file(settings)
    return ComponentSpec(
        name="deployments",
        label="Flow runner",
        argv=[sys.executable, "-m", "flows.serve_all"],
        env=child_env(
            settings,
            {
                "PREFECT_API_URL": settings.prefect.api_url,
                # Prefect wants whole seconds; rounding up keeps a sub-second setting from meaning "never".
                "PREFECT_RUNNER_POLL_FREQUENCY": str(max(1, math.ceil(settings.prefect.poll_seconds))),
                "MLOPS_DEPLOYMENTS_READY_FILE": str(ready),
            },
        ),
        log_file=logs_dir(settings) / "deployments.log",
        health=ready.exists,
        url=f"{settings.prefect.ui_url}/deployments",
        stale_files=(ready,),
        cwd=PROJECT_ROOT,
        # A Prefect runner finishes its current work on the first SIGTERM and exits on the second.
        term_signals=2,
    )


def dashboard_spec(settings: Settings) -> ComponentSpec:
    host = settings.platform.host
    port = settings.dashboard.port
    return ComponentSpec(
        name="dashboard",
        label="Dashboard",
        argv=[
            venv_bin("streamlit"),
            "run",
            str(PROJECT_ROOT / "dashboard" / "app.py"),
            "--server.address",
            host,
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            # No "Deploy" button: it links to a hosted service, and the platform stays offline.
            "--client.toolbarMode",
            "minimal",
        ],
        env=child_env(settings),
        log_file=logs_dir(settings) / "dashboard.log",
        health=f"http://{host}:{port}/_stcore/health",
        url=f"http://{host}:{port}",
        ports=(port,),
        cwd=PROJECT_ROOT,
    )


def api_spec(settings: Settings) -> ComponentSpec:
    host = settings.platform.host
    port = settings.api.port
    return ComponentSpec(
        name="api",
        label="Platform API",
        argv=[sys.executable, "-m", "api"],
        env=child_env(settings),
        log_file=logs_dir(settings) / "api.log",
        health=f"http://{host}:{port}/api/v1/health",
        url=f"{settings.api.url(host)}/api/v1/docs",
        ports=(port,),
        cwd=PROJECT_ROOT,
    )


APPS: dict[str, Callable[[Settings], ComponentSpec]] = {
    "deployments": deployments_spec,
    "api": api_spec,
    "dashboard": dashboard_spec,
}
