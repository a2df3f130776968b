"""`mlops jobs ...`: create, update, list, status, start, stop, and the runs of a job (runs, params, metrics,
delete-run, restore-run, download-model), through the platform API (``cli.common.client``): the same commands
work from any machine with a token, and the caller's token decides who acts.

Each command imports the SDK (and what following a flow run needs) in its body (see cli.main).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cli.common import (
    IncludeChildrenOpt,
    JsonOpt,
    TeamFilterOpt,
    TeamOpt,
    TimeoutOpt,
    client,
    emit,
    emit_page,
    handle_errors,
    pick,
    team_id_of,
)

if TYPE_CHECKING:
    from cli.follow import Target
    from mlops_lite.client import Client
    from mlops_lite.schemas.jobs import JobDetail
    from mlops_lite.schemas.runs import Launch

app = typer.Typer(help="Training jobs.", no_args_is_help=True)
JOB_COLS = [
    "id",
    "name",
    "scenario",
    "status",
    "algorithm_id",
    "release_id",
    "model_id",
    "mlflow_run_id",
    "error",
]

JobArg = typer.Argument(..., help="Training job id (`mlops jobs list`).")
RunArg = typer.Argument(..., help="MLflow run id (`mlops jobs runs JOB_ID`).")
ModelOpt = typer.Option(
    None,
    "--model",
    help="The team's model (name or id, `mlops models list`) the job's runs register versions of (default: "
    "the model named after the job).",
)
AutoPromoteOpt = typer.Option(
    False, "--auto-promote", help="Each completed start asks the model's promotion gate for its version."
)
ParamsFileOpt = typer.Option(
    None, "--params-file", exists=True, help="File holding the parameters as a JSON object."
)


def _params(params: str | None, params_file: Path | None) -> dict[str, Any]:
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


def _with_config(job: JobDetail) -> dict[str, Any]:
    return {**pick([job], JOB_COLS)[0], "params": job.params, "config_key": job.config_key}


def _target(api: Client, job: JobDetail, *, stopping: bool) -> Target:
    """How `start`/`stop` follow their flow run: through the job's progress endpoint."""
    from cli.follow import TRAINING, Target, unclaimed

    job_id = job.id
    return Target(
        unclaimed("training job") if stopping else TRAINING,
        f"training job {job.name!r}",
        f"mlops jobs status {job_id}",
        lambda flow_run_id: api.jobs.progress(job_id, flow_run_id),
    )


@app.command("create")
@handle_errors
def create(
    name: str = typer.Argument(..., help="Job name, unique in the team."),
    scenario: str = typer.Option(..., "--scenario", "-s", help="Scenario, e.g. anomaly_detection."),
    algorithm: str = typer.Option(
        ..., "--algorithm", "-a", help="Algorithm name of the scenario, or its id (`mlops algorithms list`)."
    ),
    release: int = typer.Option(..., "--release", help="Id of the published dataset release to train on."),
    params: str | None = typer.Option(None, help="JSON object, e.g. '{\"contamination\": 0.05}'"),
    params_file: Path | None = ParamsFileOpt,
    max_evals: int = typer.Option(
        0, "--max-evals", help="Tuning trials before the final fit (0: train once with the parameters)."
    ),
    description: str = typer.Option("", "--description", help="Free text shown with the job."),
    model: str | None = ModelOpt,
    auto_promote: bool = AutoPromoteOpt,
    team: str | None = TeamOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a training job, its parameters checked against the algorithm's; `mlops jobs start` runs it."""
    values = _params(params, params_file)
    with client() as api:
        job = api.jobs.create(
            name,
            scenario=scenario,
            algorithm=int(algorithm) if algorithm.isdigit() else algorithm,
            release_id=release,
            params=values,
            max_evals=max_evals,
            description=description,
            team_id=team_id_of(api, team),
            model=model,
            auto_promote=auto_promote,
        )
    emit(_with_config(job), as_json=as_json)


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
    team: str | None = TeamFilterOpt,
    include_children: bool = IncludeChildrenOpt,
    offset: int = typer.Option(0, "--offset", help="Skip this many jobs (paging)."),
    limit: int = typer.Option(50, "--limit", help="Show at most this many jobs."),
    as_json: bool = JsonOpt,
) -> None:
    """The training jobs of your teams, newest first (--json adds the total count)."""
    with client() as api:
        page = api.jobs.page(
            offset=offset,
            limit=limit,
            search=search,
            scenario=scenario,
            status=status,
            team_id=team_id_of(api, team),
            include_children=include_children,
        )
    emit_page(page, JOB_COLS, as_json=as_json)


@app.command("status")
@handle_errors
def status(job_id: int = JobArg, as_json: bool = JsonOpt) -> None:
    """A job in full: status, parameters, release, algorithm, and links to its flow run and MLflow run."""
    with client() as api:
        job = api.jobs.get(job_id)
    out = job.model_dump(exclude={"flow_run_url", "mlflow_run_url"})
    out["flow_run"] = job.flow_run_url
    if job.mlflow_run_url:
        out["mlflow_run"] = job.mlflow_run_url
    emit(out, as_json=as_json)


