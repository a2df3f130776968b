"""Orchestration benchmark: the platform's own overhead around a training run, and how soon a job ends after
its container exits.

Starts private servers (SeaweedFS, MLflow, Prefect) the way ``mlops up`` does, a fresh SQLite catalog and the
process runtime, with the default training settings (``MLOPS_TRAIN_POLL_SECONDS`` 30 s). For ECOD jobs (small
generated data) it runs the ``train`` flow in this process, alternating two watchdogs in the same run:

- ``event``: the watchdog as it is — it waits for the container's exit (``ContainerRuntime.wait_exit``) or the
  poll interval, whichever comes first;
- ``poll``: the baseline — the same watchdog made to sleep through the whole interval (``pause`` below), which is
  how it behaved before the exit event: the end of a run was noticed by the next 30 s MLflow poll.

For each job, from the wall clock and the runtime's own timestamps:

- start → container running: the flow call until the container process started (claim, MLflow run, launch);
- container running → exit: the training script's own time (interpreter start, imports, fit, model upload);
- exit → job completed: until the watchdog wrote ``completed`` (negative when the watchdog saw the run
  FINISHED before the interpreter finished exiting); run end → completed: from the run's MLflow end time;
- total = call → the later of (job completed, container exited); overhead = total − the script's own time
  (container start → exit).

Targets: with the event, exit → completed p50 ≤ 1 s and max ≤ 2 s; overhead ≤ 3 s per job (median).

Run: ``python -m benchmarks.orchestration [--jobs N] [--baseline-jobs M]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.common import configure_platform, start_platform_servers, stop_platform_servers

TARGET_OVERHEAD_S = 3.0
TARGET_EXIT_P50_S = 1.0
TARGET_EXIT_MAX_S = 2.0
COLUMNS = ["start_to_running", "script", "exit_to_completed", "run_end_to_completed", "total", "overhead"]


def _seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


def poll_only(container: str, wait: Any) -> None:
    """The baseline's pause: sleep the whole interval, never woken by the container's exit."""
    time.sleep(wait.seconds)


def measure_job(seeded: Any, index: int, mode: str) -> dict[str, float]:
    import flows.training
    from flows.watchdog import pause_for_round, watch_job
    from infra.runtime.registry import get_runtime
    from tests.flows.training_support import create_job, job_row

    pause = pause_for_round if mode == "event" else poll_only
    flows.training.watch_job = lambda job_id: watch_job(job_id, pause=pause)  # type: ignore[assignment]
    job_id = create_job(seeded, f"bench-{mode}-{index}")
    called = datetime.now().astimezone()
    try:
        outcome = flows.training.train(job_id)
    finally:
        flows.training.watch_job = watch_job
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
    return {
        "start_to_running": _seconds(called, status.started_at),
        "script": script,
        "exit_to_completed": _seconds(status.finished_at, finished),
        "run_end_to_completed": _seconds(run_end, finished),
        "total": _seconds(called, end),
        "overhead": _seconds(called, end) - script,
        "flow_return": _seconds(finished, returned),
    }


def _table(title: str, rows: list[dict[str, float]]) -> dict[str, float]:
    print(f"\n{title}, {len(rows)} jobs, seconds")
    print("job  " + "  ".join(f"{c:>20}" for c in COLUMNS))
    for i, row in enumerate(rows, 1):
        print(f"{i:<4} " + "  ".join(f"{row[c]:20.2f}" for c in COLUMNS))
    med = {c: statistics.median(r[c] for r in rows) for c in COLUMNS}
    print("p50  " + "  ".join(f"{med[c]:20.2f}" for c in COLUMNS))
    print("max  " + "  ".join(f"{max(r[c] for r in rows):20.2f}" for c in COLUMNS))
    return med


def report(event: list[dict[str, float]], poll: list[dict[str, float]], poll_seconds: float) -> bool:
    """Print both tables and the comparison; True when every target is met."""
    event_med = _table(f"event: exit event or {poll_seconds:g} s poll (as shipped)", event)
    poll_med = _table(f"poll: {poll_seconds:g} s MLflow poll only (baseline, before the exit event)", poll)
    exits = [r["exit_to_completed"] for r in event]
    p50, worst = statistics.median(exits), max(exits)
    print("\n                          event p50   event max   poll p50    poll max   poll p50 / event p50")
    for column in ("exit_to_completed", "total", "overhead"):
        e, b = [r[column] for r in event], [r[column] for r in poll]
        ratio = statistics.median(b) / statistics.median(e) if statistics.median(e) > 0 else float("inf")
        print(
            f"{column:<24} {statistics.median(e):10.2f}  {max(e):10.2f}  {statistics.median(b):10.2f}  "
            f"{max(b):10.2f}   {ratio:8.1f}x"
        )
    met = (
        p50 <= TARGET_EXIT_P50_S and worst <= TARGET_EXIT_MAX_S and event_med["overhead"] <= TARGET_OVERHEAD_S
    )
    print(
        f"\ncontainer exit -> job completed with the event: p50 {p50:.2f} s (target <= {TARGET_EXIT_P50_S:g} s), "
        f"max {worst:.2f} s (target <= {TARGET_EXIT_MAX_S:g} s); baseline p50 {poll_med['exit_to_completed']:.2f} s"
    )
    print(
        f"platform overhead (median) {event_med['overhead']:.2f} s per job (target <= {TARGET_OVERHEAD_S:g} s); "
        f"targets: {'met' if met else 'MISSED'}"
    )
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.orchestration", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--jobs", type=int, default=10, help="Jobs watched with the exit event.")
    parser.add_argument(
        "--baseline-jobs", type=int, default=5, help="Jobs watched by the poll alone (each ~30 s)."
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlops-bench-orch-") as tmp:
        settings = configure_platform(Path(tmp))
        servers = start_platform_servers(settings)
        try:
            from tests.flows.training_support import seed_catalog

            seeded = seed_catalog()
            measure_job(seeded, 0, "event")  # warms caches up; not counted
            # Alternated, so both watchdogs see the same load on the machine.
            rows: dict[str, list[dict[str, float]]] = {"event": [], "poll": []}
            for i, mode in enumerate(_interleave(args.jobs, args.baseline_jobs), 1):
                rows[mode].append(measure_job(seeded, i, mode))
        finally:
            stop_platform_servers(servers)
    report(rows["event"], rows["poll"], settings.training.poll_seconds)
    return 0


def _interleave(event: int, poll: int) -> list[str]:
    """``event`` and ``poll`` spread evenly over one sequence (e.g. 4 and 2: event poll event event poll event)."""
    total = event + poll
    return [
        "poll" if poll and (i * poll) // total != ((i + 1) * poll) // total else "event" for i in range(total)
    ]


if __name__ == "__main__":
    sys.exit(main())
