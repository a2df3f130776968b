"""The one table of container runtime backends, by name, and ``get_runtime`` to build the chosen one.

Entries are ``"module:Class"`` strings imported on first use, so a backend's SDK (docker, kubernetes) is
imported only when that backend is chosen. Every backend class takes ``settings`` as a keyword argument.
"""

from __future__ import annotations

import importlib

from infra.runtime.base import ContainerRuntime, RuntimeError_
from infra.settings import Settings, get_settings

# Backends register here: name -> "module:Class".
RUNTIMES: dict[str, str] = {
    "process": "infra.runtime.process:ProcessRuntime",
    "docker": "infra.runtime.docker:DockerRuntime",
    "kubernetes": "infra.runtime.kubernetes:KubernetesRuntime",
}


class UnknownRuntimeError(RuntimeError_, LookupError):
    """No runtime of that name is registered."""


def register_runtime(name: str, target: str) -> None:
    """Add (or replace) a backend; ``target`` is ``"module:Class"``."""
    if ":" not in target:
        raise ValueError(f"runtime target must be 'module:Class', got {target!r}")
    RUNTIMES[name] = target


def runtime_names() -> list[str]:
    return sorted(RUNTIMES)


def get_runtime_class(name: str) -> type[ContainerRuntime]:
    try:
        target = RUNTIMES[name]
    except KeyError:
        raise UnknownRuntimeError(
            f"unknown container runtime {name!r}; known runtimes: {', '.join(runtime_names())}"
        ) from None
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise RuntimeError_(f"container runtime {name!r} ({target}) could not be loaded: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, ContainerRuntime)):
        raise RuntimeError_(f"container runtime {name!r} ({target}) is not a ContainerRuntime")
    return cls


def get_runtime(name: str | None = None, *, settings: Settings | None = None) -> ContainerRuntime:
    """The runtime ``name`` (default: ``settings.runtime.name``), built with ``settings``."""
    settings = settings or get_settings()
    cls = get_runtime_class(name or settings.runtime.name)
    return cls(settings=settings)  # type: ignore[call-arg]
