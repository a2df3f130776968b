"""Serving benchmark: one ECOD model trained on generated data, served three ways, in one run.

(a) ours: ``python -m algorithms.serve`` as a real subprocess; (b) in process: the same model and contract
called directly (request already parsed, response encoded with orjson — the limit, no HTTP); (c) the peer:
``mlflow models serve --env-manager local -w 1`` of the same model directory. Each is measured with 1-point
and 10,000-point requests, sequentially and with 4 concurrent clients (for the HTTP servers every client,
the sequential one too, is a spawned process of its own with its collector off while it times, so the
client's interpreter is never the bottleneck; threads for the in-process case).
Request bodies are encoded before timing; a latency is send → whole response read.

Prints p50/p99 latency and requests/s per case, the ratios against the targets, and whether the scores under
concurrent requests are identical to the sequential ones (and to mlflow's). Run:
``python -m benchmarks.serving [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from benchmarks.common import start_inference_server, wait_http
from infra.net import free_port

HOST = "127.0.0.1"
TOKEN = "benchmark-serving-token"
CLIENTS = 4
SIZES = (1, 10_000)
TARGET_1PT_P50_MS = 1.0
TARGET_1PT_RPS_RATIO = 10.0
TARGET_10K_SPEEDUP = 5.0
TARGET_P99_OVER_P50 = 2.0


# -- model and payloads --------------------------------------------------------------------------------------
def train_model(directory: Path, rows: int = 10_000) -> Path:
    from algorithms.base.tracking import save_pyfunc
    from algorithms.registry import get_algorithm

    rng = np.random.default_rng(0)
    t = np.arange(rows)
    value = np.sin(t / 20) + rng.normal(0, 0.2, rows)
    spikes = rng.choice(rows, rows // 100, replace=False)
    value[spikes] += rng.choice([-5.0, 5.0], len(spikes))
    label = np.zeros(rows, dtype=int)
    label[spikes] = 1
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=rows, freq="min").astype(str),
            "value": value.round(5),
            "label": label,
        }
    )
    algorithm = get_algorithm("ECOD")
    fitted = algorithm.fit(frame, {"contamination": 0.01})
    return save_pyfunc(
        algorithm.pyfunc_model(fitted),
        directory / "model",
        pip_requirements=algorithm.pip_requirements(),
        metadata=algorithm.model_metadata(fitted),
        signature=algorithm.signature(),
    )


def records(size: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(1000 + seed)
    values = rng.normal(0, 1.5, size).round(5).tolist()
    return [
        {"timestamp": f"2024-02-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}", "value": v}
        for i, v in enumerate(values)
    ]


# -- servers -------------------------------------------------------------------------------------------------
def start_ours(model_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    return start_inference_server(model_dir, log, scenario="anomaly_detection", token=TOKEN, timeout=180.0)


def start_mlflow(model_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    # It execs `uvicorn` by name: the venv's bin must be on PATH even when the venv is not activated.
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "PATH": os.pathsep.join([str(mlflow_bin.parent), os.environ.get("PATH", "")]),
    }
    proc = subprocess.Popen(
        [
            str(mlflow_bin),
            "models",
            "serve",
            "-m",
            str(model_dir),
            "--env-manager",
            "local",
            "-w",
            "1",
            "-p",
            str(port),
            "-h",
            HOST,
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    wait_http(port, "/ping", proc)
    return proc, port


def rss_mb(pid: int) -> float:
    import psutil

    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


# -- clients -------------------------------------------------------------------------------------------------
def _connect(port: int) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def http_worker(args: tuple[int, str, list[bytes], list[int]]) -> tuple[list[float], list[tuple[int, bytes]]]:
    """Send bodies[i] for i in order on one keep-alive connection; latencies and (i, raw response)."""
    port, path, bodies, order = args
    conn = _connect(port)
    # Our server checks the token on every request (as the platform runs it); mlflow's ignores the header.
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    latencies, answers = [], []
    # The client's own collector pausing mid-request would be counted as server latency; it is the
    # instrument, not the system measured (the servers' collectors are left as they are).
    gc.disable()
    try:
        for i in order:
            started = time.perf_counter()
            conn.request("POST", path, body=bodies[i], headers=headers)
            response = conn.getresponse()
            raw = response.read()
            latencies.append(time.perf_counter() - started)
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {raw[:300]!r}")
            answers.append((i, raw))
    finally:
        gc.enable()
    conn.close()
    return latencies, answers


def scores_of(raw: bytes) -> tuple[float, ...]:
    body = orjson.loads(raw)
    rows = body["results"] if "results" in body else body["predictions"]
    return tuple(float(r["score"]) for r in rows)


class Case:
    def __init__(self, latencies: list[float], wall: float, scores: dict[int, tuple[float, ...]]) -> None:
        self.p50 = statistics.median(latencies) * 1000
        self.p99 = float(np.percentile(latencies, 99)) * 1000
        self.rps = len(latencies) / wall
        self.count = len(latencies)
        self.scores = scores


def run_http(port: int, path: str, bodies: list[bytes], requests: int, clients: int, pool: Any) -> Case:
    order = [i % len(bodies) for i in range(requests)]
    http_worker((port, path, bodies, order[: max(5, requests // 20)]))  # warm the server's code paths
    shares = [order[c::clients] for c in range(clients)]
    started = time.perf_counter()
    # Even one client runs in a pool process: this process holds mlflow, pandas and the trained model, and
    # its interpreter would be a slower, noisier client than the light spawned ones.
    results = pool.map(http_worker, [(port, path, bodies, share) for share in shares])
    wall = time.perf_counter() - started
    latencies = [lat for lats, _ in results for lat in lats]
    scores: dict[int, tuple[float, ...]] = {}
    mismatched = 0
    for _, answers in results:
        for i, raw in answers:
            got = scores_of(raw)
            if scores.setdefault(i, got) != got:
                mismatched += 1
    if mismatched:
        raise AssertionError(f"{mismatched} responses disagree with another response to the same request")
    return Case(latencies, wall, scores)


def run_in_process(model_dir: Path, payloads: list[dict[str, Any]], requests: int, clients: int) -> Case:
    import mlflow.pyfunc

    from algorithms.base.anomaly import AnomalyContract
    from algorithms.base.contracts import Limits, ServedModel

    pyfunc = mlflow.pyfunc.load_model(str(model_dir))
    served = ServedModel(uri=str(model_dir), pyfunc=pyfunc, python_model=pyfunc.unwrap_python_model())
    contract, limits = AnomalyContract(), Limits()
    order = [i % len(payloads) for i in range(requests)]

    def work(share: list[int], out: list[tuple[float, int, bytes]]) -> None:
        for i in share:
            started = time.perf_counter()
            raw = orjson.dumps(
                contract.predict(payloads[i], served, limits), option=orjson.OPT_SERIALIZE_NUMPY
            )
            out.append((time.perf_counter() - started, i, raw))

    work(order[: max(5, requests // 20)], [])
    outs: list[list[tuple[float, int, bytes]]] = [[] for _ in range(clients)]
    threads = [threading.Thread(target=work, args=(order[c::clients], outs[c])) for c in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    flat = [x for out in outs for x in out]
    scores: dict[int, tuple[float, ...]] = {}
    for _, i, raw in flat:
        if scores.setdefault(i, scores_of(raw)) != scores_of(raw):
            raise AssertionError("in-process concurrent scores disagree")
    return Case([lat for lat, _, _ in flat], wall, scores)


# -- report --------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run, noisier figures)")
    args = parser.parse_args(argv)
    scale = 0.2 if args.quick else 1.0
    counts = {
        ("ours", 1): 4000,
        ("in-process", 1): 4000,
        ("mlflow", 1): 800,
        ("ours", 10_000): 200,
        ("in-process", 10_000): 200,
        ("mlflow", 10_000): 60,
    }
    counts = {k: max(20, int(v * scale)) for k, v in counts.items()}
    distinct = {1: 64, 10_000: 8}
    payloads = {n: [{"data": records(n, seed)} for seed in range(distinct[n])] for n in SIZES}
    ours_bodies = {n: [orjson.dumps(p) for p in payloads[n]] for n in SIZES}
    mlflow_bodies = {n: [orjson.dumps({"dataframe_records": p["data"]}) for p in payloads[n]] for n in SIZES}

    results: dict[tuple[str, int, int], Case] = {}
    memory: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        model_dir = train_model(Path(tmp))
        print(f"model: ECOD on 10,000 generated rows, {model_dir}", flush=True)
        ctx = mp.get_context("spawn")
        with ctx.Pool(CLIENTS) as pool:
            for name, start, path, bodies in (
                ("ours", start_ours, "/predict", ours_bodies),
                ("mlflow", start_mlflow, "/invocations", mlflow_bodies),
            ):
                proc, port = start(model_dir, Path(tmp) / f"{name}.log")
                try:
                    for n in SIZES:
                        for clients in (1, CLIENTS):
                            print(f"  {name}: {n} point(s), {clients} client(s) ...", flush=True)
                            results[(name, n, clients)] = run_http(
                                port, path, bodies[n], counts[(name, n)], clients, pool
                            )
                    memory[name] = rss_mb(proc.pid)
                finally:
                    proc.terminate()
                    proc.wait(30)
        for n in SIZES:
            for clients in (1, CLIENTS):
                print(f"  in-process: {n} point(s), {clients} thread(s) ...", flush=True)
                results[("in-process", n, clients)] = run_in_process(
                    model_dir, payloads[n], counts[("in-process", n)], clients
                )
    return report(results, memory)


def report(results: dict[tuple[str, int, int], Case], memory: dict[str, float]) -> int:
    print("\n| target | points | clients | requests | p50 ms | p99 ms | p99/p50 | req/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for (name, n, clients), c in results.items():
        print(
            f"| {name} | {n} | {clients} | {c.count} | {c.p50:.3f} | {c.p99:.3f} | {c.p99 / c.p50:.2f} "
            f"| {c.rps:,.0f} |"
        )
    print("\nserver memory (RSS, MB): " + ", ".join(f"{k} {v:.0f}" for k, v in memory.items()))
    ours: Callable[[int, int], Case] = lambda n, c: results[("ours", n, c)]
    peer: Callable[[int, int], Case] = lambda n, c: results[("mlflow", n, c)]
    checks: list[tuple[str, float, str, bool]] = []
    checks.append(
        (
            "1-point p50 (ms), ours, sequential",
            ours(1, 1).p50,
            f"< {TARGET_1PT_P50_MS}",
            ours(1, 1).p50 < TARGET_1PT_P50_MS,
        )
    )
    for c in (1, CLIENTS):
        ratio = ours(1, c).rps / peer(1, c).rps
        checks.append(
            (
                f"1-point req/s ours / mlflow, {c} client(s)",
                ratio,
                f">= {TARGET_1PT_RPS_RATIO}",
                ratio >= TARGET_1PT_RPS_RATIO,
            )
        )
        speed = peer(10_000, c).p50 / ours(10_000, c).p50
        checks.append(
            (
                f"10k-point p50 mlflow / ours, {c} client(s)",
                speed,
                f">= {TARGET_10K_SPEEDUP}",
                speed >= TARGET_10K_SPEEDUP,
            )
        )
    for n in SIZES:
        for c in (1, CLIENTS):
            tail = ours(n, c).p99 / ours(n, c).p50
            checks.append(
                (
                    f"p99/p50 ours, {n} point(s), {c} client(s)",
                    tail,
                    f"<= {TARGET_P99_OVER_P50}",
                    tail <= TARGET_P99_OVER_P50,
                )
            )
    for n in SIZES:
        limit = results[("in-process", n, 1)].p50
        print(f"ours / in-process p50, {n} point(s): {ours(n, 1).p50 / limit:.2f}x")
    same = all(ours(n, CLIENTS).scores == ours(n, 1).scores for n in SIZES)
    checks.append(("scores concurrent == sequential (ours)", float(same), "== 1", same))
    agree = all(
        np.allclose(ours(n, 1).scores[i], peer(n, 1).scores[i], rtol=1e-9, atol=0)
        for n in SIZES
        for i in ours(n, 1).scores
        if i in peer(n, 1).scores
    )
    checks.append(("scores ours == mlflow (rtol 1e-9)", float(agree), "== 1", agree))
    print("\n| check | measured | target | met |")
    print("|---|---:|---|---|")
    for label, value, target, ok in checks:
        print(f"| {label} | {value:.2f} | {target} | {'yes' if ok else 'NO'} |")
    return 0 if all(ok for *_, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
