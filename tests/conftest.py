"""Suite-wide test setup: no telemetry, no developer ``.env`` or home-directory state, the server fixtures.

The environment is set at import, before any test module imports Prefect or MLflow (both read their
settings once at import).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.postgres",
    "tests.fixtures.docker",
    "tests.fixtures.browser",
    "tests.fixtures.runner",
    "tests.fixtures.accounts",
    "tests.fixtures.platform_process",
    "tests.fixtures.api_server",
    "tests.fixtures.oidc_issuer",
]

# Subprocesses (containers of the process runtime, flows.serve_all, servers) import this checkout.
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_REPO, os.environ.get("PYTHONPATH")) if p)

_SESSION_HOME = tempfile.mkdtemp(prefix="mlops-tests-")

for _key, _value in {
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # A test that reaches Prefect must use the test server fixture, never a temporary server of Prefect's.
    "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false",
    # A developer's .env and ~/.mlops-lite must never be read or written by tests.
    "MLOPS_ENV_FILE": "/nonexistent",
    "MLOPS_DATA_DIR": os.path.join(_SESSION_HOME, "mlops-data"),
    "MLOPS_SERVER": "",
    "MLOPS_TOKEN": "",
    # Prefect keeps profiles and a local database under its home; keep them out of ~/.prefect.
    "PREFECT_HOME": os.path.join(_SESSION_HOME, "prefect"),
    # `mlops login` stores tokens under the user's config directory: never the developer's.
    "XDG_CONFIG_HOME": os.path.join(_SESSION_HOME, "config"),
}.items():
    os.environ[_key] = _value


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "platform_servers(*names): servers platform_env points at (s3, nats, mlflow, prefect)"
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files with a ``slow`` test run first (each file's tests stay together and in order): with
    ``--dist loadfile --no-loadscope-reorder`` (the Makefile's) the workers start on the long files and the short
    ones fill in at the end, instead of one worker finishing a long file alone. (Without the flag xdist hands
    out the files with the most tests first, which puts the few-test end-to-end files last.)"""
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture
def platform(platform_env: Any) -> Iterator[Any]:
    """``platform_env``, and no inference server left behind afterwards, whatever the test did."""
    yield platform_env
    from infra.runtime.registry import get_runtime

    runtime = get_runtime()
    for status in runtime.list(labels={"kind": "serve"}):
        runtime.remove(status.name, force=True)
