"""One process serving every deployment of prefect.yaml (started by `mlops up`).

Registers the deployments with the Prefect API, writes a readiness file (``MLOPS_DEPLOYMENTS_READY_FILE``)
once they are all registered, then executes their flow runs as they are requested.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from infra.settings.bridge import export_library_env

export_library_env()

from prefect.runner import Runner  # noqa: E402

from flows.registry import deployments  # noqa: E402
from infra.settings import get_settings  # noqa: E402


def build_runner() -> Runner:
    settings = get_settings()
    runner = Runner(name="mlops-lite", query_seconds=settings.prefect.poll_seconds, limit=None)
    for decl in deployments().values():
        flow_obj = decl.load_flow()
        deployment = flow_obj.to_deployment(
            name=decl.name,
            description=decl.description or None,
            tags=list(decl.tags),
            interval=[timedelta(seconds=s) for s in decl.intervals] or None,
            parameters=decl.parameters or None,
        )
        runner.add_deployment(deployment)
    return runner


def main() -> None:
    runner = build_runner()
    ready = os.environ.get("MLOPS_DEPLOYMENTS_READY_FILE")
    if ready:
        Path(ready).parent.mkdir(parents=True, exist_ok=True)
        Path(ready).write_text(str(os.getpid()))
    try:
        asyncio.run(runner.start())
    finally:
        if ready:
            Path(ready).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
