"""`mlops down` on the process runtime: the training and serving processes stop with the platform, unless
``--keep-workloads`` leaves them for the next `mlops up` to find again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.runtime.process import ProcessRuntime
from infra.settings import Settings, get_settings, reset_settings
from tests.infra.runtime.test_process import SLEEP, spec, wait_for


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLOPS_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("MLOPS_RUNTIME_NAME", "process")
    monkeypatch.setenv("MLOPS_RUNTIME_STOP_TIMEOUT_SECONDS", "5")
    reset_settings()
    yield get_settings()
    runtime = ProcessRuntime(get_settings())
    for container in runtime.list():
        runtime.remove(container.name, force=True)
    reset_settings()


def down(*args: str) -> str:
    from cli.main import app

    result = CliRunner().invoke(app, ["down", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_down_stops_the_processes_the_platform_launched(settings: Settings) -> None:
    runtime = ProcessRuntime(settings)
    runtime.start(spec("serve-1", SLEEP))
    runtime.start(spec("train-2", SLEEP))
    wait_for(
        lambda: all(c.is_alive for c in runtime.list()) and len(runtime.list()) == 2, what="both running"
    )

    output = down()

    assert "the platform is not running" in output
    assert "stopping serve-1" in output and "stopping train-2" in output
    assert not any(c.is_alive for c in runtime.list())


def test_keep_workloads_leaves_them_running(settings: Settings) -> None:
    runtime = ProcessRuntime(settings)
    runtime.start(spec("serve-1", SLEEP))
    wait_for(lambda: runtime.status(["serve-1"])["serve-1"].is_alive, what="serve-1 running")

    output = down("--keep-workloads")

    assert "left running: serve-1" in output
    assert runtime.status(["serve-1"])["serve-1"].is_alive
