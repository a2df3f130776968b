"""Evaluation container entrypoint of the promotion gate: ``python -m algorithms.evaluate``.

Arguments: ``--release-uri`` and ``--release-sha256`` (the evaluation release, verified as training verifies
it), ``--scenario``, one ``--model-uri models:/<name>/<N>`` per version to evaluate, ``--result-uri`` (where the
result JSON goes, ``s3://bucket/key`` or a path), optionally ``--split`` (default: test, else val, else train)
and ``--evaluation-id`` (the catalog's evaluation: the step of the metrics logged). Environment: MLflow's and
S3's, as a preset training container gets them.

Each model is loaded as a pyfunc and scored on the split by the scenario's contract (``algorithms.evaluation``);
its metrics are logged on the MLflow run that registered the version, as ``gate_<metric>`` with step = the
evaluation id. The result, ``{"models": {"<uri>": {metric: value} | {"error": "..."}}, "split", "rows",
"scenario", "release_sha256"}``, is written to ``--result-uri``. A model that fails to load or predict gets its
error in the result (the gate decides what that means); the release, the split or writing the result failing
ends the container with exit code 1 and the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from algorithms.base.config import ReleaseRef
from algorithms.base.release import fetch_release
from algorithms.base.storage import write_bytes
from algorithms.evaluation import choose_split, finite, scenario_evaluation

MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>[0-9]+)$")
METRIC_PREFIX = "gate_"


def progress(message: str) -> None:
    print(f"[evaluate {time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m algorithms.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--release-uri", required=True)
    parser.add_argument("--release-sha256", required=True)
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--model-uri", action="append", required=True, dest="model_uris")
    parser.add_argument("--result-uri", required=True)
    parser.add_argument("--split", default=None, choices=["train", "val", "test"])
    parser.add_argument("--evaluation-id", type=int, default=0)
    return parser.parse_args(argv)


def log_gate_metrics(uri: str, metrics: dict[str, float], step: int) -> None:
    """``gate_<metric>`` on the run that registered the version (``models:/name/N`` URIs only)."""
    match = MODEL_URI.match(uri)
    if not match or not metrics:
        return
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient()
    run_id = client.get_model_version(match["name"], match["version"]).run_id
    if not run_id:
        return
    now = int(time.time() * 1000)
    batch = [Metric(f"{METRIC_PREFIX}{k}", v, now, step) for k, v in sorted(metrics.items())]
    for start in range(0, len(batch), 1000):  # MLflow takes at most 1,000 metrics per batch
        client.log_batch(run_id, metrics=batch[start : start + 1000])


def evaluate_one(uri: str, scenario: str, split: Any, step: int) -> dict[str, Any]:
    import mlflow.pyfunc

    evaluation = scenario_evaluation(scenario)
    try:
        progress(f"loading {uri}")
        model = mlflow.pyfunc.load_model(uri)
        metrics = finite(evaluation.score(model, split))
    except Exception as exc:  # noqa: BLE001 - one model's failure is its result; the others are still measured
        traceback.print_exc(file=sys.stderr)
        return {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    progress(f"{uri}: {metrics}")
    try:
        log_gate_metrics(uri, metrics, step)
    except Exception:  # noqa: BLE001 - the gate decides on the result; its copy in MLflow is for people
        traceback.print_exc(file=sys.stderr)
        progress(f"could not log the metrics of {uri} to MLflow")
    return metrics


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    evaluation = scenario_evaluation(args.scenario)
    release = fetch_release(ReleaseRef(uri=args.release_uri, sha256=args.release_sha256.lower()), workdir)
    if release.scenario and release.scenario != args.scenario:
        raise ValueError(f"the release is a {release.scenario} release, not {args.scenario}")
    split_name = choose_split(release, args.split)
    split = evaluation.read(release, split_name)
    progress(f"release verified; evaluating on {split_name} ({split.rows} samples)")
    models = {uri: evaluate_one(uri, args.scenario, split, args.evaluation_id) for uri in args.model_uris}
    return {
        "models": models,
        "split": split_name,
        "rows": split.rows,
        "scenario": args.scenario,
        "release_sha256": args.release_sha256.lower(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        with tempfile.TemporaryDirectory(prefix="mlops-evaluate-") as tmp:
            result = run(args, Path(tmp))
        write_bytes(args.result_uri, json.dumps(result).encode(), content_type="application/json")
        progress(f"result written to {args.result_uri}")
        return 0
    except Exception:  # noqa: BLE001 - every failure must reach the exit code and the log
        traceback.print_exc(file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
