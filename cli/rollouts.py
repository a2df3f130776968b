"""`mlops servings canary|shadow|rollout|rollouts|pause|resume|abort`: gray releases of a serving through the
platform API (``mlops_lite.client.rollouts``), registered on the `servings` group by ``cli.main``.

``canary`` and ``shadow`` set the serving's traffic (its running server is told at once); ``rollout`` starts a
progressive roll-out and, with ``--wait``, follows it to its end (exit 1 when it was rolled back or aborted, 4
when the deadline passed); ``pause``, ``resume`` and ``abort`` act on the serving's roll-out under way.
"""

from __future__ import annotations

from typing import Any

import typer

from cli.common import ExitCode, JsonOpt, client, emit, fail, handle_errors

ServingArg = typer.Argument(..., help="Serving id (`mlops servings list`).")
VersionHelp = "A version of the serving's model: a number, or an alias ('champion', 'challenger')."
TRAFFIC = [
    "id",
    "name",
    "resolved_version",
    "canary_version",
    "canary_weight",
    "shadow_version",
    "routing_header",
]
ReasonOpt = typer.Option("", "--reason", help="Why (recorded with the decision, at most 500 characters).")
ROLLOUT = ["id", "serving_id", "stable_version", "canary_version", "steps", "status", "weight", "reason"]


def _traffic(serving_id: int, as_json: bool, **change: Any) -> None:
    with client() as api:
        changed = api.rollouts.traffic(serving_id, **change)
    out = {k: getattr(changed.serving, k) for k in TRAFFIC}
    if changed.launch is not None:
        out["flow_run"] = changed.launch.flow_run_url or changed.launch.flow_run_id
    emit(out, as_json=as_json)


