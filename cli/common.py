"""Shared CLI plumbing: the API client of a command (its server and token; `mlops login` is in cli.auth), the
options every command shares, output as a table or JSON, errors as one clear line with an exit code that says
what kind of failure it was (``ExitCode``).

Imported to build the command tree, so it imports nothing heavy at module level (see cli.main).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import IntEnum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from catalog.errors import CatalogError, ConflictError, NotFoundError, shorten

if TYPE_CHECKING:
    from mlops_lite.client import Client

F = TypeVar("F", bound=Callable[..., Any])


class ExitCode(IntEnum):
    """What a non-zero exit means (2 is Click's own: a usage error)."""

    OK = 0
    FAILED = 1  # bad input, or the work failed
    CONFLICT = 3  # another request holds or did the work, or its current state refuses it
    TIMED_OUT = 4  # the command's deadline passed; the work goes on (follow it with the command printed)
    UNREACHABLE = 5  # the Prefect server did not answer
    REJECTED = 6  # the promotion gate decided against the version (`mlops models promote --wait`)


JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON.")
TeamOpt = typer.Option(
    None, "--team", "-t", envvar="MLOPS_TEAM", help="Team name or id (default: your first team)."
)
# A list's team filter: --team (name or id; no default, unlike TeamOpt: without it a list shows every team's
# rows the caller sees) and --include-children.
TeamFilterOpt = typer.Option(None, "--team", "-t", help="Only rows of this team (name or id).")
IncludeChildrenOpt = typer.Option(
    False, "--include-children", help="With --team: the teams below it too (never siblings or ancestors)."
)
TimeoutOpt = typer.Option(
    None,
    "--timeout",
    min=0.1,
    help="Seconds to follow the flow run before giving up (exit code 4; the work goes on). Default: "
    "MLOPS_PREFECT_WAIT_TIMEOUT_SECONDS with --wait, MLOPS_PREFECT_ACCEPT_TIMEOUT_SECONDS without.",
)


_SERVER: list[str | None] = [None]  # set by the `--server` option of `mlops` (cli.main)


def set_server(server: str | None) -> None:
    _SERVER[0] = server


def operator_token_file() -> Path:
    from infra.settings import get_settings

    return get_settings().platform.data_dir / "operator-token"


def server_and_token() -> tuple[str, str | None]:
    """Which API the CLI talks to, and with which token.

    ``--server``/``MLOPS_SERVER`` (else the server of the last `mlops login`) with ``MLOPS_TOKEN`` or the token
    `mlops login` stored for it. With no server named, this is the platform host: the local API
    (``MLOPS_API_*`` settings) with the token `mlops login` stored for it, else the operator token the API wrote
    into the data directory (readable by the platform's owner only, who is its operator).
    """
    from mlops_lite.client import config

    token = os.environ.get(config.TOKEN_ENV) or None
    server = _SERVER[0] or config.default_server()
    if server is not None:
        return config.normalize(server), token or config.stored_token(server)
    from infra.settings import get_settings

    settings = get_settings()
    server = settings.api.url(settings.platform.host)
    if token is None:
        token = config.stored_token(server)
    if token is None:
        try:
            token = operator_token_file().read_text().strip() or None
        except OSError:
            token = None
    return server, token


def client() -> Client:
    """An SDK client for this command (see ``server_and_token``)."""
    from mlops_lite.client import Client

    server, token = server_and_token()
    return Client(server, token, timeout=600.0)


def team_id_of(api: Client, team: str | None) -> int | None:
    """The id of ``--team`` (a name or an id, among the caller's teams; administrators: any team), or None
    (the API then uses the caller's first team)."""
    if team is None:
        return None
    if team.isdigit():
        return int(team)
    for known in api.me().teams:
        if known.name == team:
            return known.id
    if api.me().is_superuser:
        for known in api.teams.list():
            if known.name == team:
                return known.id
    fail(f"team {team[:100]!r} not found")
    return None  # unreachable: fail() exits


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump())
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def emit(data: Any, *, as_json: bool, columns: Sequence[str] | None = None) -> None:
    """Print rows (list of dicts/models) as a table, or anything as JSON."""
    payload = to_jsonable(data)
    if as_json:
        typer.echo(json.dumps(payload, indent=2, default=str))
        return
    if isinstance(payload, dict):
        width = max((len(k) for k in payload), default=0)
        for key, value in payload.items():
            typer.echo(f"{key:<{width}}  {_cell(value, 100)}")
        return
    rows = list(payload)
    if not rows:
        typer.echo("(none)")
        return
    cols = list(columns or rows[0].keys())
    table = [[_cell(r.get(c), 40) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(cols)]
    typer.echo("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True)))
    for row in table:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _cell(value: Any, limit: int) -> str:
    text = (
        ""
        if value is None
        else (json.dumps(value, default=str) if isinstance(value, dict | list) else str(value))
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fail(message: str, code: int = ExitCode.FAILED) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


# Errors whose own message is the whole story (anything else is shown with its type's name). Order matters:
# the first match decides, and PrefectUnreachable is a RuntimeError.
_PLAIN = (CatalogError, NotFoundError, ValueError, LookupError, FileNotFoundError, RuntimeError, TimeoutError)


def _prefect_unreachable(exc: BaseException) -> bool:
    """``flows.launch.PrefectUnreachable``, looked up only if flows.launch was imported: an error of a module
    never imported was never raised, and importing it here would import Prefect into every failing command."""
    launch = sys.modules.get("flows.launch")
    return launch is not None and isinstance(exc, launch.PrefectUnreachable)


def _api_failure(exc: BaseException) -> ExitCode | None:
    """The exit code of an SDK error (``mlops_lite.client.errors``), looked up only if the SDK was imported."""
    errors = sys.modules.get("mlops_lite.client.errors")
    if errors is None or not isinstance(exc, errors.MlopsError):
        return None
    if isinstance(exc, errors.Conflict):
        return ExitCode.CONFLICT
    if isinstance(exc, errors.Unreachable | errors.Unavailable):
        return ExitCode.UNREACHABLE
    return ExitCode.FAILED


def failure(exc: Exception) -> tuple[str, ExitCode]:
    """The one line and the exit code ``handle_errors`` reports ``exc`` with."""
    api_code = _api_failure(exc)
    if api_code is not None:
        return shorten(str(exc)), api_code
    if isinstance(exc, ConflictError):
        return shorten(str(exc)), ExitCode.CONFLICT
    if _prefect_unreachable(exc):
        return shorten(str(exc)), ExitCode.UNREACHABLE
    if isinstance(exc, _PLAIN):
        return shorten(str(exc)), ExitCode.FAILED
    return shorten(f"{type(exc).__name__}: {exc}"), ExitCode.FAILED  # unexpected: still one readable line


def handle_errors(fn: F) -> F:
    """Turn expected errors into one line on stderr and an ``ExitCode`` (tracebacks only with MLOPS_DEBUG)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as exc:
            if os.environ.get("MLOPS_DEBUG"):
                raise
            fail(*failure(exc))

    return wrapper  # type: ignore[return-value]


def pick(rows: Iterable[Any], fields: Sequence[str]) -> list[dict[str, Any]]:
    return [{f: getattr(r, f, None) for f in fields} for r in rows]


def emit_page(page: Any, fields: Sequence[str], *, as_json: bool) -> None:
    """One page of a list (``.total``, ``.items``): a table of ``fields``, or with --json the rows and the total."""
    rows = pick(page.items, fields)
    emit({"count": page.total, "items": rows} if as_json else rows, as_json=as_json)


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()
