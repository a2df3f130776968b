"""Monitoring benchmark, first part: what the prediction log (``algorithms.serve.predlog``) costs an answer.

One ECOD model trained on generated data (``benchmarks.serving``); ``python -m algorithms.serve`` as a real
subprocess, once without the log and once logging every request (rate 1, no cap in reach) to a private SeaweedFS
started as the platform starts it, with the platform's batch settings. Each: 1-point and 10k-point requests,
sequential and 4 concurrent clients (spawned processes). The records written are then counted in the store:
after the server's clean stop every answered request must be there.

Bar (issue: monitoring): /predict p50 and req/s with logging on at most 10 % worse than off.
Run: ``python -m benchmarks.monitoring [--quick]``.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import signal
import tempfile
from pathlib import Path

import orjson

from benchmarks.common import seaweedfs, start_inference_server
from benchmarks.serving import CLIENTS, TOKEN, Case, records, run_http, train_model
from infra.settings import ObjectStoreSettings

TARGET_SLOWDOWN = 0.10
SIZES = (1, 10_000)


def count_logged(s3: ObjectStoreSettings, bucket: str) -> int:
    import pyarrow.parquet as pq

    from infra.objectstore import ObjectStore

    store = ObjectStore(s3, bucket=bucket)
    return sum(
        pq.read_metadata(io.BytesIO(store.get_bytes(o.key))).num_rows for o in store.list("predictions/")
    )


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
        with seaweedfs(root / "s3") as s3, mp.get_context("spawn").Pool(CLIENTS) as pool:
            from infra.objectstore import ObjectStore

            bucket = "predlog"
            ObjectStore(s3, bucket=bucket).ensure_bucket(bucket)
            log_env = {
                "MLOPS_PREDICTION_LOG_URI": f"s3://{bucket}/predictions/serving=1",
                "MLOPS_PREDICTION_LOG_MAX_BODY_BYTES": str(16 * 1024 * 1024),
                "MLOPS_S3_ENDPOINT": s3.endpoint,
                "AWS_ACCESS_KEY_ID": s3.access_key,
                "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            }
            for mode, extra in (("off", {}), ("on", log_env)):
                env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_PREDICTION_LOG_")}
                proc, port = start_inference_server(
                    model_dir,
                    root / f"{mode}.log",
                    scenario="anomaly_detection",
                    token=TOKEN,
                    env={**env, **extra},
                )
                try:
                    for size in SIZES:
                        for clients in (1, CLIENTS):
                            print(f"  logging {mode}, {size} point(s), {clients} client(s) ...", flush=True)
                            case = run_http(port, "/predict", bodies[size], counts[size], clients, pool)
                            results[(mode, size, clients)] = case
                            if mode == "on":
                                # run_http warms up with a twentieth of the requests (at least 5) first.
                                sent += case.count + max(5, counts[size] // 20)
                finally:
                    proc.send_signal(signal.SIGTERM)  # the clean stop writes what is queued
                    proc.wait(60)
            logged = count_logged(s3, bucket)
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
    print(f"\nrecords in the store after the clean stop: {logged} of {sent} answered")
    print("\n| check | measured | target | met |")
    print("|---|---:|---|---|")
    met = True
    for label, value, bar in checks:
        ok = value <= bar
        met &= ok
        print(f"| {label} | {value:+.1%} | <= {bar:.0%} | {'yes' if ok else 'NO'} |")
    complete = logged == sent
    print(f"| every answered request logged | {logged}/{sent} | all | {'yes' if complete else 'NO'} |")
    return 0 if met and complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
