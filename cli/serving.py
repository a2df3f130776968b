"""`mlops servings ...` and `mlops predict`: the serving lifecycle and the platform's predict call.

Each command imports the catalog, the runtime or Prefect in its body, only if it uses them (see cli.main).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import typer

from cli.common import (
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
from flows.outcomes import Outcome

app = typer.Typer(help="Servings: trained models as inference endpoints.", no_args_is_help=True)
COLS = [
    "id",
    "name",
    "scenario",
    "train_job_id",
    "model_version",
    "resolved_version",
    "desired_state",
    "observed_state",
    "observed_port",
    "observed_stale",
    "error",
]

ServingArg = typer.Argument(..., help="Serving id (`mlops servings list`).")
ModelVersionHelp = "Model version to serve: 'latest' (the job's newest) or a version number."


def _refresh(ids: list[int]) -> None:
    """Live state: ask the runtime about every serving shown, in one call (stale marks on failure)."""
    from tasks.serving import observe_now

    observe_now(ids)


def _lifecycle(
    flow: str, serving_id: int, user: str | None, as_json: bool, timeout: float | None = None
) -> None:
    """Run a lifecycle flow and follow it to its end (exit codes: 1 failed, 4 deadline passed)."""
    from catalog.db import session_scope
    from catalog.services import serving as svc
    from cli.follow import conclude, launch_and_follow, serving_target
    from flows.launch import check_reachable, flow_run_url

    actor, _ = resolve_actor(user)
    check_reachable()
    with session_scope() as session:
        serving = svc.get_serving(session, actor=actor, serving_id=serving_id)
    followed = launch_and_follow(
        flow, {"serving_id": serving_id}, serving_target(serving), wait=True, timeout=timeout
    )
    if flow == "serving-delete" and followed.decision.outcome is Outcome.SUCCEEDED:
        emit({"id": serving_id, "deleted": True}, as_json=as_json)
        return
    with session_scope() as session:
        serving = svc.get_serving(session, actor=actor, serving_id=serving_id)
    emit({**pick([serving], COLS)[0], "flow_run": flow_run_url(followed.flow_run_id)}, as_json=as_json)
    conclude(followed)


@app.command("create")
@handle_errors
def create(
    name: str = typer.Argument(..., help="Serving name, unique in the team."),
    job: int = typer.Option(..., "--job", help="Training job id."),
    model_version: str = typer.Option("latest", "--model-version", help=ModelVersionHelp),
    port: int | None = typer.Option(
        None,
        "--port",
        help="Port to serve on, in MLOPS_RUNTIME_SERVING_PORT_RANGE (default: the runtime picks).",
    ),
    start: bool = typer.Option(
        True, "--start/--no-start", help="Start it now and follow the start to its end, or only record it."
    ),
    timeout: float | None = TimeoutOpt,
    user: str | None = UserOpt,
    team: str | None = TeamOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a serving of a training job's model, and start it. Exit codes: 1 failed, 3 port taken,
    4 deadline passed."""
    from catalog.db import session_scope
    from catalog.services import serving as svc
    from flows.launch import check_reachable

    actor, team_id = resolve_actor(user, team)
    if start:
        check_reachable()  # before the record exists: no serving left that nothing could start
    with session_scope() as session:
        serving = svc.create_serving(
            session,
            actor=actor,
            team_id=require_team(team_id),
            name=name,
            train_job_id=job,
            model_version=model_version,
            port=port,
        )
    if start:
        _lifecycle("serving-start", serving.id, user, as_json, timeout)  # type: ignore[arg-type]
    else:
        emit(pick([serving], COLS)[0], as_json=as_json)


