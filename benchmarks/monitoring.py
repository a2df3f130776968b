"""Monitoring benchmark, first part: what the prediction log (``algorithms.serve.predlog``) costs an answer.

One ECOD model trained on generated data (``benchmarks.serving``); ``python -m algorithms.serve`` as a real
subprocess, once without the log and once logging every request (rate 1, no cap in reach) while a collector in
this process pulls the batches every second as the platform does (``GET /admin/predictions``, control token).
Each: 1-point and 10k-point requests, sequential and 4 concurrent clients (spawned processes). Afterwards every
answered request must have been collected.

Bar (issue: monitoring): /predict p50 and req/s with logging on at most 10 % worse than off.
Run: ``python -m benchmarks.monitoring [--quick]``.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import tempfile
import threading
from pathlib import Path

import orjson

from benchmarks.common import start_inference_server
from benchmarks.serving import CLIENTS, TOKEN, Case, records, run_http, train_model

TARGET_SLOWDOWN = 0.10
SIZES = (1, 10_000)
CONTROL = "benchmark-control-token"
PULL_SECONDS = 1.0


class Collector(threading.Thread):
    """Pulls the server's batches every ``PULL_SECONDS`` and counts the records (the platform writes them)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.after = 0
        self.collected = 0
        self.stop = threading.Event()

    def pull(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(
                "GET",
                f"/admin/predictions?after={self.after}&limit=10000",
                headers={"Authorization": f"Bearer {CONTROL}"},
            )
            answer = conn.getresponse()
            answer.read()
            if answer.status == 204:
                return False
            first, last = int(answer.getheader("x-first-seq")), int(answer.getheader("x-last-seq"))
            self.collected += last - first + 1
            self.after = last
            return int(answer.getheader("x-remaining")) > 0
        finally:
            conn.close()

    def run(self) -> None:
        while not self.stop.wait(PULL_SECONDS):
            while self.pull():
                pass

    def finish(self) -> int:
        self.stop.set()
        self.join(60)
        while self.pull():
            pass
        return self.collected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run, noisier figures)")
    args = parser.parse_args(argv)
    scale = 0.2 if args.quick else 1.0
    counts = {1: max(300, int(3000 * scale)), 10_000: max(20, int(150 * scale))}
    bodies = {size: [orjson.dumps({"data": records(size, seed)}) for seed in range(8)] for size in SIZES}
    results: dict[tuple[str, int, int], Case] = {}
    logged = sent = 0
    with tempfile.TemporaryDirectory(prefix="mlops-bench-monitoring-") as tmp:
        root = Path(tmp)
        model_dir = train_model(root)
        with mp.get_context("spawn").Pool(CLIENTS) as pool:
            log_env = {
                "MLOPS_PREDICTION_LOG_ENABLED": "true",
                "MLOPS_PREDICTION_LOG_PER_MINUTE": "1000000",
                "MLOPS_PREDICTION_LOG_BUFFER_RECORDS": "1000000",
                # The cost of logging is measured here, not what a full buffer drops.
                "MLOPS_PREDICTION_LOG_BUFFER_BYTES": str(4 * 1024**3),
                "MLOPS_PREDICTION_LOG_MAX_BODY_BYTES": str(16 * 1024 * 1024),
            }
            for mode, extra in (("off", {}), ("on", log_env)):
                env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_PREDICTION_LOG_")}
                env["MLOPS_SERVING_CONTROL_TOKEN"] = CONTROL
                proc, port = start_inference_server(
                    model_dir,
                    root / f"{mode}.log",
                    scenario="anomaly_detection",
                    token=TOKEN,
                    env={**env, **extra},
                )
                collector = Collector(port)
                if mode == "on":
                    collector.start()
                try:
                    for size in SIZES:
                        for clients in (1, CLIENTS):
                            print(f"  logging {mode}, {size} point(s), {clients} client(s) ...", flush=True)
                            case = run_http(port, "/predict", bodies[size], counts[size], clients, pool)
                            results[(mode, size, clients)] = case
                            if mode == "on":
                                # run_http warms up with a twentieth of the requests (at least 5) first.
                                sent += case.count + max(5, counts[size] // 20)
                    if mode == "on":
                        logged = collector.finish()
                finally:
                    proc.terminate()
                    proc.wait(60)
    return report(results, sent, logged)


def report(results: dict[tuple[str, int, int], Case], sent: int, logged: int) -> int:
    print("\n| logging | points | clients | requests | p50 ms | p99 ms | req/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (mode, size, clients), c in results.items():
        print(f"| {mode} | {size} | {clients} | {c.count} | {c.p50:.3f} | {c.p99:.3f} | {c.rps:,.0f} |")
    checks = []
    for size in SIZES:
        for clients in (1, CLIENTS):
            off, on = results[("off", size, clients)], results[("on", size, clients)]
            p50 = on.p50 / off.p50 - 1
            rps = 1 - on.rps / off.rps
            label = f"{size} point(s), {clients} client(s)"
            checks.append((f"p50 slower with logging, {label}", p50, TARGET_SLOWDOWN))
            checks.append((f"req/s lower with logging, {label}", rps, TARGET_SLOWDOWN))
    print(f"\nrecords collected: {logged} of {sent} answered")
    print("\n| check | measured | target | met |")
    print("|---|---:|---|---|")
    met = True
    for label, value, bar in checks:
        ok = value <= bar
        met &= ok
        print(f"| {label} | {value:+.1%} | <= {bar:.0%} | {'yes' if ok else 'NO'} |")
    complete = logged == sent
    print(f"| every answered request collected | {logged}/{sent} | all | {'yes' if complete else 'NO'} |")
    return 0 if met and complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
