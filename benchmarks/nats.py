"""Benchmark of the NATS interface: ``get_mlops_module_data`` pages against a catalog of many resources,
beside a bare nats-py echo responder measured in the same run.

    python benchmarks/nats.py --rows 100000

Builds a fresh SQLite catalog in a temp dir (``--rows`` resources bulk-inserted: 60 % datasets, 25 % training
jobs, 15 % servings, over two teams and the six scenarios), starts a private nats-server, and runs each
responder in its own process (as in production: the responder flow is a process of its own). The client
asks, as a non-superuser member of team 1, for every page of every sub-module of that team in turn.

Reported per responder: latency with one request in flight (p50/p99 over ``--requests``), and throughput with
``--concurrency`` requests in flight. Also the query plans of the count and page queries, and the time of
the service call alone (no NATS), so the cost can be split between transport and database.
Targets: p99 under 10 ms and at least 500 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on the path, and this file would shadow the nats package.
sys.path[:] = [str(ROOT)] + [
    p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent
]

NAMESPACE = "bench"
SCENARIOS = [
    "anomaly_detection",
    "timeseries_predict",
    "log_clustering",
    "text_classification",
    "image_classification",
    "object_detection",
]
SHARES = {"datasets": 0.60, "training_jobs": 0.25, "servings": 0.15}
ACTOR = {"username": "bench-user"}
TARGET_P99_MS = 10.0
TARGET_RPS = 500.0


# ---------------------------------------------------------------- catalog


def build_catalog(rows: int) -> dict[str, int]:
    """Migrate and bulk-insert ``rows`` resources; returns the row count per (module, scenario) of team 1."""
    from sqlalchemy import insert
    from sqlmodel import Session

    from catalog.db import get_engine, migrate
    from catalog.models import (
        AlgorithmConfig,
        Dataset,
        DatasetRelease,
        Membership,
        Serving,
        Team,
        TrainJob,
        User,
    )
    from catalog.models.base import utcnow

    migrate()
    now = utcnow()
    engine = get_engine()
    with Session(engine) as session:
        teams = [Team(name="bench-1"), Team(name="bench-2")]
        user = User(username=ACTOR["username"], password_hash="unused")  # the bus never checks passwords
        session.add_all([*teams, user])
        session.flush()
        session.add(Membership(user_id=user.id, team_id=teams[0].id))  # type: ignore[arg-type]
        algo = AlgorithmConfig(scenario="anomaly_detection", name="ECOD", display_name="ECOD", image="x")
        seed = Dataset(team_id=teams[0].id, scenario="anomaly_detection", name="seed")  # type: ignore[arg-type]
        session.add_all([algo, seed])
        session.flush()
        release = DatasetRelease(dataset_id=seed.id, version="v1")  # type: ignore[arg-type]
        session.add(release)
        session.commit()
        team_ids = [t.id for t in teams]
        algo_id, release_id = algo.id, release.id

    n_ds, n_jobs = int(rows * SHARES["datasets"]), int(rows * SHARES["training_jobs"])
    n_sv = rows - n_ds - n_jobs
    counts: dict[str, int] = {}

    def spread(i: int) -> tuple[int, str]:
        return team_ids[i % 2], SCENARIOS[(i // 2) % len(SCENARIOS)]  # type: ignore[return-value]

    def common(i: int, prefix: str) -> dict[str, Any]:
        team, scenario = spread(i)
        return {
            "team_id": team,
            "scenario": scenario,
            "name": f"{prefix}-{i:07d}",
            "created_at": now,
            "updated_at": now,
        }

    with engine.begin() as conn:
        conn.execute(insert(Dataset), [{**common(i, "ds"), "description": ""} for i in range(n_ds)])
        conn.execute(
            insert(TrainJob),
            [
                {
                    **common(i, "job"),
                    "description": "",
                    "algorithm_id": algo_id,
                    "release_id": release_id,
                    "params": {},
                    "max_evals": 0,
                    "status": "completed",
                    "config_revision": 0,
                }
                for i in range(n_jobs)
            ],
        )
        first_job = conn.exec_driver_sql("SELECT min(id) FROM train_job").scalar()
        conn.execute(
            insert(Serving),
            [
                {
                    **common(i, "svc"),
                    "train_job_id": first_job,
                    "model_version": "latest",
                    "desired_state": "stopped",
                    "observed_state": "unknown",
                    "observed_detail": "",
                    "observed_stale": False,
                }
                for i in range(n_sv)
            ],
        )
        conn.exec_driver_sql("ANALYZE")
    for module, n in (("datasets", n_ds), ("training_jobs", n_jobs), ("servings", n_sv)):
        for scenario in SCENARIOS:
            counts[f"{module}/{scenario}"] = sum(1 for i in range(n) if spread(i) == (team_ids[0], scenario))
    counts["datasets/anomaly_detection"] += 1  # the seed dataset
    return counts


def request_plan(counts: dict[str, int], page_size: int) -> list[tuple[str, str, int]]:
    """Every page of every sub-module of team 1, in order."""
    plan = []
    for key, n in counts.items():
        module, scenario = key.split("/")
        plan += [(module, scenario, page) for page in range(1, max(1, -(-n // page_size)) + 1)]
    return plan


def query_plans(page_size: int) -> list[str]:
    from sqlalchemy.dialects import sqlite
    from sqlmodel import Session, col, func, select

    from catalog.db import get_engine
    from catalog.services.modules import MODULES

    lines = []
    with Session(get_engine()) as session:
        for module in MODULES.values():
            m = module.model
            where = (col(m.team_id).in_([1]), col(m.team_id) == 1, col(m.scenario) == "anomaly_detection")  # type: ignore[attr-defined]
            count = select(func.count()).select_from(m).where(*where)
            page = select(col(m.id), col(m.name)).where(*where).order_by(col(m.name), col(m.id))  # type: ignore[attr-defined]
            page = page.offset(page_size * 3).limit(page_size)
            for label, stmt in (("count", count), ("page", page)):
                sql = str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
                plan = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
                lines.append(f"{module.name:<14} {label:<5} " + " | ".join(str(r[-1]) for r in plan))
    return lines


def direct_calls(plan: list[tuple[str, str, int]], page_size: int, n: int) -> list[float]:
    """Milliseconds of the responder's handler called in this process: the database and service part."""
    from flows.nats_responder import get_mlops_module_data

    out = []
    for i in range(n):
        module, scenario, page = plan[i % len(plan)]
        start = time.perf_counter()
        get_mlops_module_data(module, scenario, page, page_size, 1, ACTOR)
        out.append((time.perf_counter() - start) * 1000)
    return out


