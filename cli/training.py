"""`mlops jobs ...`: create, update, list, status, start, stop, and the runs of a job (runs, params, metrics,
delete-run, restore-run, download-model).

Each command imports the catalog, Prefect, MLflow or the object store in its body, only if it uses them (see
cli.main).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer

from cli.common import (
    ExitCode,
    JsonOpt,
    TeamOpt,
    TimeoutOpt,
    UserOpt,
    emit,
    fail,
    handle_errors,
    pick,
    require_team,
    resolve_actor,
)

app = typer.Typer(help="Training jobs.", no_args_is_help=True)
JOB_COLS = ["id", "name", "scenario", "status", "algorithm_id", "release_id", "mlflow_run_id", "error"]

JobArg = typer.Argument(..., help="Training job id (`mlops jobs list`).")
RunArg = typer.Argument(..., help="MLflow run id (`mlops jobs runs JOB_ID`).")
ParamsFileOpt = typer.Option(
    None, "--params-file", exists=True, help="File holding the parameters as a JSON object."
)


def _params(params: str | None, params_file: Path | None) -> dict:
    if params and params_file:
        raise ValueError("give --params or --params-file, not both")
    text = params_file.read_text() if params_file else (params or "{}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"parameters are not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("parameters must be a JSON object")  # noqa: TRY004 - user input, reported as one line
    return value


@app.command("create")
@handle_errors
def create(
    name: str = typer.Argument(..., help="Job name, unique in the team."),
    scenario: str = typer.Option(..., "--scenario", "-s", help="Scenario, e.g. anomaly_detection."),
    algorithm: str = typer.Option(
        ..., "--algorithm", "-a", help="Algorithm name of the scenario (`mlops algorithms list`)."
    ),
    release: int = typer.Option(..., "--release", help="Id of the published dataset release to train on."),
    params: str | None = typer.Option(None, help="JSON object, e.g. '{\"contamination\": 0.05}'"),
    params_file: Path | None = ParamsFileOpt,
    max_evals: int = typer.Option(
        0, "--max-evals", help="Tuning trials before the final fit (0: train once with the parameters)."
    ),
    description: str = typer.Option("", "--description", help="Free text shown with the job."),
    user: str | None = UserOpt,
    team: str | None = TeamOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a training job, its parameters checked against the algorithm's; `mlops jobs start` runs it."""
    from catalog.db import session_scope
    from catalog.services import training as svc
    from infra.objectstore import ObjectStore
    from infra.settings import get_settings

    actor, team_id = resolve_actor(user, team)
    store = ObjectStore.from_settings(get_settings().s3)
    with session_scope() as session:
        job, previous = svc.create_job(
            session,
            actor=actor,
            team_id=require_team(team_id),
            name=name,
            scenario=scenario,
            algorithm=algorithm,
            release_id=release,
            params=_params(params, params_file),
            max_evals=max_evals,
            description=description,
            store=store,
        )
    if previous:
        store.delete(previous)
    emit({**pick([job], JOB_COLS)[0], "params": job.params, "config_key": job.config_key}, as_json=as_json)


