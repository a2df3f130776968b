"""Gray-release benchmark: the serving benchmark's 1-point case (``benchmarks.serving``) with the traffic a gray
release adds, against the same ``mlflow models serve`` baseline, in one run.

One ECOD model trained on generated data; ``python -m algorithms.serve`` as a real subprocess, told its traffic by
its control endpoint (``POST /admin/traffic``) as the platform tells it:
- *no split*: the stable version alone;
- *90/10*: a canary (the same model under version 2) answers 10 % of the requests;
- *shadow*: a shadow version answers a copy of every request, made 50 ms slower per request (``SlowShadow``)
  — its answers are compared and never returned; the live answer must not wait for it. Its cost on the live p50
  is measured in turns (shadow off, on, off, on, ...; medians compared), on the same server.
Each case: 1-point requests, sequential and 4 concurrent clients (spawned processes, as ``benchmarks.serving``).
The split actually observed over the run is printed (answers carry ``x-model-version``).

Bars (issue: gray release): with a 90/10 split the 1-point p50 stays < 1 ms and req/s ≥ 10× mlflow's; with the
shadow on, the live p50 changes by < 10 % against no split. Run: ``python -m benchmarks.gray [--quick]``.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from algorithms.ecod import EcodPythonModel
from benchmarks.common import start_inference_server
from benchmarks.serving import (
    CLIENTS,
    HOST,
    TARGET_1PT_P50_MS,
    TARGET_1PT_RPS_RATIO,
    TOKEN,
    Case,
    records,
    run_http,
    start_mlflow,
    train_model,
)

CONTROL = "benchmark-control-token"
SHADOW_DELAY = 0.05
TARGET_SHADOW_P50_CHANGE = 0.10
SHADOW_TURNS = 4


class SlowShadow(EcodPythonModel):  # type: ignore[misc]
    """The benchmark's model, SHADOW_DELAY seconds slower per request (off the event loop)."""

    inline_safe = False

    def detect_with_info(self, X: np.ndarray, threshold: float | None = None) -> Any:
        time.sleep(SHADOW_DELAY)
        return super().detect_with_info(X, threshold)


def slow_copy(model_dir: Path, out: Path) -> Path:
    """``model_dir`` saved again as a SlowShadow."""
    import mlflow.pyfunc

    from algorithms.base.tracking import save_pyfunc

    pyfunc = mlflow.pyfunc.load_model(str(model_dir))
    model = pyfunc.unwrap_python_model()
    slow = SlowShadow.__new__(SlowShadow)
    slow.__dict__.update(model.__dict__)
    return save_pyfunc(slow, out, pip_requirements=[], metadata=pyfunc.metadata.metadata)