# ---------------------------------------------------------------- responders (child processes)


async def serve(kind: str, url: str) -> None:
    import nats

    if kind == "echo":
        from infra.settings import get_settings

        responder = get_settings().nats  # the responder user, as the platform's responders connect
        nc = await nats.connect(url, user=responder.user, password=responder.password)

        async def echo(msg: Any) -> None:
            await msg.respond(msg.data)

        await nc.subscribe(f"{NAMESPACE}.echo", queue="bench", cb=echo)
        await nc.flush()
        print("ready", flush=True)
        await asyncio.Event().wait()
    else:
        from flows.nats_responder import serve as serve_modules  # exactly what the responder flow runs

        await serve_modules(lambda: print("ready", flush=True))


def start_responder(kind: str, url: str, env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--url", url],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the child has subscribed (or died)
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError(f"{kind} responder failed to start (exit {proc.wait()})")
    return proc


# ---------------------------------------------------------------- client


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def measure(
    url: str, subject: str, bodies: list[bytes], *, concurrency: int, responders: list[subprocess.Popen[str]]
) -> dict[str, float]:
    import nats
    import orjson
    import psutil

    procs = [psutil.Process(r.pid) for r in responders]

    from infra.settings import get_settings

    caller = get_settings().nats  # the client user other systems call the platform as
    nc = await nats.connect(
        url,
        user=caller.client_user,
        password=caller.client_password,
        inbox_prefix=caller.client_inbox_prefix,
    )
    try:
        for body in bodies[:100]:  # warm-up: connections, caches, the first-call costs
            await nc.request(subject, body, timeout=10)
        cpu_before = sum(sum(p.cpu_times()[:2]) for p in procs)
        latencies: list[float] = []
        for body in bodies:
            start = time.perf_counter()
            msg = await nc.request(subject, body, timeout=10)
            latencies.append((time.perf_counter() - start) * 1000)
            if subject.endswith("module_data") and not orjson.loads(msg.data)["success"]:
                raise RuntimeError(f"request failed: {msg.data[:300]!r}")
        queue = list(bodies)

        async def worker() -> None:
            while queue:
                await nc.request(subject, queue.pop(), timeout=10)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        # CPU time of the responder process(es) per request: the cost, whatever else the machine is doing.
        cpu_ms = (sum(sum(p.cpu_times()[:2]) for p in procs) - cpu_before) * 1000 / (2 * len(bodies))
    finally:
        await nc.close()
    return {
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 99),
        "max": max(latencies),
        "rps_serial": len(latencies) / (sum(latencies) / 1000),
        "rps": len(bodies) / elapsed,
        "cpu_ms": cpu_ms,
        "latencies": latencies,
    }  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument(
        "--responders",
        type=int,
        default=1,
        help="module-data responders in the queue group (each its own process)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="MLOPS_NATS_WORKERS of each responder (default: the setting's default)",
    )
    parser.add_argument("--serve", choices=["echo", "modules"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.url))
        return
    run_benchmark(args)


def run_benchmark(args: argparse.Namespace) -> None:
    import orjson

    from infra.embedded.components import nats_spec
    from infra.embedded.process import start_component, stop_component, wait_healthy
    from infra.net import free_port
    from infra.settings import NatsSettings, PlatformSettings, Settings, reset_settings

    tmp = Path(tempfile.mkdtemp(prefix="mlops-bench-nats-"))
    url = f"nats://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "MLOPS_ENV_FILE": "/nonexistent",
        "MLOPS_DATA_DIR": str(tmp),
        "MLOPS_DATABASE_URL": f"sqlite:///{tmp / 'catalog.db'}",
        "MLOPS_NATS_URL": url,
        "MLOPS_NATS_NAMESPACE": NAMESPACE,
        "MLOPS_NATS_MAX_PAGE_SIZE": str(args.page_size),
        "PYTHONPATH": str(ROOT),
        **({"MLOPS_NATS_WORKERS": str(args.workers)} if args.workers else {}),
    }
    os.environ.update(env)
    reset_settings()
    # Made after the environment: its generated credentials are the temp data dir's, as the children's are.
    nats_settings = NatsSettings(url=url, monitor_port=free_port(), embedded=False, namespace=NAMESPACE)

    started = time.perf_counter()
    counts = build_catalog(args.rows)
    print(
        f"catalog: {args.rows:,} resources inserted in {time.perf_counter() - started:.1f} s; team 1 holds "
        f"{sum(counts.values()):,} of them"
    )
    plan = request_plan(counts, args.page_size)
    print(f"{len(plan)} distinct pages of up to {args.page_size} across the 18 sub-modules of team 1\n")
    print("query plans:\n  " + "\n  ".join(query_plans(args.page_size)) + "\n")
    direct = direct_calls(plan, args.page_size, min(args.requests, 500))

    server = start_component(nats_spec(Settings(platform=PlatformSettings(data_dir=tmp), nats=nats_settings)))
    children: list[subprocess.Popen[str]] = []
    try:
        wait_healthy(server, 30)
        data_bodies = [
            orjson.dumps({"args": [m, s, p, args.page_size, 1, ACTOR]})
            for m, s, p in (plan[i % len(plan)] for i in range(args.requests))
        ]
        children.append(start_responder("echo", nats_settings.url, env))
        # The echo payload is a page-sized reply, so both sides move comparable bytes.
        echo_body = orjson.dumps({"items": [{"id": i, "name": f"ds-{i:07d}"} for i in range(args.page_size)]})
        echo = asyncio.run(
            measure(
                nats_settings.url,
                f"{NAMESPACE}.echo",
                [echo_body] * args.requests,
                concurrency=args.concurrency,
                responders=children[:1],
            )
        )
        children += [start_responder("modules", nats_settings.url, env) for _ in range(args.responders)]
        data = asyncio.run(
            measure(
                nats_settings.url,
                f"{NAMESPACE}.get_mlops_module_data",
                data_bodies,
                concurrency=args.concurrency,
                responders=children[1:],
            )
        )
    finally:
        for child in children:
            child.kill()
            child.wait()
        stop_component(server)
    report(args, echo, data, direct)
    modules = [m for m, _, _ in (plan[i % len(plan)] for i in range(args.requests))]
    print(
        "\nper module, 1 in flight: "
        + "; ".join(
            f"{name} p50 {statistics.median(xs):.2f} ms, p99 {percentile(xs, 99):.2f} ms"
            for name in dict.fromkeys(modules)
            for xs in [[lat for lat, m in zip(data["latencies"], modules, strict=True) if m == name]]
        )
    )  # type: ignore[arg-type]


