"""`mlops teams usage` and `mlops teams set-quota`: a team's usage against every quota that applies to it, and
its own limits (administrators), through the platform API. Registered on the `teams` group by cli.main.

Sizes: ``--stored 10GB`` (B, kB, MB, GB, TB: powers of 1000; KiB, MiB, GiB, TiB: powers of 1024; a bare
number is bytes), ``--memory 8GiB`` (a bare number is MiB). ``none`` removes one limit, ``--clear`` them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from cli.common import JsonOpt, client, emit, fail, handle_errors, team_id_of

TeamArg = typer.Argument(..., help="Team name or id.")
USAGE_COLS = ["quota", "used", "limit", "set_on"]
_NONE = "none"


def _amount(quota: str, value: float | None) -> str:
    from mlops_lite.schemas.quotas import format_bytes

    if value is None:
        return "-"
    if quota == "stored_bytes":
        return format_bytes(value)
    if quota == "memory_mb":
        return f"{int(value)} MiB"
    return f"{value:g}"


def usage_command(team: str = TeamArg, as_json: bool = JsonOpt) -> None:
    """What the team's subtree uses, and every quota that applies to it (its own and its ancestors')."""
    from mlops_lite.schemas.quotas import QUOTAS

    with client() as api:
        shown = api.teams.usage(team_id_of(api, team))
    if as_json:
        emit(shown, as_json=True)
        return
    typer.echo(f"team {shown.team_name} (#{shown.team_id}): use of its subtree, and the quotas that apply")
    rows: list[dict[str, Any]] = []
    for quota in QUOTAS:
        bounds = [v for v in shown.effective if v.quota == quota]
        used = getattr(shown.usage, quota)
        if not bounds:
            rows.append({"quota": quota, "used": _amount(quota, used), "limit": "-", "set_on": ""})
        for view in bounds:  # an ancestor's quota bounds that ancestor's whole subtree: its use is shown
            rows.append(
                {
                    "quota": quota,
                    "used": _amount(quota, view.used),
                    "limit": _amount(quota, view.limit),
                    "set_on": view.set_on,
                }
            )
    emit(rows, as_json=False, columns=USAGE_COLS)


def _parsed(value: str | None, parse: Callable[[str], float]) -> tuple[bool, float | None]:
    """(given, value): ``none`` removes the limit."""
    if value is None:
        return False, None
    if value.strip().lower() == _NONE:
        return True, None
    try:
        return True, parse(value)
    except ValueError as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits


def _count(text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError(f"{text[:40]!r} is not a whole number (or 'none')")
    return int(text)


def _cpus(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise ValueError(f"{text[:40]!r} is not a number of CPUs")
    return value


def set_quota_command(
    team: str = TeamArg,
    trainings: str | None = typer.Option(None, "--trainings", help="Concurrent trainings (or 'none')."),
    servings: str | None = typer.Option(None, "--servings", help="Running servings (or 'none')."),
    stored: str | None = typer.Option(
        None, "--stored", help="Bytes stored (datasets, releases, models): e.g. 10GB, 512MiB, or 'none'."
    ),
    cpus: str | None = typer.Option(
        None, "--cpus", help="CPUs of running containers, e.g. 4 or 0.5 (or 'none')."
    ),
    memory: str | None = typer.Option(
        None, "--memory", help="Memory of running containers: e.g. 8GiB, 512MiB, a number of MiB, or 'none'."
    ),
    clear: bool = typer.Option(False, "--clear", help="Remove every limit of the team (before the options)."),
    as_json: bool = JsonOpt,
) -> None:
    """Set the team's own limits (administrators). Options left out keep their value; a quota applies to the
    team's whole subtree."""
    from mlops_lite.schemas.quotas import QUOTAS, parse_bytes, parse_memory_mb

    limits: dict[str, float | None] = dict.fromkeys(QUOTAS) if clear else {}
    for quota, text, parse in (
        ("trainings", trainings, _count),
        ("servings", servings, _count),
        ("stored_bytes", stored, parse_bytes),
        ("cpus", cpus, _cpus),
        ("memory_mb", memory, parse_memory_mb),
    ):
        given, value = _parsed(text, parse)
        if given:
            limits[quota] = value
    if not limits:
        fail("nothing to set: give --trainings, --servings, --stored, --cpus, --memory or --clear")
    with client() as api:
        api.teams.set_quota(team_id_of(api, team), **limits)  # type: ignore[arg-type]
    usage_command(team, as_json=as_json)


usage = handle_errors(usage_command)
set_quota = handle_errors(set_quota_command)
