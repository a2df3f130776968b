"""Orchestration benchmark: the platform's own overhead around a training run.

Starts private servers (SeaweedFS, MLflow, Prefect) the way ``mlops up`` does, a fresh SQLite catalog and the
process runtime, with ``MLOPS_TRAIN_POLL_SECONDS=1``. For each of N ECOD jobs (small generated data) it runs
the ``train`` flow in this process and measures, from the wall clock and the runtime's own timestamps:

- start → container running: the flow call until the container process started (claim, MLflow run, launch);
- container running → exit: the training script's own time (interpreter start, imports, fit, model upload);
- exit → job completed: until the watchdog wrote ``completed`` (negative when the watchdog saw the run
  FINISHED before the interpreter finished exiting); run end → completed: from the run's MLflow end time;
- total = call → the later of (job completed, container exited); overhead = total − the script's own time
  (container start → exit). Target: overhead ≤ 3 s per job.

Run: ``python -m benchmarks.orchestration [--jobs N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

TARGET_OVERHEAD_S = 3.0


def _configure(data_dir: Path) -> Any:
    """Ports, data dir and clients' variables; must run before Prefect or MLflow are imported."""
    from infra.net import free_port

    s3_ports = [free_port(companion_offsets=(10000,)) for _ in range(4)]
    env = {
        "MLOPS_ENV_FILE": "/nonexistent", "MLOPS_DATA_DIR": str(data_dir),
        "MLOPS_DATABASE_URL": f"sqlite:///{data_dir / 'catalog.db'}",
        "MLOPS_S3_MASTER_PORT": str(s3_ports[0]), "MLOPS_S3_VOLUME_PORT": str(s3_ports[1]),
        "MLOPS_S3_FILER_PORT": str(s3_ports[2]), "MLOPS_S3_ENDPOINT": f"http://127.0.0.1:{s3_ports[3]}",
        "MLOPS_S3_ACCESS_KEY": "bench-access", "MLOPS_S3_SECRET_KEY": "bench-secret-key",
        "MLOPS_MLFLOW_URI": f"http://127.0.0.1:{free_port()}",
        "MLOPS_PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",
        "MLOPS_PREFECT_RUN_MODE": "inline", "MLOPS_RUNTIME_NAME": "process",
        "MLOPS_TRAIN_POLL_SECONDS": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_HOME": str(data_dir / "prefect-home"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    repo = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p)
    os.environ.update(env)
    from infra.embedded.components import platform_env
    from infra.settings import get_settings, reset_settings

    reset_settings()
    settings = get_settings()
    os.environ.update(platform_env(settings))
    return settings


def _start_servers(settings: Any) -> list[Any]:
    from infra.embedded.components import build_components
    from infra.embedded.process import start_component, wait_healthy
    from infra.objectstore import ObjectStore

    running = []
    for spec in build_components(settings, ["s3", "mlflow", "prefect"]):
        if spec.name == "mlflow":
            store = ObjectStore.from_settings(settings.s3)
            store.ensure_bucket(settings.s3.bucket)
            store.ensure_bucket(settings.s3.artifacts_bucket)
        component = start_component(spec)
        running.append(component)
        wait_healthy(component, 180)
    return running


def _seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


def measure_job(seeded: Any, index: int) -> dict[str, float]:
    from flows.training import train
    from infra.runtime.registry import get_runtime
    from tests.flows.training_support import create_job, job_row

    job_id = create_job(seeded, f"bench-{index}")
    called = datetime.now().astimezone()
    outcome = train(job_id)
    returned = datetime.now().astimezone()
    job = job_row(job_id)
    if outcome["status"] != "completed":
        raise RuntimeError(f"job {job_id} {outcome['status']}: {job.error}\n{job.log_tail}")
    runtime = get_runtime()
    # The script marks its run FINISHED just before its interpreter exits, so the job may complete while
    # the container is still exiting: wait for the exit to read its own timestamps.
    deadline = time.monotonic() + 120
    while (status := runtime.status([job.container_name])[job.container_name]).finished_at is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"container {job.container_name} did not exit: {status}")
        time.sleep(0.05)
    if status.started_at is None:
        raise RuntimeError(f"container {job.container_name} has no start time: {status}")
    from infra import tracking

    run = tracking.get_run(tracking.client(), job.mlflow_run_id)
    run_end = datetime.fromtimestamp((run.end_time or 0) / 1000).astimezone()
    finished = job.finished_at
    script = _seconds(status.started_at, status.finished_at)
    end = max(finished, status.finished_at)
    return {"start_to_running": _seconds(called, status.started_at), "script": script,
            "exit_to_completed": _seconds(status.finished_at, finished),
            "run_end_to_completed": _seconds(run_end, finished), "total": _seconds(called, end),
            "overhead": _seconds(called, end) - script, "flow_return": _seconds(finished, returned)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.orchestration", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlops-bench-orch-") as tmp:
        settings = _configure(Path(tmp))
        servers = _start_servers(settings)
        try:
            from tests.flows.training_support import seed_catalog

            seeded = seed_catalog()
            rows = [measure_job(seeded, i) for i in range(args.jobs + 1)][1:]  # first job warms caches up
        finally:
            from infra.embedded.process import stop_component

            for component in reversed(servers):
                stop_component(component)
    cols = ["start_to_running", "script", "exit_to_completed", "run_end_to_completed", "total", "overhead"]
    print(f"\nprocess runtime, poll 1 s, {len(rows)} jobs (after one warm-up job), seconds")
    print("job  " + "  ".join(f"{c:>20}" for c in cols))
    for i, row in enumerate(rows, 1):
        print(f"{i:<4} " + "  ".join(f"{row[c]:20.2f}" for c in cols))
    med = {c: statistics.median(r[c] for r in rows) for c in cols}
    print("med  " + "  ".join(f"{med[c]:20.2f}" for c in cols))
    verdict = "met" if med["overhead"] <= TARGET_OVERHEAD_S else "MISSED"
    print(f"\nplatform overhead (median) {med['overhead']:.2f} s per job; target ≤ {TARGET_OVERHEAD_S:.0f} s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
