"""The CLI starts without the platform's heavy libraries: building the command tree and `mlops --help` import
no catalog, settings, Prefect or MLflow, and `mlops datasets list` only the SDK (cli.main says how).
Checked on real `mlops` processes by what they imported (``sys.modules`` at exit), not by how long they took:
the times are in benchmarks/cli.py. An error of a module a command imported in its body keeps its exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalog.errors import ConflictError, NotFoundError
from cli.common import ExitCode, failure

# Libraries no CLI start may pay for unless the command uses them.
HEAVY = (
    "prefect",
    "mlflow",
    "pandas",
    "numpy",
    "torch",
    "sklearn",
    "boto3",
    "botocore",
    "minio",
    "httpx",
    "fastapi",
    "streamlit",
)
# What building the command tree may not import either: the catalog's and the settings' libraries.
TREE_HEAVY = (*HEAVY, "sqlalchemy", "sqlmodel", "pydantic", "pydantic_settings", "argon2")
PLATFORM = ("catalog", "infra", "tasks", "flows", "algorithms", "dashboard")
# catalog.errors quotes values with algorithms.params.values (standard library only; the packages' __init__ run).
TREE_PLATFORM_ALLOWED = {
    "catalog",
    "catalog.errors",
    "flows",
    "flows.outcomes",
    "algorithms",
    "algorithms.params",
    "algorithms.params.values",
}

# `python -m cli ARGS` (runpy, as -m does), writing the names in sys.modules to $MODULES_OUT when it exits.
MLOPS = (
    "import atexit, json, os, runpy, sys\n"
    "atexit.register(lambda: open(os.environ['MODULES_OUT'], 'w').write(json.dumps(sorted(sys.modules))))\n"
    "runpy.run_module('cli', run_name='__main__', alter_sys=True)\n"
)
# Every module of the CLI imported, cli.follow included (only command bodies import it), nothing run.
EVERY_CLI_MODULE = (
    "import json, os, pkgutil, importlib, sys, cli\n"
    "for m in pkgutil.iter_modules(cli.__path__):\n"
    "    m.name == '__main__' or importlib.import_module('cli.' + m.name)\n"
    "open(os.environ['MODULES_OUT'], 'w').write(json.dumps(sorted(sys.modules)))\n"
)


def imported(
    code: str, args: list[str], env: dict[str, str], out: Path
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run Python ``code`` with ``args`` in a new process; the process and the modules it had imported."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**env, "MODULES_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result, set(json.loads(out.read_text())) if out.exists() else set()


def roots(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in names)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a CLI process on a catalog of its own (SQLite under ``tmp_path``)."""
    env = {key: value for key, value in os.environ.items() if key not in ("MLOPS_USER", "MLOPS_PASSWORD")}
    data = tmp_path / "data"
    return {
        **env,
        "MLOPS_ENV_FILE": "/nonexistent",
        "MLOPS_DATA_DIR": str(data),
        "MLOPS_DATABASE_URL": f"sqlite:///{data / 'catalog.db'}",
        "MLOPS_ADMIN_PASSWORD": "startup-pass-123",
    }


def test_the_command_tree_and_help_import_nothing_heavy(cli_env: dict[str, str], tmp_path: Path) -> None:
    result, modules = imported(MLOPS, ["--help"], cli_env, tmp_path / "help.json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "datasets" in result.stdout and "servings" in result.stdout
    assert roots(modules, TREE_HEAVY) == []
    assert set(roots(modules, PLATFORM)) <= TREE_PLATFORM_ALLOWED

    result, modules = imported(EVERY_CLI_MODULE, [], cli_env, tmp_path / "modules.json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert {"cli.follow", "cli.datasets", "cli.training", "cli.serving", "cli.models", "cli.demo"} <= modules
    assert roots(modules, TREE_HEAVY) == []
    assert set(roots(modules, PLATFORM)) <= TREE_PLATFORM_ALLOWED


@pytest.mark.platform_servers("s3")
def test_datasets_list_from_any_machine_imports_no_catalog(api_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`mlops --server URL datasets list` with only a token: the SDK (httpx, pydantic) and nothing of the
    catalog, the object store, Prefect or the data libraries."""
    with api_server.client() as admin:
        admin.datasets.create("cpu", "anomaly_detection")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONPATH": os.environ["PYTHONPATH"],
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "MLOPS_TOKEN": api_server.operator_token,
        "MLOPS_ENV_FILE": "/nonexistent",
    }
    args = ["--server", api_server.url, "datasets", "list", "--json"]
    result, modules = imported(MLOPS, args, env, tmp_path / "list.json")
    assert result.returncode == 0, result.stderr[-3000:]
    listed = json.loads(result.stdout)
    assert listed["count"] == 1 and listed["items"][0]["name"] == "cpu"
    assert {"mlops_lite.client.datasets", "httpx"} <= modules  # it asked the API
    assert {m.split(".")[0] for m in roots(modules, HEAVY)} == {"httpx"}
    assert not {"catalog.db", "catalog.services", "sqlmodel", "sqlalchemy"} & modules
    assert roots(modules, ("tasks", "flows")) in ([], ["flows", "flows.outcomes"])


def test_errors_of_modules_imported_in_command_bodies_keep_their_exit_codes() -> None:
    from flows.launch import PrefectUnreachable

    assert failure(PrefectUnreachable("Prefect at http://x did not answer")) == (
        "Prefect at http://x did not answer",
        ExitCode.UNREACHABLE,
    )
    assert failure(ConflictError("taken")) == ("taken", ExitCode.CONFLICT)
    assert failure(NotFoundError("dataset", 7)) == ("dataset 7 not found", ExitCode.FAILED)
    assert failure(RuntimeError("broken")) == ("broken", ExitCode.FAILED)
    assert failure(KeyError("k")) == ("'k'", ExitCode.FAILED)  # a LookupError: its own message
    assert failure(ZeroDivisionError("x")) == ("ZeroDivisionError: x", ExitCode.FAILED)
    assert failure(ValueError("v" * 5000))[0].endswith("(5000 characters)")
