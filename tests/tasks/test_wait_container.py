"""``tasks.training.wait_container``: the watchdog's wait between rounds. A runtime that cannot be waited on (here
a Docker engine that does not exist) costs only the early wake-up: the interval is slept, nothing is raised."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import tasks.training
from infra.settings import reset_settings


@pytest.fixture
def unreachable_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLOPS_RUNTIME_NAME", "docker")
    monkeypatch.setenv("MLOPS_RUNTIME_DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    reset_settings()
    yield
    reset_settings()


def test_an_unreachable_runtime_falls_back_to_sleeping(
    unreachable_docker: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(tasks.training.time, "sleep", slept.append)
    caplog.set_level(logging.WARNING, logger="tasks.training")
    tasks.training.wait_container("train-1", 30.0, wake_on_exit=True)
    assert len(slept) == 1 and 0 < slept[0] <= 30.0
    assert "cannot wait for container train-1 to end" in caplog.text and "unreachable" in caplog.text


def test_without_waking_it_only_sleeps(
    unreachable_docker: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(tasks.training.time, "sleep", slept.append)
    tasks.training.wait_container("train-1", 30.0, wake_on_exit=False)
    assert len(slept) == 1 and 29.0 < slept[0] <= 30.0
    assert "cannot wait" not in caplog.text  # the runtime was not even asked
