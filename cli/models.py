"""`mlops models ...`: list, show, create, versions, the promotion gate (show, set), promote (and follow the gate
to its decision), evaluations, rollback, aliases set and cleared by hand, their history, and lineage both ways —
through the platform API (``cli.common.client``). A model is named by its name (``--team`` when several of your
teams have one of that name) or its id.

`promote --wait` exits 0 when the version was promoted and ``ExitCode.REJECTED`` when the gate rejected it (the
reason is the one line on stderr). Only typer and the light platform modules at module level (see cli.main).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from cli.common import (
    ExitCode,
    IncludeChildrenOpt,
    JsonOpt,
    TeamFilterOpt,
    TeamOpt,
    TimeoutOpt,
    client,
    emit,
    emit_page,
    fail,
    handle_errors,
    pick,
    team_id_of,
)
from flows.outcomes import Outcome, Work

if TYPE_CHECKING:
    from mlops_lite.client import Client
    from mlops_lite.schemas.models import ModelChange, ModelOut

app = typer.Typer(
    help="Models: versions, aliases, the promotion gate, rollback, lineage.", no_args_is_help=True
)

MODEL_COLS = [
    "id",
    "name",
    "scenario",
    "team_id",
    "champion_version",
    "challenger_version",
    "gate_metric",
    "gate_threshold",
    "gate_tolerance",
    "evaluation_release_id",
]
VERSION_COLS = ["version", "aliases", "run_status", "job_id", "release_id", "run_id", "metrics"]
EVALUATION_COLS = [
    "id",
    "version",
    "status",
    "champion_version",
    "metric",
    "candidate_value",
    "champion_value",
    "automatic",
    "reason",
]
GATE_FIELDS = {"metric": "metric", "threshold": "threshold", "evaluation-release": "evaluation_release_id"}
# The gate's flow run claims its evaluation (pending → running) and ends it promoted, rejected or failed.
PROMOTION = Work(
    noun="promotion",
    claims=True,
    claimed=frozenset({"running"}),
    succeeded=frozenset({"promoted", "rejected"}),
    failed=frozenset({"failed"}),
    held_by_other="is being evaluated by another flow run",
    done_by_other="was already decided by another flow run",
)

ModelArg = typer.Argument(..., help="Model name (or id; `mlops models list`).")
VersionArg = typer.Argument(..., min=1, help="Version number (`mlops models versions NAME`).")
ModelTeamOpt = typer.Option(
    None,
    "--team",
    "-t",
    help="The model's team (name or id), when several of your teams have one of that name.",
)
OffsetOpt = typer.Option(0, "--offset", help="Skip this many rows (paging).")
LimitOpt = typer.Option(50, "--limit", help="Show at most this many rows.")


def resolve(api: Client, model: str, team: str | None) -> ModelOut:
    """The model a command names: an id, or a name among the caller's models (of ``team``)."""
    if model.isdigit():
        return api.models.get(int(model))
    return api.models.find(model, team_id=team_id_of(api, team))


def _row(model: ModelOut) -> dict[str, Any]:
    return pick([model], MODEL_COLS)[0]


def _changed(change: ModelChange, as_json: bool) -> None:
    flow_run = change.launch.flow_run_url if change.launch else None
    emit({**_row(change.model), "flow_run": flow_run}, as_json=as_json)


