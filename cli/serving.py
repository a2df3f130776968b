"""`mlops servings ...` and `mlops predict`: the serving lifecycle and predictions, through the platform API
(``cli.common.client``), so they work from any machine with a token.

Lifecycle commands launch their flow through the API and follow it (``cli.follow``) to an honest outcome; the
exit codes are ``cli.common.ExitCode``. Module level imports typer and the light platform modules only (see
cli.main); the SDK is imported by the commands.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable
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
    fail,
    handle_errors,
    pick,
    team_id_of,
)
from flows.outcomes import Outcome

if TYPE_CHECKING:
    from mlops_lite.client import Client
    from mlops_lite.schemas.runs import Launch
    from mlops_lite.schemas.servings import ServingOut

app = typer.Typer(help="Servings: trained models as inference endpoints.", no_args_is_help=True)
COLS = [
    "id",
    "name",
    "scenario",
    "model_id",
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
ModelVersionHelp = (
    "Model version to serve: 'latest' (the newest), a version number, or an alias the serving follows "
    "('champion', 'challenger': it rolls forward when the alias moves)."
)
ModelOpt = typer.Option(
    None, "--model", help="The model to serve (name or id, `mlops models list`), instead of --job."
)


def _model_id(api: Client, model: str | None, team: str | None) -> tuple[int | None, int | None]:
    """The id of ``--model`` and the team the serving goes to: ``--team`` if given, else the model's."""
    if model is None:
        return None, team_id_of(api, team)
    from cli.models import resolve

    found = resolve(api, model, team)
    return found.id, team_id_of(api, team) if team is not None else found.team_id


def _follow(
    api: Client,
    serving: ServingOut,
    launch: Callable[[], Launch],
    as_json: bool,
    timeout: float | None,
    *,
    deleting: bool = False,
) -> None:
    """Follow a launched lifecycle flow to its end, print the serving as it is then (exit codes: 1 failed,
    4 deadline passed)."""
    from cli.follow import Target, conclude, launch_and_follow, unclaimed

    target = Target(
        unclaimed("serving"),
        f"serving {serving.name!r}",
        f"mlops servings status {serving.id}",
        lambda flow_run_id: api.servings.progress(serving.id, flow_run_id),
    )
    launched: list[Launch] = []

    def launch_once() -> Launch:
        launched.append(launch())
        return launched[-1]

    followed = launch_and_follow(launch_once, target, wait=True, timeout=timeout)
    if deleting and followed.decision.outcome is Outcome.SUCCEEDED:
        emit({"id": serving.id, "deleted": True}, as_json=as_json)
        return
    now = api.servings.get(serving.id)
    emit({**pick([now], COLS)[0], "flow_run": launched[-1].flow_run_url}, as_json=as_json)
    conclude(followed)


def _lifecycle(action: str, serving_id: int, as_json: bool, timeout: float | None) -> None:
    with client() as api:
        serving = api.servings.get(serving_id)
        run = getattr(api.servings, action)
        _follow(api, serving, lambda: run(serving_id), as_json, timeout, deleting=action == "delete")


