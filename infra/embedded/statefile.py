"""The embedded platform's state file, ``{data_dir}/run/platform.json``: which components run (pid and process
create time, so a reused pid is never mistaken for one), their URLs and health checks, how to stop them, and
what the supervisor's restart rules (``infra.embedded.restarts``) last decided for each. Written atomically by
the foreground `mlops up`; read by `mlops down`, `mlops status` and the dashboard from any process.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import psutil

from infra.embedded.components import run_dir
from infra.embedded.process import RunningComponent
from infra.embedded.restarts import ComponentLife, Phase, describe
from infra.procs import alive
from infra.settings import Settings


def state_file(settings: Settings) -> Path:
    return run_dir(settings) / "platform.json"


def read_state(settings: Settings) -> dict[str, Any] | None:
    try:
        return json.loads(state_file(settings).read_text())
    except (OSError, ValueError):
        return None


def write_state(
    settings: Settings,
    components: list[RunningComponent],
    supervisor_pid: int | None,
    lives: dict[str, ComponentLife] | None = None,
) -> None:
    path = state_file(settings)
    now = time.time()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "supervisor_pid": supervisor_pid,
        "supervisor_create_time": psutil.Process(supervisor_pid).create_time() if supervisor_pid else None,
        "components": [
            {
                "name": c.spec.name,
                "label": c.spec.label,
                "pid": c.pid,
                "create_time": c.create_time,
                "url": c.spec.url,
                "health_url": c.spec.health_url,
                "ports": list(c.spec.ports),
                "log_file": str(c.spec.log_file),
                "stop_grace_seconds": c.spec.stop_grace_seconds,
                "term_signals": c.spec.term_signals,
                **_life_fields((lives or {}).get(c.spec.name), now),
            }
            for c in components
        ],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, path)  # atomic: `down` in another process never reads half a file


def _life_fields(life: ComponentLife | None, now: float) -> dict[str, Any]:
    if life is None:
        return {"phase": Phase.RUNNING.value, "state": "running", "restarts": 0}
    return {
        "phase": life.phase.value,
        "state": describe(life, now=now),
        "restarts": life.restarts,
        "last_exit_code": life.last_exit_code,
    }


def alive_entries(state: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not state:
        return []
    return [c for c in state.get("components", []) if alive(int(c["pid"]), c.get("create_time"))]