@app.command("list")
@handle_errors
def list_(
    scenario: str | None = typer.Option(None, "--scenario", "-s", help="Only models of this scenario."),
    search: str | None = typer.Option(None, "--search", help="Only models whose name contains this text."),
    team: str | None = TeamFilterOpt,
    include_children: bool = IncludeChildrenOpt,
    offset: int = OffsetOpt,
    limit: int = LimitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The models of your teams, newest first (--json adds the total count)."""
    with client() as api:
        page = api.models.page(
            offset=offset,
            limit=limit,
            search=search,
            scenario=scenario,
            team_id=team_id_of(api, team),
            include_children=include_children,
        )
    emit_page(page, MODEL_COLS, as_json=as_json)


@app.command("show")
@handle_errors
def show(model: str = ModelArg, team: str | None = ModelTeamOpt, as_json: bool = JsonOpt) -> None:
    """A model in full: its aliases, its promotion gate, its MLflow registered model."""
    with client() as api:
        emit(resolve(api, model, team), as_json=as_json)


@app.command("create")
@handle_errors
def create(
    name: str = typer.Argument(..., help="Model name, unique in the team."),
    scenario: str = typer.Option(..., "--scenario", "-s", help="Scenario, e.g. anomaly_detection."),
    description: str = typer.Option("", "--description", help="Free text shown with the model."),
    team: str | None = TeamOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a model several training jobs may feed (`mlops jobs create ... --model NAME`)."""
    with client() as api:
        created = api.models.create(name, scenario, description=description, team_id=team_id_of(api, team))
    emit(_row(created), as_json=as_json)


@app.command("versions")
@handle_errors
def versions(
    model: str = ModelArg,
    team: str | None = ModelTeamOpt,
    offset: int = OffsetOpt,
    limit: int = LimitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """A model's versions, newest first, with their aliases, runs and metrics."""
    with client() as api:
        page = api.models.versions(resolve(api, model, team).id, offset=offset, limit=limit)
    emit_page(page, VERSION_COLS, as_json=as_json)


@app.command("gate")
@handle_errors
def gate(
    model: str = ModelArg,
    metric: str | None = typer.Option(None, "--metric", help="A gate metric of the model's scenario."),
    threshold: float | None = typer.Option(None, "--threshold", help="The value a candidate must reach."),
    tolerance: float | None = typer.Option(
        None, "--tolerance", min=0, help="How much worse than the champion a candidate may be (≥ 0)."
    ),
    evaluation_release: int | None = typer.Option(
        None, "--evaluation-release", help="Id of the published release every candidate is evaluated on."
    ),
    description: str | None = typer.Option(None, "--description", help="The model's description."),
    clear: list[str] = typer.Option(
        [], "--clear", help="Unset one of: metric, threshold, evaluation-release (repeatable)."
    ),
    team: str | None = ModelTeamOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Show a model's promotion gate, or set it with the options given (team admins: models:manage)."""
    unknown = [name for name in clear if name not in GATE_FIELDS]
    if unknown:
        fail(f"--clear takes {', '.join(GATE_FIELDS)}, not {unknown[0][:40]!r}")
    changes: dict[str, Any] = {GATE_FIELDS[name]: None for name in clear}
    given = {
        "metric": metric,
        "threshold": threshold,
        "tolerance": tolerance,
        "evaluation_release_id": evaluation_release,
        "description": description,
    }
    changes |= {k: v for k, v in given.items() if v is not None}
    with client() as api:
        found = resolve(api, model, team)
        if changes:
            found = api.models.configure_gate(found.id, **changes)
    fields = ["id", "name", "gate_metric", "gate_threshold", "gate_tolerance", "evaluation_release_id"]
    emit({**pick([found], fields)[0], "description": found.description}, as_json=as_json)


@app.command("promote")
@handle_errors
def promote(
    model: str = ModelArg,
    version: int = VersionArg,
    wait: bool = typer.Option(False, "--wait/--no-wait", help="Follow the gate until it decides."),
    timeout: float | None = TimeoutOpt,
    team: str | None = ModelTeamOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Ask the promotion gate to promote a version: it is evaluated beside the champion on the model's
    evaluation release and promoted (the champion alias moves; servings following it roll forward) or rejected
    with the reason. Exit codes with --wait: 0 promoted, 6 rejected, 1 the gate failed, 4 deadline passed."""
    from cli.follow import Target, conclude, launch_and_follow

    with client() as api:
        found = resolve(api, model, team)
        asked = api.models.promote(found.id, version)
        evaluation_id = asked.evaluation.id
        if not wait:
            row = pick([asked.evaluation], EVALUATION_COLS)[0]
            emit({**row, "flow_run": asked.launch.flow_run_url}, as_json=as_json)
            return
        target = Target(
            PROMOTION,
            f"promotion of {found.name!r} v{version}",
            f"mlops models evaluation {evaluation_id}",
            lambda flow_run_id: api.models.evaluation_progress(evaluation_id, flow_run_id),
        )
        followed = launch_and_follow(lambda: asked.launch, target, wait=True, timeout=timeout)
        decided = api.models.evaluation(evaluation_id)
    emit({**pick([decided], EVALUATION_COLS)[0], "flow_run": asked.launch.flow_run_url}, as_json=as_json)
    if followed.decision.outcome is Outcome.SUCCEEDED and decided.status == "rejected":
        fail(f"v{version} of {found.name!r} was rejected: {decided.reason}", ExitCode.REJECTED)
    conclude(followed)


@app.command("evaluation")
@handle_errors
def evaluation(
    evaluation_id: int = typer.Argument(..., help="Evaluation id (`mlops models evaluations NAME`)."),
    as_json: bool = JsonOpt,
) -> None:
    """One evaluation of the gate in full: the metrics of the candidate and of the champion, the decision."""
    with client() as api:
        emit(api.models.evaluation(evaluation_id), as_json=as_json)


@app.command("evaluations")
@handle_errors
def evaluations(
    model: str = ModelArg,
    team: str | None = ModelTeamOpt,
    offset: int = OffsetOpt,
    limit: int = LimitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The gate's evaluations of a model, newest first."""
    with client() as api:
        page = api.models.evaluations(resolve(api, model, team).id, offset=offset, limit=limit)
    emit_page(page, EVALUATION_COLS, as_json=as_json)


@app.command("rollback")
@handle_errors
def rollback(model: str = ModelArg, team: str | None = ModelTeamOpt, as_json: bool = JsonOpt) -> None:
    """Move the champion back to the previous champion (again: further back); the servings following it roll
    back with it."""
    with client() as api:
        _changed(api.models.rollback(resolve(api, model, team).id), as_json)


@app.command("set-alias")
@handle_errors
def set_alias(
    model: str = ModelArg,
    alias: str = typer.Argument(..., help="champion or challenger."),
    version: int = VersionArg,
    team: str | None = ModelTeamOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Point an alias at a version by hand, bypassing the gate (team admins: models:manage)."""
    with client() as api:
        _changed(api.models.set_alias(resolve(api, model, team).id, alias, version), as_json)


@app.command("clear-alias")
@handle_errors
def clear_alias(
    model: str = ModelArg,
    alias: str = typer.Argument(..., help="champion or challenger."),
    team: str | None = ModelTeamOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Unset an alias (team admins: models:manage)."""
    with client() as api:
        _changed(api.models.clear_alias(resolve(api, model, team).id, alias), as_json)


@app.command("history")
@handle_errors
def history(model: str = ModelArg, team: str | None = ModelTeamOpt, as_json: bool = JsonOpt) -> None:
    """Every move of a model's aliases, oldest first: promotions, rollbacks, moves by hand."""
    with client() as api:
        moves = api.models.alias_history(resolve(api, model, team).id)
    cols = ["id", "alias", "version", "previous_version", "cause", "evaluation_id", "actor_id", "created_at"]
    emit(pick(moves, cols), as_json=as_json)


@app.command("lineage")
@handle_errors
def lineage(
    model: str = ModelArg, version: int = VersionArg, team: str | None = ModelTeamOpt, as_json: bool = JsonOpt
) -> None:
    """Where a version came from (run → job → release → entries → dataset), the gate's evaluations of it and the
    servings answering with it; --json gives all of it."""
    with client() as api:
        found = api.models.lineage(resolve(api, model, team).id, version)
    if as_json:
        emit(found, as_json=True)
        return
    release, job = found.release, found.job
    emit(
        {
            "model": found.model.name,
            "version": found.version,
            "aliases": found.aliases,
            "run": f"{found.run.id} ({found.run.status})",
            "metrics": found.run.metrics,
            "job": f"{job.name} (#{job.id}, {job.algorithm or job.image})" if job else None,
            "params": job.params if job else None,
            "release": f"{release.version} (#{release.id}, sha256 {release.sha256})" if release else None,
            "dataset": release.dataset.name if release and release.dataset else None,
            "entries": [e.name for e in release.entries] if release else None,
            "evaluations": [f"#{e.id} {e.status}" for e in found.evaluations],
            "servings": [f"{s.name} (#{s.id}, {s.model_version})" for s in found.servings],
        },
        as_json=False,
    )


@app.command("release-lineage")
@handle_errors
def release_lineage(
    release_id: int = typer.Argument(..., help="Release id (`mlops datasets releases DATASET_ID`)."),
    as_json: bool = JsonOpt,
) -> None:
    """What was built from a release: the model versions trained on it and the servings serving them."""
    with client() as api:
        found = api.models.release_lineage(release_id)
    if as_json:
        emit(found, as_json=True)
        return
    emit(
        [
            {
                "model": v.model.name,
                "model_id": v.model.id,
                "version": v.version,
                "job_id": v.job_id,
                "run_id": v.run_id,
                "servings": [s.name for s in v.servings],
            }
            for v in found.versions
        ],
        as_json=False,
    )
