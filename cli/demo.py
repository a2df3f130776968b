"""`mlops demo`: load generated sample datasets of every scenario into the current team through the platform
API, publish their v1 releases with the publish flow, write inputs to try in the sandbox, and say what to do
next.

Safe to run again: datasets already loaded are skipped (see ``cli.demo_load``), and a release whose publishing
failed or never ran is published again.

The demo data's generators and the SDK are imported when the command runs (see cli.main).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cli.common import ExitCode, JsonOpt, TeamOpt, client, emit, fail, handle_errors, team_id_of
from flows.outcomes import Outcome

if TYPE_CHECKING:
    from cli.demo_load import DemoOutcome
    from mlops_lite.client import Client

ScenarioOpt = typer.Option(
    None, "--scenario", "-s", help="Load only this scenario's demo data (repeatable; default: all six)."
)


def _publish(api: Client, outcome: DemoOutcome, echo: Any) -> str | None:
    """Publish one demo release (creating it, or again) and follow it; the error, if publishing failed."""
    from cli.datasets import release_target
    from cli.demo_load import DEMO_VERSION
    from cli.follow import launch_and_follow
    from mlops_lite.client import MlopsError, Unavailable, Unreachable

    try:
        if outcome.release_id is None:
            started = api.releases.publish(
                outcome.dataset_id,
                version=DEMO_VERSION,
                entry_ids=outcome.entry_ids,
                description="mlops demo",
            )
        else:
            started = api.releases.republish(outcome.release_id)
    except MlopsError as exc:  # the flow could not even be launched: the rest would fail alike
        code = ExitCode.UNREACHABLE if isinstance(exc, Unavailable | Unreachable) else ExitCode.FAILED
        fail(
            f"could not run the publish flow for {outcome.name} {DEMO_VERSION}: {type(exc).__name__}: {exc}\n"
            "Is the platform running (`make up`)? Run `mlops demo` again to resume where it stopped.",
            code,
        )
        raise  # unreachable: fail() exits
    outcome.release_id = started.release.id
    followed = launch_and_follow(lambda: started.launch, release_target(api, started.release), wait=True)
    facts = _release_facts(api, outcome)
    url = started.launch.flow_run_url
    if facts["release_status"] != "published" or followed.decision.outcome is not Outcome.SUCCEEDED:
        error = followed.decision.message or facts["error"] or f"flow run {str(followed.flow_state).lower()}"
        echo(f"  {outcome.name} {DEMO_VERSION}: {facts['release_status']}: {error} — {url}")
        return str(error)
    echo(f"  {outcome.name} {DEMO_VERSION}: published ({_counts(facts['split_counts'])}) — {url}")
    return None


def _release_facts(api: Client, outcome: DemoOutcome) -> dict[str, Any]:
    if outcome.release_id is None:
        return {"release_status": None, "split_counts": {}, "error": None}
    release = api.releases.get(outcome.release_id)
    return {"release_status": release.status, "split_counts": release.split_counts, "error": release.error}


def _counts(split_counts: dict[str, Any] | None) -> str:
    return ", ".join(f"{split} {n}" for split, n in (split_counts or {}).items())


def _next_steps(rows: list[dict[str, Any]], samples_dir: Path, echo: Any) -> None:
    from catalog.scenarios import Scenario
    from cli.demo_load import DEMO_VERSION
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
    team: str | None = TeamOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Load sample datasets for every scenario into your team and publish them (safe to run again)."""
    from catalog.scenarios import parse_scenario
    from cli.demo_load import load_demo, write_samples
    from infra.settings import get_settings

    scenarios = [parse_scenario(s) for s in scenario] if scenario else None
    with client() as api:
        me = api.me()
        team_id = team_id_of(api, team) or me.current_team_id
        if team_id is None:
            fail("no team: pass --team or join a team first")
        team_name = next((t.name for t in me.teams if t.id == team_id), f"#{team_id}")
        say = (lambda *_a, **_k: None) if as_json else typer.echo
        say(f"Loading the demo datasets into team {team_name!r} (#{team_id}):")
        outcomes = load_demo(api, team_id=team_id, scenarios=scenarios, echo=lambda m: say(f"  {m}"))  # type: ignore[arg-type]
        pending = [o for o in outcomes if o.to_publish]
        errors: dict[str, str] = {}
        if pending:
            say(f"Publishing {len(pending)} release(s) with the publish-release flow:")
            for outcome in pending:
                error = _publish(api, outcome, say)
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
                **_release_facts(api, o),
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