def traffic(port: int, body: dict[str, Any]) -> None:
    """Apply ``body`` and wait until /health shows it."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    payload = orjson.dumps(body)
    conn.request(
        "POST",
        "/admin/traffic",
        body=payload,
        headers={"Authorization": f"Bearer {CONTROL}", "Content-Type": "application/json"},
    )
    answer = conn.getresponse()
    raw = answer.read()
    if answer.status not in (200, 202):
        raise RuntimeError(f"traffic refused: HTTP {answer.status} {raw[:300]!r}")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        conn.request("GET", "/health")
        health = orjson.loads(conn.getresponse().read())
        shown = health.get("traffic") or {}
        if (
            health.get("loading_traffic") is None
            and shown.get("weight") == body.get("weight", 0)
            and (shown.get("shadow") == (body.get("shadow") or {}).get("version"))
        ):
            return
        if health.get("load_error") and health.get("loading_traffic") is None:
            raise RuntimeError(f"traffic not applied: {health['load_error']}")
        time.sleep(0.1)
    raise TimeoutError("traffic not applied within 180 s")


def split_seen(port: int, bodies: list[bytes], count: int) -> float:
    """The share of ``count`` sequential requests the canary (version 2) answered."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    canary = 0
    for i in range(count):
        conn.request("POST", "/predict", body=bodies[i % len(bodies)], headers=headers)
        response = conn.getresponse()
        response.read()
        canary += response.getheader("x-model-version") == "2"
    return canary / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run, noisier figures)")
    args = parser.parse_args(argv)
    scale = 0.2 if args.quick else 1.0
    ours_count, mlflow_count = max(200, int(4000 * scale)), max(100, int(800 * scale))
    payloads = [{"data": records(1, seed)} for seed in range(64)]
    ours_bodies = [orjson.dumps(p) for p in payloads]
    mlflow_bodies = [orjson.dumps({"dataframe_records": p["data"]}) for p in payloads]
    results: dict[tuple[str, int], Case] = {}
    turns: dict[str, list[float]] = {}
    split = 0.0
    with tempfile.TemporaryDirectory(prefix="mlops-bench-gray-") as tmp:
        root = Path(tmp)
        model_dir = train_model(root)
        canary_dir = Path(shutil.copytree(model_dir, root / "canary"))
        shadow_dir = slow_copy(model_dir, root / "shadow")
        ref = {"model_uri": str(model_dir), "version": "1"}
        cases = {
            "no split": {"stable": ref},
            "90/10 split": {
                "stable": ref,
                "canary": {"model_uri": str(canary_dir), "version": "2"},
                "weight": 10,
            },
            "shadow +50 ms": {"stable": ref, "shadow": {"model_uri": str(shadow_dir), "version": "3"}},
        }
        ctx = mp.get_context("spawn")
        with ctx.Pool(CLIENTS) as pool:
            env = {**os.environ, "MLOPS_SERVING_CONTROL_TOKEN": CONTROL}
            proc, port = start_inference_server(
                model_dir, root / "ours.log", scenario="anomaly_detection", token=TOKEN, env=env
            )
            try:
                for name, body in cases.items():
                    traffic(port, body)
                    for clients in (1, CLIENTS):
                        print(f"  ours, {name}: {clients} client(s) ...", flush=True)
                        results[(name, clients)] = run_http(
                            port, "/predict", ours_bodies, ours_count, clients, pool
                        )
                    if name == "90/10 split":
                        split = split_seen(port, ours_bodies, 5000 if not args.quick else 1000)
                # The shadow's cost on the live p50, measured in turns (off, on, off, on, ...) on the same server
                # once every model was loaded: one case after another drifts by more than the effect measured.
                for turn in range(SHADOW_TURNS):
                    for name in ("no split", "shadow +50 ms"):
                        traffic(port, cases[name])
                        print(f"  ours, {name}, turn {turn + 1}: 1 client ...", flush=True)
                        turns.setdefault(name, []).append(
                            run_http(port, "/predict", ours_bodies, ours_count // 2, 1, pool).p50
                        )
            finally:
                proc.terminate()
                proc.wait(30)
            proc, port = start_mlflow(model_dir, root / "mlflow.log")
            try:
                for clients in (1, CLIENTS):
                    print(f"  mlflow: {clients} client(s) ...", flush=True)
                    results[("mlflow", clients)] = run_http(
                        port, "/invocations", mlflow_bodies, mlflow_count, clients, pool
                    )
            finally:
                proc.terminate()
                proc.wait(30)
    return report(results, split, turns)


def report(results: dict[tuple[str, int], Case], split: float, turns: dict[str, list[float]]) -> int:
    print("\n| target | clients | requests | p50 ms | p99 ms | req/s | req/s vs mlflow |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (name, clients), c in results.items():
        ratio = c.rps / results[("mlflow", clients)].rps
        print(f"| {name} | {clients} | {c.count} | {c.p50:.3f} | {c.p99:.3f} | {c.rps:,.0f} | {ratio:.1f}x |")
    print(f"\ncanary share observed at weight 10: {split:.1%}")
    split_case = results[("90/10 split", 1)]
    off, on = statistics.median(turns["no split"]), statistics.median(turns["shadow +50 ms"])
    print(
        "live p50 in turns (ms): shadow off "
        + ", ".join(f"{v:.3f}" for v in turns["no split"])
        + "; shadow on "
        + ", ".join(f"{v:.3f}" for v in turns["shadow +50 ms"])
    )
    change = abs(on - off) / off
    checks = [
        (
            "1-point p50 (ms), 90/10 split, sequential",
            split_case.p50,
            f"< {TARGET_1PT_P50_MS}",
            split_case.p50 < TARGET_1PT_P50_MS,
        ),
    ]
    for c in (1, CLIENTS):
        ratio = results[("90/10 split", c)].rps / results[("mlflow", c)].rps
        checks.append(
            (
                f"1-point req/s 90/10 / mlflow, {c} client(s)",
                ratio,
                f">= {TARGET_1PT_RPS_RATIO}",
                ratio >= TARGET_1PT_RPS_RATIO,
            )
        )
    checks.append(
        (
            "live p50 change with the shadow on",
            change,
            f"< {TARGET_SHADOW_P50_CHANGE}",
            change < TARGET_SHADOW_P50_CHANGE,
        )
    )
    checks.append(("canary share at weight 10 (±3 pp)", split, "0.07-0.13", abs(split - 0.10) <= 0.03))
    print("\n| check | measured | target | met |")
    print("|---|---:|---|---|")
    for label, value, target, ok in checks:
        print(f"| {label} | {value:.3f} | {target} | {'yes' if ok else 'NO'} |")
    return 0 if all(ok for *_, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