def canary(
    serving_id: int = ServingArg,
    version: str | None = typer.Option(None, "--version", help=VersionHelp),
    weight: int | None = typer.Option(
        None, "--weight", min=0, max=100, help="Percent of requests it answers."
    ),
    routing_header: str | None = typer.Option(
        None,
        "--routing-header",
        help="A request header (e.g. x-user-id) whose value makes the choice sticky.",
    ),
    off: bool = typer.Option(
        False, "--off", help="Take the canary off (all requests to the stable version)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Set the serving's canary and the share of requests it answers (or --off)."""
    if off and (version is not None or weight):
        fail("pass either --off or --version/--weight", code=ExitCode.FAILED)
    change: dict[str, Any] = {}
    if off:
        change["canary"] = None
    elif version is not None:
        change["canary"] = version
    if weight is not None:
        change["weight"] = weight
    if routing_header is not None:
        change["routing_header"] = routing_header or None
    if not change:
        fail(
            "nothing to change: pass --version and --weight, --weight, --routing-header or --off",
            code=ExitCode.FAILED,
        )
    _traffic(serving_id, as_json, **change)


def shadow(
    serving_id: int = ServingArg,
    version: str | None = typer.Option(None, "--version", help=VersionHelp),
    off: bool = typer.Option(False, "--off", help="Stop copying requests to the shadow."),
    as_json: bool = JsonOpt,
) -> None:
    """Let a version answer copies of the live requests (never returned; compared, in the serving's metrics)."""
    if off == (version is not None):
        fail("pass either --version or --off", code=ExitCode.FAILED)
    _traffic(serving_id, as_json, shadow=None if off else version)


def _parse_steps(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        fail(
            f"--steps is a comma-separated list of weights, e.g. 10,50,100 (not {text[:40]!r})",
            code=ExitCode.FAILED,
        )
        raise  # unreachable: fail exits


def rollout(
    serving_id: int = ServingArg,
    version: str = typer.Option(..., "--version", help=VersionHelp),
    steps: str = typer.Option(
        "10,50,100",
        "--steps",
        help="Canary weights in percent (1-100), taken from the smallest up; 100 ends it.",
    ),
    dwell: float = typer.Option(60.0, "--dwell", help="Seconds of analysis at each step."),
    max_error_rate: float | None = typer.Option(
        None, "--max-error-rate", help="Canary 5xx share (default 0.02)."
    ),
    max_p99_ratio: float | None = typer.Option(
        None, "--max-p99-ratio", help="Canary p99 / stable p99 (default 2)."
    ),
    min_requests: int | None = typer.Option(
        None, "--min-requests", help="Canary requests a window needs (default 20)."
    ),
    wait: bool = typer.Option(False, "--wait", help="Follow the roll-out to its end."),
    timeout: float = typer.Option(
        3600.0, "--timeout", help="With --wait: give up following after this many seconds."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Roll a canary out step by step; each window is judged (errors, p99, output checks): promote or roll back."""
    thresholds = {
        k: v
        for k, v in {
            "max_error_rate": max_error_rate,
            "max_p99_ratio": max_p99_ratio,
            "min_requests": min_requests,
        }.items()
        if v is not None
    }
    with client() as api:
        started = api.rollouts.start(
            serving_id, version, steps=_parse_steps(steps), dwell_seconds=dwell, thresholds=thresholds or None
        )
        rid = started.rollout.id
        if not wait:
            emit({k: getattr(started.rollout, k) for k in ROLLOUT}, as_json=as_json)
            return
        from mlops_lite.client.errors import TimedOut

        try:
            done = api.rollouts.wait(rid, timeout=timeout)
        except TimedOut as exc:
            fail(str(exc), code=ExitCode.TIMED_OUT)
            return
    _show(done, as_json)
    if done.status != "promoted":
        raise typer.Exit(int(ExitCode.FAILED))


def _show(rollout: Any, as_json: bool) -> None:
    if as_json:
        emit(rollout, as_json=True)
        return
    emit({k: getattr(rollout, k) for k in ROLLOUT}, as_json=False)
    for d in rollout.decisions:
        typer.echo(f"  {d.created_at:%H:%M:%S}  {d.weight:>3} %  {d.action:<20} {d.reason}")


def rollouts(
    serving_id: int = ServingArg,
    rollout_id: int | None = typer.Option(None, "--id", help="Show this roll-out with its decisions."),
    as_json: bool = JsonOpt,
) -> None:
    """The serving's roll-outs, newest first; with --id, one of them with every decision."""
    with client() as api:
        if rollout_id is not None:
            found = api.rollouts.get(rollout_id)
            if found.serving_id != serving_id:
                fail(f"roll-out {rollout_id} is not of serving {serving_id}", code=ExitCode.FAILED)
            _show(found, as_json)
            return
        page = api.rollouts.page(serving_id)
    emit([{k: getattr(r, k) for k in ROLLOUT} for r in page.items], as_json=as_json, columns=ROLLOUT)


def _active(api: Any, serving_id: int) -> int:
    for r in api.rollouts.page(serving_id, limit=5).items:
        if r.status in ("running", "paused"):
            return int(r.id)
    fail(f"serving {serving_id} has no roll-out under way", code=ExitCode.CONFLICT)
    raise AssertionError  # unreachable: fail exits


def _control(action: str, serving_id: int, reason: str, as_json: bool) -> None:
    with client() as api:
        done = getattr(api.rollouts, action)(_active(api, serving_id), reason)
    _show(done, as_json)


def pause(serving_id: int = ServingArg, reason: str = ReasonOpt, as_json: bool = JsonOpt) -> None:
    """Hold the serving's roll-out at its weight (the window under way is not judged)."""
    _control("pause", serving_id, reason, as_json)


def resume(serving_id: int = ServingArg, reason: str = ReasonOpt, as_json: bool = JsonOpt) -> None:
    """Go on with the serving's paused roll-out (the step's window starts again)."""
    _control("resume", serving_id, reason, as_json)


def abort(serving_id: int = ServingArg, reason: str = ReasonOpt, as_json: bool = JsonOpt) -> None:
    """End the serving's roll-out and take the canary off at once."""
    _control("abort", serving_id, reason, as_json)


COMMANDS = {
    "canary": canary,
    "shadow": shadow,
    "rollout": rollout,
    "rollouts": rollouts,
    "pause": pause,
    "resume": resume,
    "abort": abort,
}

COMMANDS = {name: handle_errors(command) for name, command in COMMANDS.items()}