@app.command("start")
@handle_errors
def start(
    serving_id: int = ServingArg,
    timeout: float | None = TimeoutOpt,
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Start a serving's inference server and follow the start to its end."""
    _lifecycle("serving-start", serving_id, user, as_json, timeout)


@app.command("stop")
@handle_errors
def stop(
    serving_id: int = ServingArg,
    timeout: float | None = TimeoutOpt,
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Stop a serving's inference server (the record stays; `start` brings it back)."""
    _lifecycle("serving-stop", serving_id, user, as_json, timeout)


@app.command("remove")
@handle_errors
def remove(
    serving_id: int = ServingArg,
    timeout: float | None = TimeoutOpt,
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Force-delete the container, even while it runs."""
    _lifecycle("serving-remove", serving_id, user, as_json, timeout)


@app.command("delete")
@handle_errors
def delete(
    serving_id: int = ServingArg,
    timeout: float | None = TimeoutOpt,
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Delete the container, then the record."""
    _lifecycle("serving-delete", serving_id, user, as_json, timeout)


@app.command("update")
@handle_errors
def update(
    serving_id: int = ServingArg,
    model_version: str | None = typer.Option(None, "--model-version", help=ModelVersionHelp),
    job: int | None = typer.Option(None, "--job", help="Training job id."),
    port: int | None = typer.Option(
        None, "--port", help="Serve on this port, in MLOPS_RUNTIME_SERVING_PORT_RANGE (see --any-port)."
    ),
    any_port: bool = typer.Option(False, "--any-port", help="Let the runtime choose the port."),
    timeout: float | None = TimeoutOpt,
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Change model version, training job or port; a running serving restarts to apply it."""
    from catalog.db import session_scope
    from catalog.services import serving as svc

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        serving, restart = svc.update_serving(
            session,
            actor=actor,
            serving_id=serving_id,
            model_version=model_version,
            train_job_id=job,
            port=port,
            clear_port=any_port,
        )
    if restart:
        _lifecycle("serving-restart", serving_id, user, as_json, timeout)
    else:
        emit(pick([serving], COLS)[0], as_json=as_json)


@app.command("list")
@handle_errors
def list_(
    scenario: str | None = typer.Option(None, "--scenario", "-s", help="Only servings of this scenario."),
    search: str | None = typer.Option(None, "--search", help="Only servings whose name contains this text."),
    offset: int = typer.Option(0, "--offset", help="Skip this many servings (paging)."),
    limit: int = typer.Option(50, "--limit", help="Show at most this many servings."),
    user: str | None = UserOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The servings of your teams, newest first, with their live state (asked of the runtime now)."""
    from catalog.db import session_scope
    from catalog.services import serving as svc

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        _, rows = svc.list_servings(
            session, actor=actor, scenario=scenario, search=search, offset=offset, limit=limit
        )
    _refresh([r.id for r in rows if r.id is not None])
    with session_scope() as session:
        total, rows = svc.list_servings(
            session, actor=actor, scenario=scenario, search=search, offset=offset, limit=limit
        )
    emit({"count": total, "items": pick(rows, COLS)} if as_json else pick(rows, COLS), as_json=as_json)


@app.command("status")
@handle_errors
def status(serving_id: int = ServingArg, user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    """A serving in full, its live state asked of the runtime now, and its inference URL while it runs."""
    from catalog.db import session_scope
    from catalog.services import serving as svc
    from tasks.serving import inference_url

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        svc.get_serving(session, actor=actor, serving_id=serving_id)
    _refresh([serving_id])
    with session_scope() as session:
        serving = svc.get_serving(session, actor=actor, serving_id=serving_id)
    out = serving.model_dump()
    if serving.observed_state == "running":
        out["url"] = inference_url(serving)
    emit(out, as_json=as_json)


@app.command("token")
@handle_errors
def token(serving_id: int = ServingArg, user: str | None = UserOpt, as_json: bool = JsonOpt) -> None:
    """Print the bearer token the serving's inference URL requires (Authorization: Bearer TOKEN)."""
    from catalog.db import session_scope
    from catalog.services import serving as svc

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        serving = svc.get_serving(session, actor=actor, serving_id=serving_id)
    emit({"serving_id": serving.id, "token": svc.inference_token(serving)}, as_json=as_json)


def load_payload(path: Path, scenario: str | None = None) -> dict[str, Any]:
    """A JSON request body as is; a CSV becomes `data` records; images become `images`; text lines `data`."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        value = json.loads(path.read_text())
        if not isinstance(value, dict):
            raise ValueError(f"{path}: a request body must be a JSON object")
        return value
    if suffix in (".png", ".jpg", ".jpeg", ".bmp", ".webp"):
        from tasks.predict import encode_image

        return {"images": [encode_image(path.read_bytes())]}
    if suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
        if scenario == "text_classification":
            return {"texts": [r.get("text", "") for r in rows]}
        records: list[dict[str, Any]] = []
        for r in rows:
            r.pop("label", None)
            ts = r.pop("timestamp", None)
            values = {k: float(v) for k, v in r.items()}
            records.append(
                {"timestamp": ts, "value": next(iter(values.values()))}
                if len(values) == 1
                else {"timestamp": ts, "values": values}
            )
        return {"data": records}
    return {
        "data": [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line]
    }


@handle_errors
def predict_command(
    serving: int = typer.Argument(..., help="Serving id."),
    file: Path = typer.Option(
        ...,
        "--file",
        "-f",
        exists=True,
        dir_okay=False,
        help="Request body: a .json body as is, a CSV's rows, an image, or a text file's lines.",
    ),
    user: str | None = UserOpt,
) -> None:
    """Send a request to a running serving and print its JSON answer."""
    from catalog.db import session_scope
    from catalog.services import serving as svc
    from tasks.predict import PredictError, predict

    actor, _ = resolve_actor(user)
    with session_scope() as session:
        scenario = svc.get_serving(session, actor=actor, serving_id=serving).scenario
    try:
        result = predict(actor=actor, serving_id=serving, payload=load_payload(file, scenario))
    except PredictError as exc:
        fail(f"HTTP {exc.status}: {exc}" + (f" ({json.dumps(exc.details)})" if exc.details else ""))
        return
    typer.echo(json.dumps(result, indent=2))
