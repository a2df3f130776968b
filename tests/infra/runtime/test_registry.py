"""Tests of the runtime registry: lookup by name, the settings default, and clear errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.runtime import registry
from infra.runtime.base import RuntimeError_
from infra.runtime.process import ProcessRuntime
from infra.runtime.registry import UnknownRuntimeError, get_runtime, get_runtime_class, runtime_names
from infra.settings import get_settings, reset_settings


@pytest.fixture(autouse=True)
def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MLOPS_ENV_FILE", str(tmp_path / "absent.env"))
    reset_settings()
    yield
    reset_settings()


def test_process_runtime_by_name() -> None:
    assert "process" in runtime_names()
    assert get_runtime_class("process") is ProcessRuntime
    runtime = get_runtime("process")
    assert isinstance(runtime, ProcessRuntime)
    assert runtime.state_dir == get_settings().platform.data_dir / "runtime" / "process"


def test_default_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(get_runtime(), ProcessRuntime)
    monkeypatch.setenv("MLOPS_RUNTIME_NAME", "nosuch")
    reset_settings()
    with pytest.raises(UnknownRuntimeError, match="nosuch"):
        get_runtime()


def test_explicit_settings_are_passed_to_the_runtime(tmp_path: Path) -> None:
    settings = get_settings().model_copy(deep=True)
    settings.platform.data_dir = tmp_path / "elsewhere"
    runtime = get_runtime("process", settings=settings)
    assert isinstance(runtime, ProcessRuntime) and runtime.settings is settings
    assert runtime.state_dir == tmp_path / "elsewhere" / "runtime" / "process"


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownRuntimeError) as info:
        get_runtime("podman")
    assert "podman" in str(info.value) and "process" in str(info.value)
    assert isinstance(info.value, LookupError) and isinstance(info.value, RuntimeError_)


def test_backends_are_imported_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.RUNTIMES, "broken", "infra.runtime.no_such_module:Nothing")
    assert "broken" in runtime_names()  # registering imports nothing
    with pytest.raises(RuntimeError_, match="could not be loaded"):
        get_runtime_class("broken")
    monkeypatch.setitem(registry.RUNTIMES, "notaruntime", "infra.runtime.base:ContainerSpec")
    with pytest.raises(RuntimeError_, match="not a ContainerRuntime"):
        get_runtime_class("notaruntime")
