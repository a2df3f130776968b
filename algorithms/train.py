"""Training container entrypoint: ``python -m algorithms.train``.

Environment: ``MLOPS_JOB_CONFIG_URI`` (``s3://bucket/key`` or a local path), ``MLFLOW_TRACKING_URI``,
``MLFLOW_RUN_ID`` (created by the platform; when absent a run is created in the config's experiment), plus
the S3 variables read by ``algorithms.base.storage``. Argv ``--config URI`` / ``--run-id ID`` override them.

Steps: load config → download and verify the release → with ``max_evals > 0``, TPE search (trials fitted
on train, scored on val, each logged with its step, then their losses plotted) → fit on train (after tuning:
on train + val with the best params) → evaluate on test (else val, else train) → log params, metrics and the
algorithm's plots of the evaluation split (``plots/*.png``) → save, upload and register the pyfunc model → tag
the run with the model version → set the run FINISHED, exit 0. Any exception: traceback to stderr, run
FAILED, exit 1 — except in plotting: a figure that cannot be drawn is reported (stderr and the run tag
``mlops.plots_error``) but does not throw away a trained model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from algorithms.base.algorithm import Algorithm
from algorithms.base.config import JobConfig, load_config
from algorithms.base.plots import trials_figure
from algorithms.base.release import fetch_release
from algorithms.base.tracking import log_and_register_model, log_metrics, log_params, log_plots
from algorithms.base.tuning import Trial, trial_metrics, tune
from algorithms.registry import get_algorithm

EVALUATION_SPLITS: tuple[str, ...] = ("test", "val", "train")
TAG_PLOTS_ERROR = "mlops.plots_error"


def progress(message: str) -> None:
    print(f"[train {time.strftime('%H:%M:%S')}] {message}", flush=True)


def plot_safely(client: MlflowClient, run_id: str, what: str, make: Callable[[], dict[str, Any]]) -> None:
    """Draw and upload figures; a failure is reported, not raised (the model matters more than a picture)."""
    try:
        written = log_plots(client, run_id, make())
    except Exception as exc:  # noqa: BLE001 - see above
        traceback.print_exc(file=sys.stderr)
        client.set_tag(run_id, TAG_PLOTS_ERROR, f"{what}: {type(exc).__name__}: {exc}"[:5000])
        progress(f"plots of {what} failed: {exc}")
    else:
        if written:
            progress(f"logged {', '.join(written)}")


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


def search(
    algorithm: Algorithm,
    config: JobConfig,
    params: dict[str, Any],
    train_data: Any,
    val_data: Any,
    client: MlflowClient,
    run_id: str,
) -> dict[str, Any]:
    """TPE over the job's search space, trials fitted on ``train_data`` and scored on ``val_data``; each
    trial logged as metrics with ``step`` = trial number. Returns the best full param set."""
    if algorithm.objective is None:
        raise ValueError(f"{algorithm.name} cannot be tuned (it declares no objective)")
    if not config.search_space:
        raise ValueError("max_evals > 0 but the job has no search space")
    objective = algorithm.objective

    def evaluate(sampled: dict[str, Any]) -> dict[str, float]:
        trial_params = algorithm.resolve_params(algorithm.tuning_params(params, sampled))
        return algorithm.evaluate(algorithm.fit(train_data, trial_params), val_data)

    def on_trial(trial: Trial) -> None:
        log_metrics(client, run_id, trial_metrics(trial, config.search_space), step=trial.number)
        outcome = f"loss {trial.loss:.6g}" if trial.loss is not None else f"failed: {trial.error}"
        progress(f"trial {trial.number}: {trial.params} → {outcome} ({trial.seconds:.2f} s)")

    progress(
        f"tuning {algorithm.name}: {objective.direction} {objective.metric}, max_evals={config.max_evals}"
    )
    result = tune(evaluate, config.search_space, objective, max_evals=config.max_evals, on_trial=on_trial)
    best = algorithm.resolve_params(algorithm.tuning_params(params, result.best_params))
    log_metrics(
        client,
        run_id,
        {
            "tuning_best_loss": result.best_loss,
            "tuning_best_trial": float(result.best_trial),
            "tuning_trials": float(len(result.trials)),
            "tuning_failed_trials": float(sum(t.loss is None for t in result.trials)),
        },
    )
    log_params(
        client,
        run_id,
        {f"best_{k}": v for k, v in result.best_params.items()}
        | {
            "tuning_objective": f"{objective.direction} {objective.metric}",
            "tuning_max_evals": config.max_evals,
            "tuning_stopped_early": result.stopped_early,
        },
    )
    client.log_text(run_id, result.as_json(), "tuning/trials.json")
    sign = "−" if objective.direction == "max" else ""
    plot_safely(
        client,
        run_id,
        "tuning",
        lambda: {
            "tuning_trials": trials_figure(
                [t.loss for t in result.trials],
                loss_label=f"loss = {sign}{objective.metric} (val)",
                title=f"{algorithm.name}: {len(result.trials)} trials, best #{result.best_trial}"
                + (" (stopped early)" if result.stopped_early else ""),
            )
        },
    )
    progress(f"best trial {result.best_trial} of {len(result.trials)}: {result.best_params}")
    return best


def train(config: JobConfig, client: MlflowClient, run_id: str, workdir: Path) -> str:
    """Run one job into ``run_id``; returns the registered model version."""
    algorithm = get_algorithm(config.algorithm)
    if algorithm.scenario != config.scenario:
        raise ValueError(f"algorithm {config.algorithm} is for {algorithm.scenario}, not {config.scenario}")
    params = algorithm.resolve_params(config.params)
    algorithm.use_run(client, run_id)

    progress(f"downloading release {config.release.uri}")
    release = fetch_release(config.release, workdir)
    progress(f"release verified (sha256 {config.release.sha256[:12]}…), splits {release.splits}")
    if not release.has_split("train"):
        raise ValueError("the release has no train split")
    train_data = algorithm.read_split(release, "train")
    fit_data = train_data
    tuned = config.max_evals > 0
    if tuned:
        if release.has_split("val"):
            search_train, val_data = train_data, algorithm.read_split(release, "val")
        else:
            search_train, val_data = algorithm.holdout(train_data)
            progress("no val split: tuning on the last 20% of train held out")
        params = search(algorithm, config, params, search_train, val_data, client, run_id)
        # The validation data chose the params; the final model also learns from it.
        fit_data = algorithm.combine(search_train, val_data)
    progress(f"fitting {algorithm.name} with {params}")
    fitted = algorithm.fit(fit_data, params)

    # After tuning, val was part of the fit: only test (or train) is left as an evaluation split.
    candidates = ("test", "train") if tuned else EVALUATION_SPLITS
    eval_split = next(s for s in candidates if s == "train" or release.has_split(s))
    eval_data = fit_data if eval_split == "train" else algorithm.read_split(release, eval_split)
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
            "tuned": tuned,
        },
    )
    log_metrics(client, run_id, algorithm.training_metrics(fitted) | metrics)
    plot_safely(client, run_id, f"the {eval_split} split", lambda: algorithm.plots(fitted, eval_data))
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
