"""`mlops jobs ...`: create, list, show, start, stop, runs."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from catalog.db import session_scope
from catalog.services import training as svc
from cli.common import JsonOpt, TeamOpt, UserOpt, emit, fail, handle_errors, pick, require_team, resolve_actor
from flows.launch import flow_run_url, run_flow
from infra import tracking
from infra.objectstore import ObjectStore
from infra.settings import get_settings

app = typer.Typer(help="Training jobs.", no_args_is_help=True)
JOB_COLS = ["id", "name", "scenario", "status", "algorithm_id", "release_id", "mlflow_run_id", "error"]


def _params(params: str | None, params_file: Path | None) -> dict:
    if params and params_file:
        raise ValueError("give --params or --params-file, not both")
    text = params_file.read_text() if params_file else (params or "{}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"parameters are not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("parameters must be a JSON object")
    return value


@app.command("create")
@handle_errors
def create(name: str, scenario: str = typer.Option(..., "--scenario", "-s"),
           algorithm: str = typer.Option(..., "--algorithm", "-a"), release: int = typer.Option(..., "--release"),
           params: str | None = typer.Option(None, help='JSON object, e.g. \'{"contamination": 0.05}\''),
           params_file: Path | None = typer.Option(None, exists=True), max_evals: int = 0, description: str = "",
           user: str | None = UserOpt, team: str | None = TeamOpt, as_json: bool = JsonOpt) -> None:
    actor, team_id = resolve_actor(user, team)
    store = ObjectStore.from_settings(get_settings().s3)
    with session_scope() as session:
        job, previous = svc.create_job(session, actor=actor, team_id=require_team(team_id), name=name,
                                       scenario=scenario, algorithm=algorithm, release_id=release,
                                       params=_params(params, params_file), max_evals=max_evals,
                                       description=description, store=store)
    if previous:
        store.delete(previous)
    emit({**pick([job], JOB_COLS)[0], "params": job.params, "config_key": job.config_key}, as_json=as_json)


@app.command("list")
@handle_errors
def list_(scenario: str | None = typer.Option(None, "--scenario", "-s"), status: str | None = None,
          search: str | None = None, offset: int = 0, limit: int = 50, user: str | None = UserOpt,
          as_json: bool = JsonOpt) -> None:
    actor, _ = resolve_actor(user)
    with session_scope() as session:
        total, rows = svc.list_jobs(session, actor=actor, scenario=scenario, status=status, search=search,
                                    offset=offset, limit=limit)
    emit({"count": total, "items": pick(rows, JOB_COLS)} if as_json else pick(rows, JOB_COLS), as_json=as_json)


@app.command("status")
@handle_errors
def status(job_id: int, user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    actor, _ = resolve_actor(user)
    with session_scope() as session:
        job = svc.get_job(session, actor=actor, job_id=job_id)
        context = svc.job_context(session, job)
    out = {**job.model_dump(), **context, "flow_run": flow_run_url(job.flow_run_id)}
    if job.mlflow_run_id and job.mlflow_experiment_id:
        out["mlflow_run"] = (f"{get_settings().mlflow.uri}/#/experiments/{job.mlflow_experiment_id}"
                             f"/runs/{job.mlflow_run_id}")
    emit(out, as_json=as_json)


@app.command("start")
@handle_errors
def start(job_id: int, wait: bool = typer.Option(False, "--wait/--no-wait", help="Follow until the job ends."),
          user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    actor, _ = resolve_actor(user)
    with session_scope() as session:
        job = svc.get_job(session, actor=actor, job_id=job_id)
        if job.status in ("starting", "running"):
            fail(f"training job {job.name!r} is already running")
    launched = run_flow("train", {"job_id": job_id}, wait=wait)
    with session_scope() as session:
        job = svc.get_job(session, actor=actor, job_id=job_id)
    emit({**pick([job], JOB_COLS)[0], "flow_run": flow_run_url(launched.flow_run_id), "flow_state": launched.state},
         as_json=as_json)
    if launched.state in ("FAILED", "CRASHED"):
        fail(f"training flow {launched.state.lower()}: {launched.message or job.error}")


@app.command("stop")
@handle_errors
def stop(job_id: int, user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    actor, _ = resolve_actor(user)
    with session_scope() as session:
        svc.get_job(session, actor=actor, job_id=job_id)
    launched = run_flow("stop-training", {"job_id": job_id}, wait=True)
    with session_scope() as session:
        job = svc.get_job(session, actor=actor, job_id=job_id)
    emit({**pick([job], JOB_COLS)[0], "flow_state": launched.state}, as_json=as_json)


@app.command("runs")
@handle_errors
def runs(job_id: int, user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    """The job's MLflow runs: start, end, duration, status, metrics."""
    actor, _ = resolve_actor(user)
    with session_scope() as session:
        job = svc.get_job(session, actor=actor, job_id=job_id)
    if not job.mlflow_experiment_id:
        emit([], as_json=as_json)
        return
    rows = tracking.list_job_runs(tracking.client(), experiment_id=job.mlflow_experiment_id, job_id=job_id)
    emit(rows, as_json=as_json, columns=["run_id", "status", "start_time", "end_time", "duration_s", "metrics"])