@app.command("create")
@handle_errors
def create(
    name: str = typer.Argument(..., help="Serving name, unique in the team."),
    job: int | None = typer.Option(None, "--job", help="Training job id (or --model)."),
    model: str | None = ModelOpt,
    model_version: str = typer.Option("latest", "--model-version", "--version", help=ModelVersionHelp),
    port: int | None = typer.Option(
        None,
        "--port",
        help="Port to serve on, in MLOPS_RUNTIME_SERVING_PORT_RANGE (default: the runtime picks).",
    ),
    start: bool = typer.Option(
        True, "--start/--no-start", help="Start it now and follow the start to its end, or only record it."
    ),
    timeout: float | None = TimeoutOpt,
    team: str | None = TeamOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a serving of a model (--model NAME --version champion: it follows the alias) or of a training
    job's model (--job), and start it. Exit codes: 1 failed, 3 port taken, 4 deadline passed, 5 the
    platform's Prefect server is down (nothing is created then)."""
    if (job is None) == (model is None):
        fail("give --job or --model (one of them)")
    with client() as api:
        model_id, team_id = _model_id(api, model, team)
        created = api.servings.create(
            name,
            job,
            model_id=model_id,
            model_version=model_version,
            port=port,
            team_id=team_id,
            start=start,
        )
        if created.launch is None:
            emit(pick([created.serving], COLS)[0], as_json=as_json)
            return
        launched = created.launch
        _follow(api, created.serving, lambda: launched, as_json, timeout)


@app.command("start")
@handle_errors
def start(serving_id: int = ServingArg, timeout: float | None = TimeoutOpt, as_json: bool = JsonOpt) -> None:
    """Start a serving's inference server and follow the start to its end."""
    _lifecycle("start", serving_id, as_json, timeout)


@app.command("stop")
@handle_errors
def stop(serving_id: int = ServingArg, timeout: float | None = TimeoutOpt, as_json: bool = JsonOpt) -> None:
    """Stop a serving's inference server (the record stays; `start` brings it back)."""
    _lifecycle("stop", serving_id, as_json, timeout)


@app.command("remove")
@handle_errors
def remove(serving_id: int = ServingArg, timeout: float | None = TimeoutOpt, as_json: bool = JsonOpt) -> None:
    """Force-delete the container, even while it runs."""
    _lifecycle("remove", serving_id, as_json, timeout)


@app.command("delete")
@handle_errors
def delete(serving_id: int = ServingArg, timeout: float | None = TimeoutOpt, as_json: bool = JsonOpt) -> None:
    """Delete the container, then the record."""
    _lifecycle("delete", serving_id, as_json, timeout)


@app.command("update")
@handle_errors
def update(
    serving_id: int = ServingArg,
    model_version: str | None = typer.Option(None, "--model-version", "--version", help=ModelVersionHelp),
    job: int | None = typer.Option(None, "--job", help="Training job id."),
    model: str | None = ModelOpt,
    port: int | None = typer.Option(
        None, "--port", help="Serve on this port, in MLOPS_RUNTIME_SERVING_PORT_RANGE (see --any-port)."
    ),
    any_port: bool = typer.Option(False, "--any-port", help="Let the runtime choose the port."),
    timeout: float | None = TimeoutOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Change model version, model (or training job) or port; a running serving restarts to apply it."""
    with client() as api:
        model_id = None
        if model is not None:
            from cli.models import resolve

            # A name is looked up in the serving's team (the model must be of it).
            model_id = resolve(api, model, str(api.servings.get(serving_id).team_id)).id
        changed = api.servings.update(
            serving_id,
            model_version=model_version,
            train_job_id=job,
            model_id=model_id,
            port=port,
            any_port=any_port,
        )
        if changed.launch is None:
            emit(pick([changed.serving], COLS)[0], as_json=as_json)
            return
        launched = changed.launch
        _follow(api, changed.serving, lambda: launched, as_json, timeout)


@app.command("list")
@handle_errors
def list_(
    scenario: str | None = typer.Option(None, "--scenario", "-s", help="Only servings of this scenario."),
    search: str | None = typer.Option(None, "--search", help="Only servings whose name contains this text."),
    team: str | None = TeamFilterOpt,
    include_children: bool = IncludeChildrenOpt,
    offset: int = typer.Option(0, "--offset", help="Skip this many servings (paging)."),
    limit: int = typer.Option(50, "--limit", help="Show at most this many servings."),
    as_json: bool = JsonOpt,
) -> None:
    """The servings of your teams, newest first, with their live state (asked of the runtime now)."""
    with client() as api:
        page = api.servings.page(
            offset=offset,
            limit=limit,
            search=search,
            scenario=scenario,
            team_id=team_id_of(api, team),
            include_children=include_children,
        )
    emit_page(page, COLS, as_json=as_json)


@app.command("status")
@handle_errors
def status(serving_id: int = ServingArg, as_json: bool = JsonOpt) -> None:
    """A serving in full, its live state asked of the runtime now, and its inference URL while it runs."""
    with client() as api:
        serving = api.servings.get(serving_id)
    out = serving.model_dump(exclude={"url", "ready"})
    if serving.url is not None:
        out["url"], out["ready"] = serving.url, serving.ready
    emit(out, as_json=as_json)


@app.command("token")
@handle_errors
def token(serving_id: int = ServingArg, as_json: bool = JsonOpt) -> None:
    """Print the bearer token the serving's inference URL requires (Authorization: Bearer TOKEN)."""
    with client() as api:
        emit({"serving_id": serving_id, "token": api.servings.token(serving_id)}, as_json=as_json)


def load_payload(path: Path, scenario: str | None = None) -> dict[str, Any]:
    """A JSON request body as is; a CSV becomes `data` records; images become `images`; text lines `data`."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        value = json.loads(path.read_text())
        if not isinstance(value, dict):
            raise ValueError(f"{path}: a request body must be a JSON object")
        return value
    if suffix in (".png", ".jpg", ".jpeg", ".bmp", ".webp"):
        return {"images": [base64.b64encode(path.read_bytes()).decode()]}
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
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line]
    # A text classifier takes `texts`; log clustering takes its lines as `data`.
    return {"texts": lines} if scenario == "text_classification" else {"data": lines}


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
) -> None:
    """Send a request to a running serving (through the platform) and print its JSON answer."""
    from mlops_lite.client import MlopsError

    with client() as api:
        scenario = api.servings.get(serving).scenario
        try:
            result = api.servings.predict(serving, load_payload(file, scenario))
        except MlopsError as exc:
            if exc.status == 0:
                raise  # no answer at all: the API is unreachable (exit code 5)
            fail(f"HTTP {exc.status}: {exc}")
            return
    typer.echo(json.dumps(result, indent=2))