def report(
    args: argparse.Namespace, echo: dict[str, float], data: dict[str, float], direct: list[float]
) -> None:
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print(
        f"| responder ({args.requests} requests) | p50 ms | p99 ms | max ms | req/s, 1 in flight | "
        f"req/s, {args.concurrency} in flight | responder CPU ms/req |"
    )
    print("|---|---|---|---|---|---|---|")
    workers = args.workers or int(os.environ.get("MLOPS_NATS_WORKERS", "0")) or "default"
    label = f"get_mlops_module_data, pages of {args.page_size}, {args.responders} responder(s) x {workers} worker(s)"
    for name, r in (("bare nats-py echo (page-sized payload)", echo), (label, data)):
        print(
            f"| {name} | {r['p50']:.2f} | {r['p99']:.2f} | {r['max']:.2f} | {r['rps_serial']:.0f} | {r['rps']:.0f} "
            f"| {r['cpu_ms']:.2f} |"
        )
    print(
        f"| handler called directly, no NATS ({len(direct)} calls) | {statistics.median(direct):.2f} | "
        f"{percentile(direct, 99):.2f} | {max(direct):.2f} | {1000 / statistics.mean(direct):.0f} | - | - |"
    )
    print(
        f"\nratios module_data / echo: p50 x{data['p50'] / echo['p50']:.1f}, p99 x{data['p99'] / echo['p99']:.1f}, "
        f"throughput x{data['rps'] / echo['rps']:.2f}"
    )
    p99_ok, rps_ok = data["p99"] < TARGET_P99_MS, max(data["rps"], data["rps_serial"]) >= TARGET_RPS
    print(
        f"targets: p99 < {TARGET_P99_MS:g} ms: {'met' if p99_ok else 'MISSED'} ({data['p99']:.2f} ms); "
        f">= {TARGET_RPS:g} req/s: {'met' if rps_ok else 'MISSED'} ({data['rps']:.0f} req/s)"
    )


if __name__ == "__main__":
    main()
