"""Training container entrypoint: ``python -m algorithms.train``.

Environment: ``MLOPS_JOB_CONFIG_URI`` (``s3://bucket/key`` or a local path), ``MLFLOW_TRACKING_URI``,
``MLFLOW_RUN_ID`` (created by the platform; when absent a run is created in the config's experiment), plus
the S3 variables read by ``algorithms.base.storage``. Argv ``--config URI`` / ``--run-id ID`` override them.

Steps: load config → download and verify the release → fit on train → evaluate on test (else val, else
train) → log params and metrics → save, upload and register the pyfunc model → tag the run with the model
version → set the run FINISHED, exit 0. Any exception: traceback to stderr, run FAILED, exit 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from mlflow import MlflowClient

from algorithms.base.config import JobConfig, load_config
from algorithms.base.release import fetch_release
from algorithms.base.tracking import log_and_register_model, log_metrics, log_params
from algorithms.registry import get_algorithm

EVALUATION_SPLITS: tuple[str, ...] = ("test", "val", "train")


def progress(message: str) -> None:
    print(f"[train {time.strftime('%H:%M:%S')}] {message}", flush=True)


def resolve_run(client: MlflowClient, config: JobConfig, run_id: str | None) -> str:
    if run_id:
        return run_id
    experiment = client.get_experiment_by_name(config.experiment_name)
    experiment_id = (
        experiment.experiment_id if experiment else client.create_experiment(config.experiment_name)
    )
    tags = {"mlops.job_id": str(config.job_id)} if config.job_id is not None else {}
    run = client.create_run(experiment_id, tags=tags, run_name=f"{config.algorithm}-job{config.job_id}")
    progress(f"created run {run.info.run_id} in experiment {config.experiment_name}")
    return run.info.run_id


def train(config: JobConfig, client: MlflowClient, run_id: str, workdir: Path) -> str:
    """Run one job into ``run_id``; returns the registered model version."""
    algorithm = get_algorithm(config.algorithm)
    if algorithm.scenario != config.scenario:
        raise ValueError(f"algorithm {config.algorithm} is for {algorithm.scenario}, not {config.scenario}")
    params = algorithm.resolve_params(config.params)
    if config.max_evals > 0:
        # Hyperparameter search is not implemented yet: say so rather than silently ignoring it.
        progress(
            f"max_evals={config.max_evals} requested; search is not implemented, training with params as given"
        )

    progress(f"downloading release {config.release.uri}")
    release = fetch_release(config.release, workdir)
    progress(f"release verified (sha256 {config.release.sha256[:12]}…), splits {release.splits}")
    if not release.has_split("train"):
        raise ValueError("the release has no train split")
    train_data = algorithm.read_split(release, "train")
    progress(f"fitting {algorithm.name} with {params}")
    fitted = algorithm.fit(train_data, params)

    eval_split = next(s for s in EVALUATION_SPLITS if release.has_split(s))
    eval_data = train_data if eval_split == "train" else algorithm.read_split(release, eval_split)
    metrics = algorithm.evaluate(fitted, eval_data)
    progress(f"evaluated on {eval_split}: {metrics}")

    log_params(
        client,
        run_id,
        params
        | {
            "algorithm": algorithm.name,
            "scenario": algorithm.scenario,
            "release_version": config.release.version,
            "release_sha256": config.release.sha256,
            "eval_split": eval_split,
        },
    )
    log_metrics(client, run_id, algorithm.training_metrics(fitted) | metrics)
    progress(f"logging and registering model {config.model_name}")
    version = log_and_register_model(
        client,
        run_id,
        algorithm.pyfunc_model(fitted),
        model_name=config.model_name,
        pip_requirements=algorithm.pip_requirements(),
        metadata=algorithm.model_metadata(fitted),
        signature=algorithm.signature(),
    )
    progress(f"registered models:/{config.model_name}/{version.version}")
    return str(version.version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m algorithms.train", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=os.environ.get("MLOPS_JOB_CONFIG_URI"), help="job config URI")
    parser.add_argument("--run-id", default=os.environ.get("MLFLOW_RUN_ID"), help="MLflow run to log into")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if not args.config:
        print("MLOPS_JOB_CONFIG_URI (or --config) is required", file=sys.stderr)
        return 2

    client = MlflowClient()
    run_id: str | None = args.run_id
    try:
        config = load_config(args.config)
        progress(f"job {config.job_id}: {config.scenario}/{config.algorithm} → {config.model_name}")
        run_id = resolve_run(client, config, run_id)
        with tempfile.TemporaryDirectory(prefix="mlops-train-") as tmp:
            version = train(config, client, run_id, Path(tmp))
        client.set_terminated(run_id, "FINISHED")
        progress(f"run {run_id} FINISHED (model version {version})")
        return 0
    except Exception:  # noqa: BLE001 - every failure must reach the run status and the exit code
        traceback.print_exc(file=sys.stderr)
        if run_id:
            try:
                client.set_terminated(run_id, "FAILED")
            except Exception:  # noqa: BLE001 - the original error matters more than this one
                traceback.print_exc(file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
