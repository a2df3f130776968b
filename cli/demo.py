"""`mlops demo`: load generated sample datasets of every scenario into the current team, publish their v1
releases with the publish flow, write inputs to try in the sandbox, and say what to do next.

Safe to run again: datasets already loaded are skipped (see ``catalog.demo``), and a release whose publishing
failed or never ran is published again.

The demo data's generators, the catalog and Prefect are imported when the command runs (see cli.main).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cli.common import (
    ExitCode,
    JsonOpt,
    TeamOpt,
    UserOpt,
    emit,
    fail,
    handle_errors,
    require_team,
    resolve_actor,
)
from flows.outcomes import Outcome

if TYPE_CHECKING:
    from catalog.demo import DemoOutcome

ScenarioOpt = typer.Option(
    None, "--scenario", "-s", help="Load only this scenario's demo data (repeatable; default: all six)."
)


def _publish(actor: Any, outcome: DemoOutcome, echo: Any) -> str | None:
    """Run the publish flow for one demo release and follow it; the error, if publishing failed."""
    from catalog.db import session_scope
    from catalog.demo import DEMO_VERSION
    from catalog.services import releases as releases_service
    from cli.follow import launch_and_follow, release_target
    from flows.launch import PrefectUnreachable, flow_run_url

    with session_scope() as session:
        release = releases_service.get_release(session, actor=actor, release_id=outcome.release_id)  # type: ignore[arg-type]
    try:
        followed = launch_and_follow(
            "publish-release", {"release_id": outcome.release_id}, release_target(release), wait=True
        )
    except typer.Exit:
        raise
    except Exception as exc:  # the flow could not even be launched: the rest would fail alike
        code = ExitCode.UNREACHABLE if isinstance(exc, PrefectUnreachable) else ExitCode.FAILED
        fail(
            f"could not run the publish flow for {outcome.name} {DEMO_VERSION}: {type(exc).__name__}: {exc}\n"
            "Is the platform running (`make up`)? Run `mlops demo` again to resume where it stopped.",
            code,
        )
        raise  # unreachable: fail() exits
    facts = _release_facts(actor, outcome)
    url = flow_run_url(followed.flow_run_id)
    if facts["release_status"] != "published" or followed.decision.outcome is not Outcome.SUCCEEDED:
        error = followed.decision.message or facts["error"] or f"flow run {str(followed.flow_state).lower()}"
        echo(f"  {outcome.name} {DEMO_VERSION}: {facts['release_status']}: {error} — {url}")
        return str(error)
    echo(f"  {outcome.name} {DEMO_VERSION}: published ({_counts(facts['split_counts'])}) — {url}")
    return None


def _release_facts(actor: Any, outcome: DemoOutcome) -> dict[str, Any]:
    from catalog.db import session_scope
    from catalog.services import releases as releases_service

    with session_scope() as session:
        release = releases_service.get_release(session, actor=actor, release_id=outcome.release_id)  # type: ignore[arg-type]
    return {
        "release_status": str(release.status),
        "split_counts": release.split_counts,
        "error": release.error,
    }


def _counts(split_counts: dict[str, Any] | None) -> str:
    return ", ".join(f"{split} {n}" for split, n in (split_counts or {}).items())


def _next_steps(rows: list[dict[str, Any]], samples_dir: Path, echo: Any) -> None:
    from catalog.demo import DEMO_VERSION
    from catalog.scenarios import Scenario
    from infra.settings import get_settings

    settings = get_settings()
    url = f"http://{settings.platform.host}:{settings.dashboard.port}"
    echo(
        "\nNext: a first prediction in each scenario, in the dashboard "
        f"({url}, signed in as {settings.platform.admin_username}):"
    )
    echo(
        "  1. Training: pick the scenario, open 'New training job', choose the algorithm and the release\n"
        "     '<dataset> v1', set the suggested parameters, 'Create job', then 'Start'."
    )
    echo("  2. Serving: once the job is completed, 'New serving', pick the job, 'Create and start'.")
    echo("  3. Sandbox: pick the serving, upload the sandbox input below, 'Predict'.")
    for r in rows:
        inputs = [Path(p) for p in r["samples"]]
        shown = (
            (f"{inputs[0].parent}/*{inputs[0].suffix}" if len(inputs) > 1 else str(inputs[0]))
            if inputs
            else "-"
        )
        echo(
            f"\n  {Scenario(r['scenario']).display_name}: {r['name']} {DEMO_VERSION} "
            f"({r['release_status']}; {_counts(r['split_counts'])})"
        )
        echo(f"    algorithm {r['algorithm']}, parameters {json.dumps(r['params'])}")
        echo(f"    sandbox input {shown}")
    first = rows[0]
    echo(f"\nThe same from the shell, e.g. for {first['name']}:")
    echo(
        f"  ./mlops jobs create {first['name']}-{first['algorithm'].lower()} -s {first['scenario']} "
        f"-a {first['algorithm']} --release {first['release_id']} --params '{json.dumps(first['params'])}'"
    )
    echo("  ./mlops jobs start <job id> --wait")
    echo(f"  ./mlops servings create {first['name']}-live --job <job id>")
    if first["samples"]:
        echo(f"  ./mlops predict <serving id> --file {first['samples'][0]}")


@handle_errors
def demo_command(
    scenario: list[str] = ScenarioOpt,
    user: str | None = UserOpt,
    team: str | None = TeamOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Load sample datasets for every scenario into your team and publish them (safe to run again)."""
    from catalog.db import session_scope
    from catalog.demo import load_demo, write_samples
    from catalog.scenarios import parse_scenario
    from catalog.services import teams as teams_service
    from infra.settings import get_settings

    scenarios = [parse_scenario(s) for s in scenario] if scenario else None
    actor, team_id = resolve_actor(user, team)
    team_id = require_team(team_id)
    with session_scope() as session:
        team_name = teams_service.get_team(session, actor=actor, team_id=team_id).name
    say = (lambda *_a, **_k: None) if as_json else typer.echo
    say(f"Loading the demo datasets into team {team_name!r} (#{team_id}):")
    outcomes = load_demo(actor=actor, team_id=team_id, scenarios=scenarios, echo=lambda m: say(f"  {m}"))
    pending = [o for o in outcomes if o.to_publish]
    errors: dict[str, str] = {}
    if pending:
        say(f"Publishing {len(pending)} release(s) with the publish-release flow:")
        for outcome in pending:
            error = _publish(actor, outcome, say)
            if error:
                errors[outcome.name] = error
    samples_dir = get_settings().platform.data_dir / "demo"
    samples = write_samples(samples_dir, scenarios)
    rows = [
        {
            "name": o.name,
            "scenario": o.scenario,
            "dataset_id": o.dataset_id,
            "release_id": o.release_id,
            "created": o.created,
            "uploaded": o.uploaded,
            "skipped": o.skipped,
            "algorithm": o.algorithm,
            "params": o.params,
            "samples": [str(p) for p in samples[o.name]],
            **_release_facts(actor, o),
        }
        for o in outcomes
    ]
    if as_json:
        emit(
            {"team_id": team_id, "team": team_name, "samples_dir": str(samples_dir), "datasets": rows},
            as_json=True,
        )
    else:
        _next_steps(rows, samples_dir, say)
    if errors:
        fail(
            "publishing failed for "
            + "; ".join(f"{k}: {v}" for k, v in errors.items())
            + " — run `mlops demo` again to retry"
        )