@app.command("start")
@handle_errors
def start(
    job_id: int = JobArg,
    wait: bool = typer.Option(False, "--wait/--no-wait", help="Follow until the job ends."),
    timeout: float | None = TimeoutOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Start a job. Without --wait, returns once its flow run has taken the job on (exit 0) or failed to; with
    --wait, follows it to its end. Exit codes: 1 failed, 3 started by another request, 4 deadline passed,
    5 the platform (API or Prefect) unreachable."""
    from cli.follow import conclude, launch_and_follow

    with client() as api:
        job = api.jobs.get(job_id)
        launched: list[Launch] = []

        def launch() -> Launch:
            launched.append(api.jobs.start(job_id))
            return launched[-1]

        followed = launch_and_follow(launch, _target(api, job, stopping=False), wait=wait, timeout=timeout)
        job = api.jobs.get(job_id)
    emit(
        {
            **pick([job], JOB_COLS)[0],
            "flow_run": launched[-1].flow_run_url,
            "flow_state": followed.flow_state,
        },
        as_json=as_json,
    )
    conclude(followed)


@app.command("stop")
@handle_errors
def stop(job_id: int = JobArg, timeout: float | None = TimeoutOpt, as_json: bool = JsonOpt) -> None:
    """Stop a running job and follow the stop-training flow to its end. Exit codes: 1 failed, 4 deadline
    passed, 5 the platform (API or Prefect) unreachable."""
    from cli.follow import conclude, launch_and_follow

    with client() as api:
        job = api.jobs.get(job_id)
        followed = launch_and_follow(
            lambda: api.jobs.stop(job_id), _target(api, job, stopping=True), wait=True, timeout=timeout
        )
        job = api.jobs.get(job_id)
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
    as_json: bool = JsonOpt,
) -> None:
    """Change a stopped job's parameters, release or tuning trials (a new config revision in S3)."""
    new_params = _params(params, params_file) if (params or params_file) else None
    with client() as api:
        job = api.jobs.update(job_id, params=new_params, release_id=release, max_evals=max_evals)
    emit(_with_config(job), as_json=as_json)


@app.command("runs")
@handle_errors
def runs(
    job_id: int = JobArg,
    deleted: bool = typer.Option(False, "--deleted", help="Include soft-deleted runs."),
    as_json: bool = JsonOpt,
) -> None:
    """The job's MLflow runs: start, end, duration, status, metrics."""
    with client() as api:
        found = api.jobs.runs(job_id, deleted=deleted)
    rows = []
    for run in found:
        row = run.model_dump()
        for key in ("start_time", "end_time"):
            row[key] = row[key].isoformat(timespec="seconds") if row[key] else None
        rows.append(row)
    emit(
        rows,
        as_json=as_json,
        columns=["run_id", "status", "start_time", "end_time", "duration_s", "lifecycle_stage", "metrics"],
    )


@app.command("params")
@handle_errors
def params_(job_id: int = JobArg, run_id: str = RunArg, as_json: bool = JsonOpt) -> None:
    """The parameters a run logged."""
    with client() as api:
        emit(api.jobs.params(job_id, run_id), as_json=as_json)


@app.command("metrics")
@handle_errors
def metrics(
    job_id: int = JobArg,
    run_id: str = RunArg,
    metric: str | None = typer.Option(None, help="One metric's history only."),
    as_json: bool = JsonOpt,
) -> None:
    """Each metric's history (step, timestamp, value) of a run; the table shows the last value."""
    with client() as api:
        history = api.jobs.metrics(job_id, run_id, metric=metric)
    if as_json:
        emit(history, as_json=True)
        return
    emit(
        [
            {"metric": name, "points": len(points), "last": points[-1].value if points else None}
            for name, points in history.items()
        ],
        as_json=False,
    )


@app.command("delete-run")
@handle_errors
def delete_run(job_id: int = JobArg, run_id: str = RunArg, as_json: bool = JsonOpt) -> None:
    """Soft-delete a run (restorable); a running run is refused."""
    with client() as api:
        emit(api.jobs.delete_run(job_id, run_id), as_json=as_json)


@app.command("restore-run")
@handle_errors
def restore_run(job_id: int = JobArg, run_id: str = RunArg, as_json: bool = JsonOpt) -> None:
    """Bring a soft-deleted run back."""
    with client() as api:
        emit(api.jobs.restore_run(job_id, run_id), as_json=as_json)


@app.command("download-model")
@handle_errors
def download_model(
    job_id: int = JobArg,
    run_id: str = RunArg,
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Zip path, or a directory for the server's name (default: ./<name>.zip)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Download a finished run's model as a zip (streamed to the file; a failed download leaves no zip)."""
    with client() as api:
        path = api.jobs.download_model(job_id, output or Path.cwd(), run_id=run_id)
    emit({"run_id": run_id, "path": str(path), "bytes": path.stat().st_size}, as_json=as_json)
