"""The platform's deployments as declared in prefect.yaml, loaded into flow objects by name."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from prefect import Flow

PREFECT_YAML = Path(__file__).resolve().parent.parent / "prefect.yaml"


@dataclass(frozen=True, slots=True)
class DeploymentDecl:
    name: str
    entrypoint: str
    description: str = ""
    tags: tuple[str, ...] = ()
    intervals: tuple[float, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    # prefect.yaml's ``concurrency_limit`` (``limit`` and ``collision_strategy``), as `prefect deploy` reads it.
    concurrency: dict[str, Any] | None = None

    def load_flow(self) -> Flow[..., Any]:
        path, attr = self.entrypoint.split(":", 1)
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow_obj = getattr(module, attr)
        if not isinstance(flow_obj, Flow):
            raise TypeError(f"{self.entrypoint} is not a Prefect flow")
        return flow_obj

    @property
    def full_name(self) -> str:
        """``<flow name>/<deployment name>`` as Prefect addresses deployments."""
        return f"{self.load_flow().name}/{self.name}"


@lru_cache(maxsize=1)
def deployments() -> dict[str, DeploymentDecl]:
    raw = yaml.safe_load(PREFECT_YAML.read_text())
    out: dict[str, DeploymentDecl] = {}
    for item in raw.get("deployments", []):
        intervals = tuple(float(s["interval"]) for s in item.get("schedules") or [] if "interval" in s)
        out[item["name"]] = DeploymentDecl(
            name=item["name"],
            entrypoint=item["entrypoint"],
            description=item.get("description", ""),
            tags=tuple(item.get("tags") or ()),
            intervals=intervals,
            parameters=item.get("parameters") or {},
            concurrency=item.get("concurrency_limit"),
        )
    return out


def get_flow(name: str) -> Flow[..., Any]:
    try:
        return deployments()[name].load_flow()
    except KeyError:
        known = ", ".join(sorted(deployments()))
        raise KeyError(f"unknown deployment {name!r}; known: {known}") from None
