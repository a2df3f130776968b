"""Roll-out benchmark: a serving that follows ``champion`` switches to the alias's new version while a client
sends at a fixed rate, on the process runtime, for ECOD and Prophet.

Starts private servers (SeaweedFS, MLflow, Prefect) as ``mlops up`` does, a fresh SQLite catalog and the process
runtime (``benchmarks.common.configure_platform``). Per algorithm: one model with two versions (v1, v2: the same
generated data, other params) registered in MLflow from runs the catalog recorded, and a serving on ``champion``
(v1) started by the ``serving-start`` flow. A client process sends one request every 1/rate s (open loop: each
request has its scheduled time, spread over 4 keep-alive connections, so a slow answer delays no later request;
latency counts from the scheduled time, so a late send counts against the server too) for the whole run:
``--steady`` s, then champion moves to v2 (set by hand) and the ``serving-follow`` flow runs (in this process),
``--steady`` s later the rollback service moves it back to v1 and the flow runs again, and so on for
``--switches`` switches, ``--steady`` s after each. A poller reads the server's ``/ready`` every 50 ms (its
version, the load time) and its RSS.

Per switch (the table gives the median and the worst of the algorithm's switches):
- ``moved → all new``: from the alias move until the last answer by the old version arrived (every later answer
  is the new version's): the flow run, the load and warm-up, the swap;
- ``ready → all new``: from the new version ready on the server (at the latest: the last poll still showing the
  old version, so an upper bound) until that last old answer; the swap is one assignment, so this is the old
  version's requests still in flight;
- p99 latency of the requests sent from a move until 1 s after its flow returned (the old model's release
  included), all switches pooled, against the steady p99 (every other request but the first second's);
- failed requests (no answer, or not a 200), and answers whose header and ``metadata.model_version`` disagree.

Bars: 0 failed; ready → all new ≤ 5 s; p99 during the switch ≤ 3 × the steady p99.

Run: ``python -m benchmarks.rollout [--steady S] [--switches N] [--algorithm ECOD|Prophet ...]``.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson
import pandas as pd

from benchmarks.common import configure_platform, start_platform_servers, stop_platform_servers

TARGET_READY_TO_SWITCH_S = 5.0
TARGET_P99_RATIO = 3.0
CONNECTIONS = 4
POLL_SECONDS = 0.05
RELEASE_TAIL_S = 1.0


@dataclass(frozen=True)
class Case:
    algorithm: str
    scenario: str
    rate: float  # requests per second
    v1: dict[str, Any]
    v2: dict[str, Any]
    body: dict[str, Any]


def _ecod_frame(rows: int = 5000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    value = np.sin(np.arange(rows) / 20) + rng.normal(0, 0.2, rows)
    timestamps = pd.date_range("2024-01-01", periods=rows, freq="min").astype(str)
    return pd.DataFrame({"timestamp": timestamps, "value": value.round(5)})


def _daily_frame(days: int = 730) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t = np.arange(days)
    value = 20 + 0.02 * t + 3 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.3, days)
    return pd.DataFrame(
        {"timestamp": pd.date_range("2023-01-02", periods=days, freq="D").astype(str), "value": value}
    )


CASES = {
    # One point per request: the serving benchmark's case, where a stall shows most.
    "ECOD": Case(
        "ECOD",
        "anomaly_detection",
        50.0,
        {"contamination": 0.01},
        {"contamination": 0.05},
        {"data": [{"timestamp": "2024-02-01T00:00:00", "value": 0.3}]},
    ),
    # A 7-day forecast costs ~55 ms in the server here: 10 req/s keeps it at about half a core, a steady state
    # (at 20 req/s requests queue up without end on this 2-core machine).
    "Prophet": Case(
        "Prophet",
        "timeseries_predict",
        10.0,
        {"horizon": 14},
        {"horizon": 14, "changepoint_prior_scale": 0.5},
        {"config": {"steps": 7}},
    ),
}


# -- the client (a process of its own) -------------------------------------------------------------------------
Answer = tuple[
    float, float, float, int | None, str | None, bool
]  # scheduled, sent, received, status, version, agree


def client_main(url: str, token: str, body: bytes, rate: float, stop: Any, out: Any) -> None:
    parts = urlsplit(url)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    answers: list[Answer] = []
    lock = threading.Lock()
    start = time.monotonic() + 0.2

    def connect() -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def worker(k: int) -> None:
        conn = connect()
        i = k
        while not stop.is_set():
            scheduled = start + i / rate
            i += CONNECTIONS
            delay = scheduled - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent = time.monotonic()
            status: int | None = None
            version: str | None = None
            agree = False
            try:
                conn.request("POST", parts.path, body=body, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                status, version = response.status, response.getheader("x-model-version")
                agree = status == 200 and orjson.loads(raw)["metadata"]["model_version"] == version
            except Exception:  # noqa: BLE001 - a failed request is what is counted
                conn.close()
                conn = connect()
            with lock:
                answers.append((scheduled, sent, time.monotonic(), status, version, agree))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.send(answers)


# -- the platform side -----------------------------------------------------------------------------------------
@dataclass
class Poller:
    """``/ready`` (the version answering, its load time) and the server's RSS every ``POLL_SECONDS``."""

    url: str
    pid: int
    samples: list[tuple[float, str | None, float | None]] = field(default_factory=list)
    peak_rss: dict[str, float] = field(default_factory=dict)  # version → peak RSS (MiB) while it answered
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import httpx
        import psutil

        process = psutil.Process(self.pid)
        with httpx.Client(timeout=5, trust_env=False) as client:
            while not self._stop.is_set():
                body = client.get(self.url).json()
                version = body.get("model_version")
                self.samples.append((time.monotonic(), version, body.get("load_seconds")))
                rss = sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20
                self.peak_rss[str(version)] = max(self.peak_rss.get(str(version), 0.0), rss)
                time.sleep(POLL_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def register(case: Case) -> tuple[Any, int, int]:
    """(admin, model id, serving id): the model's two versions recorded, champion on v1, a serving following it."""
    from sqlmodel import select

    from algorithms.base.tracking import log_and_register_model
    from algorithms.registry import get_algorithm
    from catalog.db import session_scope
    from catalog.models import AlgorithmConfig, Dataset, DatasetRelease, JobRun, JobStatus, TrainJob
    from catalog.services import model_promotion, models
    from catalog.services import serving as serving_service
    from catalog.services.init import initialize
    from catalog.services.teams import actor_for
    from infra import tracking

    initialize(admin_password="rollout-pass-1", echo=lambda *a, **k: None)
    algorithm = get_algorithm(case.algorithm)
    frame = _ecod_frame() if case.scenario == "anomaly_detection" else _daily_frame()
    with session_scope() as session:
        admin = actor_for(session, username="admin")
        team_id = min(admin.team_ids)
        model = models.create_model(
            session,
            actor=admin,
            team_id=team_id,
            name=f"bench-{case.algorithm.lower()}",
            scenario=case.scenario,
        )
        dataset = Dataset(team_id=team_id, scenario=case.scenario, name=f"bench-{case.algorithm.lower()}")
        session.add(dataset)
        session.flush()
        release = DatasetRelease(dataset_id=dataset.id, version="v1", status="published")
        session.add(release)
        session.flush()
        algo = session.exec(select(AlgorithmConfig).where(AlgorithmConfig.name == case.algorithm)).one()
        job = TrainJob(
            team_id=team_id,
            scenario=case.scenario,
            name=f"bench-{case.algorithm.lower()}",
            algorithm_id=algo.id,
            release_id=release.id,
            params={},
            status=JobStatus.COMPLETED,
            model_id=model.id,
            model_name=model.mlflow_name,
        )
        session.add(job)
        session.flush()
        model_id, job_id, mlflow_name = int(model.id or 0), int(job.id or 0), model.mlflow_name
    mlflow = tracking.client()
    experiment = tracking.ensure_experiment(mlflow, f"bench-rollout-{case.algorithm.lower()}")
    found: list[models.RegisteredVersion] = []
    for params in (case.v1, case.v2):
        run = mlflow.create_run(experiment)
        with session_scope() as session:
            session.add(JobRun(run_id=run.info.run_id, job_id=job_id, experiment_id=experiment))
        fitted = algorithm.fit(frame, params)
        version = log_and_register_model(
            mlflow,
            run.info.run_id,
            algorithm.pyfunc_model(fitted),
            model_name=mlflow_name,
            pip_requirements=algorithm.pip_requirements(),
            metadata=algorithm.model_metadata(fitted),
            signature=algorithm.signature(),
        )
        mlflow.set_terminated(run.info.run_id)
        found.append(models.RegisteredVersion(int(version.version), run.info.run_id, "FINISHED", {}, {}))
    with session_scope() as session:
        models.record_versions(session, job_id=job_id, versions=found)
        model_promotion.set_alias(session, actor=admin, model_id=model_id, alias="champion", version=1)
        serving = serving_service.create_serving(
            session,
            actor=admin,
            team_id=team_id,
            name=f"follows-{case.algorithm.lower()}",
            model_id=model_id,
            model_version="champion",
        )
        serving_id = int(serving.id or 0)
    return admin, model_id, serving_id


@dataclass(frozen=True)
class Move:
    label: str
    old: str
    new: str
    moved: float
    followed: float


def run_case(case: Case, steady: float, switches: int) -> dict[str, Any]:
    from catalog.db import session_scope
    from catalog.models import Serving
    from catalog.services import model_promotion
    from catalog.services.serving import inference_token
    from flows.serving import serving_follow, serving_start, serving_stop
    from infra.runtime.process import ProcessRuntime
    from tasks.serving import inference_url

    admin, model_id, serving_id = register(case)
    serving_start(serving_id)
    with session_scope() as session:
        serving = session.get(Serving, serving_id)
    assert serving is not None
    url = inference_url(serving)
    state = ProcessRuntime()._read(f"serve-{serving_id}")
    assert state is not None
    poller = Poller(url.removesuffix("/predict") + "/ready", int(state["pid"]))
    ctx = mp.get_context("spawn")
    stop, (receiver, sender) = ctx.Event(), ctx.Pipe(duplex=False)
    client = ctx.Process(
        target=client_main,
        args=(url, inference_token(serving), orjson.dumps(case.body), case.rate, stop, sender),
    )
    client.start()
    moves: list[Move] = []
    try:
        time.sleep(steady + 1.0)
        plan = [(2, "v1 → v2", "1", "2"), (None, "v2 → v1 (rollback)", "2", "1")]
        for version, label, old, new in (plan[i % 2] for i in range(switches)):
            moved = time.monotonic()
            with session_scope() as session:
                if version is None:
                    model_promotion.rollback(session, actor=admin, model_id=model_id)
                else:
                    model_promotion.set_alias(
                        session, actor=admin, model_id=model_id, alias="champion", version=version
                    )
            serving_follow(model_id)
            moves.append(Move(label, old, new, moved, time.monotonic()))
            time.sleep(steady)
    finally:
        stop.set()
        answers: list[Answer] = receiver.recv()
        client.join(30)
        poller.stop()
        serving_stop(serving_id)
    return analyse(case, answers, moves, poller)


def _p99(latencies: list[float]) -> float:
    return float(np.percentile(latencies, 99)) * 1000 if latencies else float("nan")


def analyse(case: Case, answers: list[Answer], moves: list[Move], poller: Poller) -> dict[str, Any]:
    first = min(a[0] for a in answers)
    windows = [(m.moved, m.followed + RELEASE_TAIL_S) for m in moves]

    def in_switch(a: Answer) -> bool:
        return any(lo <= a[0] <= hi for lo, hi in windows)

    steady = [a[2] - a[0] for a in answers if a[0] > first + 1.0 and not in_switch(a)]
    during = [a[2] - a[0] for a in answers if in_switch(a)]
    rows = []
    for i, move in enumerate(moves):
        until = moves[i + 1].moved if i + 1 < len(moves) else float("inf")
        last_old = max((a[2] for a in answers if a[4] == move.old and a[1] < until), default=move.moved)
        # The last poll that still saw the old version: the new one was ready after it (an upper bound).
        before = max((t for t, v, _ in poller.samples if v == move.old and t < until), default=move.moved)
        load = next((s for t, v, s in poller.samples if v == move.new and t > move.moved), float("nan"))
        rows.append(
            {
                "load_s": load,
                "moved_to_all_new_s": max(0.0, last_old - move.moved),
                "ready_to_all_new_s": max(0.0, last_old - before),
            }
        )
    return {
        "case": case,
        "requests": len(answers),
        "p99_switch_ms": _p99(during),
        "max_switch_ms": max(during) * 1000 if during else float("nan"),
        "requests_switch": len(during),
        "failed": sum(1 for a in answers if a[3] != 200),
        "disagree": sum(1 for a in answers if a[3] == 200 and not a[5]),
        "versions": sorted({str(a[4]) for a in answers}),
        "p50_steady_ms": statistics.median(steady) * 1000,
        "p99_steady_ms": _p99(steady),
        "rss_mb": poller.peak_rss,
        "switches": rows,
    }


def report(results: list[dict[str, Any]]) -> bool:
    print(
        "\n| algorithm | req/s | switches | load s (median) | moved → all new s (median / max) "
        "| ready → all new s (max) | steady p50 ms | steady p99 ms | switch p99 ms | p99 ratio | switch max ms "
        "| failed | disagree |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    met = True
    for r in results:
        case: Case = r["case"]
        rows = r["switches"]
        moved = [row["moved_to_all_new_s"] for row in rows]
        ready = max(row["ready_to_all_new_s"] for row in rows)
        ratio = r["p99_switch_ms"] / r["p99_steady_ms"]
        print(
            f"| {case.algorithm} | {case.rate:g} | {len(rows)} | {statistics.median(row['load_s'] for row in rows):.2f} "
            f"| {statistics.median(moved):.2f} / {max(moved):.2f} | {ready:.3f} | {r['p50_steady_ms']:.2f} "
            f"| {r['p99_steady_ms']:.2f} | {r['p99_switch_ms']:.2f} | {ratio:.2f} | {r['max_switch_ms']:.1f} "
            f"| {r['failed']} | {r['disagree']} |"
        )
        met &= ready <= TARGET_READY_TO_SWITCH_S and ratio <= TARGET_P99_RATIO
        met &= r["failed"] == 0 and r["disagree"] == 0
    print()
    for r in results:
        rss = ", ".join(f"v{v} {mb:.0f}" for v, mb in sorted(r["rss_mb"].items()))
        print(
            f"{r['case'].algorithm}: {r['requests']} requests ({r['requests_switch']} during switches), versions "
            f"seen {r['versions']}; server peak RSS (MiB) while each version answered: {rss}"
        )
    print(
        f"\nbars: 0 failed; ready → all new <= {TARGET_READY_TO_SWITCH_S:g} s; switch p99 <= "
        f"{TARGET_P99_RATIO:g} x steady p99: {'met' if met else 'MISSED'}"
    )
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rollout", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--steady", type=float, default=15.0, help="Seconds of steady traffic around each switch."
    )
    parser.add_argument("--switches", type=int, default=6, help="Alias moves per algorithm (forth and back).")
    parser.add_argument("--algorithm", action="append", choices=sorted(CASES), help="Default: all.")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="mlops-bench-rollout-") as tmp:
        settings = configure_platform(Path(tmp))
        servers = start_platform_servers(settings)
        try:
            for name in args.algorithm or list(CASES):
                print(
                    f"{name}: training two versions, starting the serving, {CASES[name].rate:g} req/s ...",
                    flush=True,
                )
                results.append(run_case(CASES[name], args.steady, args.switches))
        finally:
            stop_platform_servers(servers)
    return 0 if report(results) else 1


if __name__ == "__main__":
    sys.exit(main())
