"""MLflow adapter: experiments, runs tagged with their job, run status and registered model versions.

Always ``MlflowClient`` with explicit run ids: the fluent API's active run is per thread, and flows run
tasks in worker threads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.settings import TrackingSettings, get_settings

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient
# mlflow is imported where it is used: importing it costs ~180 MB and a second, and processes that only
# name this module's types (the API server, whose routes reach MLflow on a few endpoints) must not pay it.

TAG_JOB = "mlops.job_id"
TAG_FLOW_RUN = "mlops.flow_run_id"
TAG_TEAM = "mlops.team_id"
TERMINAL = {"FINISHED", "FAILED", "KILLED"}


class TrackingError(Exception):
    """MLflow could not be reached or refused the call."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    experiment_id: str
    status: str
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str
    tags: dict[str, str]


def configure_http(settings: TrackingSettings) -> None:
    # mlflow reads these at call time; a short timeout and few retries keep the watchdog responsive while
    # the server is down (its default retries for minutes).
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(settings.request_timeout_seconds))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(settings.request_max_retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # Downloads run in services (CLI --json, dashboard): a progress bar on stderr would only garble output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def client(settings: TrackingSettings | None = None) -> MlflowClient:
    from mlflow.tracking import MlflowClient

    settings = settings or get_settings().mlflow
    configure_http(settings)
    return MlflowClient(tracking_uri=settings.uri, registry_uri=settings.uri)


def _wrap(exc: Exception) -> TrackingError:
    return TrackingError(f"MLflow call failed: {exc}")


def ensure_experiment(mlflow: MlflowClient, name: str) -> str:
    from mlflow.exceptions import MlflowException

    try:
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                mlflow.restore_experiment(experiment.experiment_id)
            return str(experiment.experiment_id)
        try:
            return str(mlflow.create_experiment(name))
        except MlflowException:
            # Another flow created it between our lookup and create.
            experiment = mlflow.get_experiment_by_name(name)
            if experiment is None:
                raise
            return str(experiment.experiment_id)
    except Exception as exc:
        raise _wrap(exc) from exc


def ensure_registered_model(mlflow: MlflowClient, name: str) -> None:
    """The registered model exists (created by the platform's account when missing)."""
    from mlflow.exceptions import MlflowException

    try:
        mlflow.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":  # an earlier start (or a concurrent one) made it
            raise _wrap(exc) from exc
    except Exception as exc:
        raise _wrap(exc) from exc


def find_or_create_run(
    mlflow: MlflowClient,
    *,
    experiment_id: str,
    job_id: int,
    flow_run_id: str | None,
    run_name: str,
    tags: dict[str, str] | None = None,
    existing_run_id: str | None = None,
) -> tuple[str, bool]:
    """The run of this (job, flow run): ``existing_run_id`` (the run the catalog recorded for this flow run,
    reused when a retried flow run asks again, so no ghost runs), else a new one. Tags are for people
    browsing MLflow; ownership is the catalog's record (``catalog.models.JobRun``), never a tag.

    Returns (run id, created).
    """
    try:
        if existing_run_id:
            run = mlflow.get_run(existing_run_id)
            if run.info.status in TERMINAL:
                # An earlier attempt of this flow run ended the run (e.g. FAILED after a launch error);
                # the retry trains into it again, so it must not look finished to the watchdog.
                mlflow.update_run(run.info.run_id, status="RUNNING")
            return run.info.run_id, False
        all_tags = {
            TAG_JOB: str(job_id),
            **({TAG_FLOW_RUN: flow_run_id} if flow_run_id else {}),
            **(tags or {}),
        }
        run = mlflow.create_run(experiment_id, run_name=run_name, tags=all_tags)
        return run.info.run_id, True
    except Exception as exc:
        raise _wrap(exc) from exc


def get_run(mlflow: MlflowClient, run_id: str) -> RunInfo:
    try:
        run = mlflow.get_run(run_id)
    except Exception as exc:
        raise _wrap(exc) from exc
    info = run.info
    return RunInfo(
        run_id=info.run_id,
        experiment_id=info.experiment_id,
        status=info.status,
        start_time=info.start_time,
        end_time=info.end_time,
        lifecycle_stage=info.lifecycle_stage,
        tags=dict(run.data.tags),
    )


def end_run(mlflow: MlflowClient, run_id: str, status: str) -> None:
    """Mark a run ended (e.g. KILLED on stop) unless it already ended."""
    from mlflow.entities import RunStatus

    try:
        current = mlflow.get_run(run_id).info.status
        if current not in TERMINAL:
            mlflow.set_terminated(run_id, status=RunStatus.to_string(RunStatus.from_string(status)))
    except Exception as exc:
        raise _wrap(exc) from exc


def latest_version(mlflow: MlflowClient, model_name: str) -> str:
    try:
        versions = mlflow.search_model_versions(f"name = '{model_name}'")
    except Exception as exc:
        raise _wrap(exc) from exc
    if not versions:
        raise TrackingError(f"registered model {model_name!r} has no versions")
    return str(max(int(v.version) for v in versions))


def run_model_versions(mlflow: MlflowClient, model_name: str, run_id: str) -> list[str]:
    """The versions of ``model_name`` registered from run ``run_id`` (oldest first; none: an empty list)."""
    from mlflow.exceptions import MlflowException

    try:
        versions = mlflow.search_model_versions(f"name = '{model_name}'")
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return []
        raise _wrap(exc) from exc
    except Exception as exc:
        raise _wrap(exc) from exc
    return sorted((str(v.version) for v in versions if v.run_id == run_id), key=int)


def resolve_model_uri(
    mlflow: MlflowClient, model_name: str, version: str, allowed_runs: set[str] | None = None
) -> tuple[str, str]:
    """('models:/name/N', 'N') with 'latest' resolved to a concrete version now.

    ``allowed_runs`` (the job's runs as the catalog recorded them): only a version registered from one of them
    is served, whatever the registry holds under the model's name.
    """
    if version == "latest":
        try:
            versions = mlflow.search_model_versions(f"name = '{model_name}'")
        except Exception as exc:
            raise _wrap(exc) from exc
        usable = [v for v in versions if allowed_runs is None or v.run_id in allowed_runs]
        if not usable:
            raise TrackingError(
                f"registered model {model_name!r} has no versions"
                + (" from this job's runs" if versions else "")
            )
        version = str(max(int(v.version) for v in usable))
    else:
        try:
            found = mlflow.get_model_version(model_name, version)
        except Exception as exc:
            raise TrackingError(f"model {model_name!r} has no version {version}") from exc
        if allowed_runs is not None and found.run_id not in allowed_runs:
            raise TrackingError(
                f"version {version} of model {model_name!r} was not registered by one of this job's runs"
            )
    return f"models:/{model_name}/{version}", version


def run_summary(mlflow: MlflowClient, run_id: str) -> dict[str, Any]:
    try:
        run = mlflow.get_run(run_id)
    except Exception as exc:
        raise _wrap(exc) from exc
    return {
        "run_id": run_id,
        "status": run.info.status,
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
        "tags": dict(run.data.tags),
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
    }


def list_job_runs(
    mlflow: MlflowClient, *, experiment_id: str, run_ids: list[str], include_deleted: bool = False
) -> list[dict[str, Any]]:
    """The runs ``run_ids`` (a job's, as the catalog recorded them), newest first, with start, end, duration
    and status."""
    from mlflow.entities import ViewType

    view = ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY
    runs: list[Any] = []
    try:
        # Run ids are MLflow's own hex strings (checked by the caller's catalog record); batches keep the
        # filter string short.
        for start in range(0, len(run_ids), 100):
            batch = ", ".join(f"'{run_id}'" for run_id in run_ids[start : start + 100] if run_id.isalnum())
            if batch:
                runs += mlflow.search_runs(
                    [experiment_id],
                    filter_string=f"attributes.run_id IN ({batch})",
                    run_view_type=view,
                    max_results=1000,
                )
    except Exception as exc:
        raise _wrap(exc) from exc
    runs.sort(key=lambda run: run.info.start_time or 0, reverse=True)
    out = []
    for run in runs:
        info = run.info
        # A run reused by a retried flow is RUNNING again but keeps its earlier end time: no duration then.
        ended = info.status in TERMINAL and info.end_time and info.start_time
        duration = (info.end_time - info.start_time) / 1000 if ended else None
        out.append(
            {
                "run_id": info.run_id,
                "status": info.status,
                "start_time": info.start_time,
                "end_time": info.end_time,
                "duration_s": duration,
                "lifecycle_stage": info.lifecycle_stage,
                "metrics": dict(run.data.metrics),
                "model_version": run.data.tags.get("mlops.model_version"),
            }
        )
    return out


def get_run_data(mlflow: MlflowClient, run_id: str) -> Any:
    """The full MLflow run (info + data), or None when no such run exists (deleted runs included)."""
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise _wrap(exc) from exc
    except Exception as exc:
        raise _wrap(exc) from exc


def metric_history(mlflow: MlflowClient, run_id: str, key: str) -> list[dict[str, Any]]:
    try:
        points = mlflow.get_metric_history(run_id, key)
    except Exception as exc:
        raise _wrap(exc) from exc
    return [
        {"step": m.step, "timestamp": m.timestamp, "value": m.value}
        for m in sorted(points, key=lambda m: (m.step, m.timestamp))
    ]


def set_deleted(mlflow: MlflowClient, run_id: str, deleted: bool) -> None:
    """Soft delete (MLflow keeps the run in its 'deleted' stage) or restore a run."""
    try:
        if deleted:
            mlflow.delete_run(run_id)
        else:
            mlflow.restore_run(run_id)
    except Exception as exc:
        raise _wrap(exc) from exc


def list_artifacts(mlflow: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    try:
        return [a.path for a in mlflow.list_artifacts(run_id, path)]
    except Exception as exc:
        raise _wrap(exc) from exc


def artifact_bytes(mlflow: MlflowClient, run_id: str, path: str | None = None) -> int:
    """The total size of a run's artifacts (under ``path``), listed folder by folder."""
    try:
        total, folders = 0, [path]
        while folders:
            for item in mlflow.list_artifacts(run_id, folders.pop()):
                if item.is_dir:
                    folders.append(item.path)
                else:
                    total += int(item.file_size or 0)
        return total
    except Exception as exc:
        raise _wrap(exc) from exc


def download_model_version(mlflow: MlflowClient, model_name: str, version: str, dst: str) -> str:
    """A registered version's files, wherever they were logged (a run's folder or an MLflow 3 logged model)."""
    from mlflow.artifacts import download_artifacts as fetch

    try:
        uri = mlflow.get_model_version_download_uri(model_name, version)
        return fetch(artifact_uri=uri, dst_path=dst, tracking_uri=get_settings().mlflow.uri)
    except Exception as exc:
        raise _wrap(exc) from exc


def download_artifacts(mlflow: MlflowClient, run_id: str, path: str, dst: str) -> str:
    try:
        return mlflow.download_artifacts(run_id, path, dst)
    except Exception as exc:
        raise _wrap(exc) from exc


# ---------------------------------------------------------------- registered models: versions, aliases, tags

# Bounds on what a version's record copies from its run (a custom job's code may log thousands of keys).
MAX_RECORDED_METRICS = 500
MAX_RECORDED_PARAMS = 200
MAX_PARAM_CHARS = 1000


@dataclass(frozen=True, slots=True)
class VersionRun:
    """A registered version and what its run reports: status, latest metrics, params."""

    version: int
    run_id: str
    run_status: str
    metrics: dict[str, float]
    params: dict[str, str]


def versions_of_runs(mlflow: MlflowClient, model_name: str, run_ids: set[str]) -> list[VersionRun]:
    """The versions of ``model_name`` registered by one of ``run_ids`` (the catalog's record of a job's runs),
    oldest first, each with its run's status, metrics and params. Versions of other runs are left out whatever
    their tags say."""
    from mlflow.exceptions import MlflowException

    try:
        versions = mlflow.search_model_versions(f"name = '{model_name}'")
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return []
        raise _wrap(exc) from exc
    except Exception as exc:
        raise _wrap(exc) from exc
    ours = sorted((v for v in versions if v.run_id in run_ids), key=lambda v: int(v.version))
    runs: dict[str, Any] = {}
    out: list[VersionRun] = []
    for found in ours:
        run = runs.get(found.run_id)
        if run is None:
            run = runs[found.run_id] = get_run_data(mlflow, found.run_id)
        if run is None:
            continue  # the run itself is gone: nothing to say about it
        metrics = dict(sorted(run.data.metrics.items())[:MAX_RECORDED_METRICS])
        params = {
            k: str(v)[:MAX_PARAM_CHARS] for k, v in sorted(run.data.params.items())[:MAX_RECORDED_PARAMS]
        }
        out.append(VersionRun(int(found.version), found.run_id, run.info.status, metrics, params))
    return out


def set_model_alias(mlflow: MlflowClient, model_name: str, alias: str, version: int | None) -> None:
    """Point the registered model's ``alias`` at ``version``; None deletes the alias (absent: nothing to do)."""
    from mlflow.exceptions import MlflowException

    try:
        if version is not None:
            mlflow.set_registered_model_alias(model_name, alias, str(version))
            return
        try:
            mlflow.delete_registered_model_alias(model_name, alias)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise
    except Exception as exc:
        raise _wrap(exc) from exc


def model_aliases(mlflow: MlflowClient, model_name: str) -> dict[str, int]:
    """The registered model's aliases as MLflow holds them (alias → version)."""
    try:
        model = mlflow.get_registered_model(model_name)
    except Exception as exc:
        raise _wrap(exc) from exc
    return {alias: int(version) for alias, version in (model.aliases or {}).items()}


def set_model_version_tags(mlflow: MlflowClient, model_name: str, version: int, tags: dict[str, str]) -> None:
    try:
        for key, value in tags.items():
            mlflow.set_model_version_tag(model_name, str(version), key, value[:5000])
    except Exception as exc:
        raise _wrap(exc) from exc