@app.command("list")
@handle_errors
def list_(
    scenario: str | None = typer.Option(None, "--scenario", "-s", help="Only jobs of this scenario."),
    status: str | None = typer.Option(
        None,
        "--status",
        help="Only jobs in this status: created, starting, running, completed, failed, stopped.",
    ),
    search: str | None = typer.Option(None, "--search", help="Only jobs whose name contains this text."),
    offset: int = typer.Option(0, "--offset", help="Skip this many jobs (paging)."),
    limit: int = typer.Option(50, "--limit", help="Show at most this many jobs."),
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The training jobs of your teams, newest first (--json adds the total count)."""
    from catalog.db import session_scope
    from catalog.services import training as svc

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        total, rows = svc.list_jobs(
            session, actor=actor, scenario=scenario, status=status, search=search, offset=offset, limit=limit
        )
    emit(
        {"count": total, "items": pick(rows, JOB_COLS)} if as_json else pick(rows, JOB_COLS), as_json=as_json
    )


@app.command("status")
@handle_errors
def status(job_id: int = JobArg, user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    """A job in full: status, parameters, release, algorithm, and links to its flow run and MLflow run."""
    from catalog.db import session_scope
    from catalog.services import training as svc
    from flows.launch import flow_run_url
    from infra.settings import get_settings

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        job = svc.get_job(session, actor=actor, job_id=job_id)
        context = svc.job_context(session, job)
    out = {**job.model_dump(), **context, "flow_run": flow_run_url(job.flow_run_id)}
    if job.mlflow_run_id and job.mlflow_experiment_id:
        out["mlflow_run"] = (
            f"{get_settings().mlflow.uri}/#/experiments/{job.mlflow_experiment_id}/runs/{job.mlflow_run_id}"
        )
    emit(out, as_json=as_json)


@app.command("start")
@handle_errors
def start(
    job_id: int = JobArg,
    wait: bool = typer.Option(False, "--wait/--no-wait", help="Follow until the job ends."),
    timeout: float | None = TimeoutOpt,
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Start a job. Without --wait, returns once its flow run has taken the job on (exit 0) or failed to; with
    --wait, follows it to its end. Exit codes: 1 failed, 3 started by another request, 4 deadline passed."""
    from catalog.db import session_scope
    from catalog.services import training as svc
    from cli.follow import conclude, job_target, launch_and_follow
    from flows.launch import check_reachable, flow_run_url

    actor, _ = resolve_actor(user)
    check_reachable()
    with session_scope() as session:
        job = svc.get_job(session, actor=actor, job_id=job_id)
    if job.status in ("starting", "running"):
        fail(
            f"training job {job.name!r} was already started ({job.status}, flow run {job.flow_run_id}); follow it "
            f"with `mlops jobs status {job_id}`",
            ExitCode.CONFLICT,
        )
    followed = launch_and_follow("train", {"job_id": job_id}, job_target(job), wait=wait, timeout=timeout)
    with session_scope() as session:
        job = svc.get_job(session, actor=actor, job_id=job_id)
    emit(
        {
            **pick([job], JOB_COLS)[0],
            "flow_run": flow_run_url(followed.flow_run_id),
            "flow_state": followed.flow_state,
        },
        as_json=as_json,
    )
    conclude(followed)


@app.command("stop")
@handle_errors
def stop(
    job_id: int = JobArg,
    timeout: float | None = TimeoutOpt,
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Stop a running job and follow the stop-training flow to its end. Exit codes: 1 failed, 4 deadline
    passed."""
    from catalog.db import session_scope
    from catalog.services import training as svc
    from cli.follow import conclude, launch_and_follow, stop_target
    from flows.launch import check_reachable

    actor, _ = resolve_actor(user)
    check_reachable()
    with session_scope() as session:
        job = svc.get_job(session, actor=actor, job_id=job_id)
    followed = launch_and_follow(
        "stop-training", {"job_id": job_id}, stop_target(job), wait=True, timeout=timeout
    )
    with session_scope() as session:
        job = svc.get_job(session, actor=actor, job_id=job_id)
    emit({**pick([job], JOB_COLS)[0], "flow_state": followed.flow_state}, as_json=as_json)
    conclude(followed)


@app.command("update")
@handle_errors
def update(
    job_id: int = JobArg,
    params: str | None = typer.Option(None, help="JSON object of parameters"),
    params_file: Path | None = ParamsFileOpt,
    release: int | None = typer.Option(
        None, "--release", help="Id of another published release to train on."
    ),
    max_evals: int | None = typer.Option(None, "--max-evals", help="Tuning trials before the final fit."),
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Change a stopped job's parameters, release or tuning trials (a new config revision in S3)."""
    from catalog.db import session_scope
    from catalog.services import training as svc
    from infra.objectstore import ObjectStore
    from infra.settings import get_settings

    actor, _ = resolve_actor(user)
    store = ObjectStore.from_settings(get_settings().s3)
    new_params = _params(params, params_file) if (params or params_file) else None
    with session_scope() as session:
        job, previous = svc.update_job(
            session,
            actor=actor,
            job_id=job_id,
            params=new_params,
            release_id=release,
            max_evals=max_evals,
            store=store,
        )
    if previous:
        store.delete(previous)  # only now: the new config is stored and the catalog points at it
    emit({**pick([job], JOB_COLS)[0], "params": job.params, "config_key": job.config_key}, as_json=as_json)


@app.command("runs")
@handle_errors
def runs(
    job_id: int = JobArg,
    deleted: bool = typer.Option(False, "--deleted", help="Include soft-deleted runs."),
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The job's MLflow runs: start, end, duration, status, metrics."""
    from catalog.services import runs as runs_svc

    actor, _ = resolve_actor(user)
    rows = runs_svc.list_runs(actor=actor, job_id=job_id, include_deleted=deleted)
    for row in rows:
        for key in ("start_time", "end_time"):
            row[key] = _iso(row[key])
    emit(
        rows,
        as_json=as_json,
        columns=["run_id", "status", "start_time", "end_time", "duration_s", "lifecycle_stage", "metrics"],
    )


def _iso(millis: int | None) -> str | None:
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds") if millis else None


@app.command("params")
@handle_errors
def params_(
    job_id: int = JobArg, run_id: str = RunArg, user: str | None = UserOpt, as_json: bool = JsonOpt
) -> None:
    """The parameters a run logged."""
    from catalog.services import runs as runs_svc

    actor, _ = resolve_actor(user)
    emit(runs_svc.run_params(actor=actor, job_id=job_id, run_id=run_id), as_json=as_json)


@app.command("metrics")
@handle_errors
def metrics(
    job_id: int = JobArg,
    run_id: str = RunArg,
    metric: str | None = typer.Option(None, help="One metric's history only."),
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Each metric's history (step, timestamp, value) of a run; the table shows the last value."""
    from catalog.services import runs as runs_svc

    actor, _ = resolve_actor(user)
    history = runs_svc.metric_history(actor=actor, job_id=job_id, run_id=run_id, metric=metric)
    if as_json:
        emit(history, as_json=True)
        return
    emit(
        [
            {"metric": name, "points": len(points), "last": points[-1]["value"] if points else None}
            for name, points in history.items()
        ],
        as_json=False,
    )


@app.command("delete-run")
@handle_errors
def delete_run(
    job_id: int = JobArg, run_id: str = RunArg, user: str | None = UserOpt, as_json: bool = JsonOpt
) -> None:
    """Soft-delete a run (restorable); a running run is refused."""
    from catalog.services import runs as runs_svc

    actor, _ = resolve_actor(user)
    runs_svc.delete_run(actor=actor, job_id=job_id, run_id=run_id)
    emit({"run_id": run_id, "deleted": True}, as_json=as_json)


@app.command("restore-run")
@handle_errors
def restore_run(
    job_id: int = JobArg, run_id: str = RunArg, user: str | None = UserOpt, as_json: bool = JsonOpt
) -> None:
    """Bring a soft-deleted run back."""
    from catalog.services import runs as runs_svc

    actor, _ = resolve_actor(user)
    runs_svc.restore_run(actor=actor, job_id=job_id, run_id=run_id)
    emit({"run_id": run_id, "deleted": False}, as_json=as_json)


@app.command("download-model")
@handle_errors
def download_model(
    job_id: int = JobArg,
    run_id: str = RunArg,
    output: Path | None = typer.Option(None, "--output", "-o", help="Zip path (default: ./<name>.zip)."),
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Download a finished run's model as a zip (streamed to the file)."""
    from catalog.services import runs as runs_svc

    actor, _ = resolve_actor(user)
    download = runs_svc.download_model(actor=actor, job_id=job_id, run_id=run_id)
    target = output or Path(download.filename)
    partial = target.with_name(target.name + ".part")
    size = 0
    with partial.open("wb") as fh:
        for chunk in download.chunks:
            fh.write(chunk)
            size += len(chunk)
    partial.replace(target)  # a failed download never leaves a truncated zip under the final name
    emit({"run_id": run_id, "path": str(target), "bytes": size}, as_json=as_json)
