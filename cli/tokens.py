"""`mlops tokens ...` and `mlops service-accounts ...`: personal access tokens for scripts, and a team's robot
users with their tokens, through the platform API. A token is printed once, when it is created; the platform
keeps only its hash, and lists show its first characters (``prefix``).

Each command imports the SDK in its body (see cli.main).
"""

from __future__ import annotations

from typing import Any

import typer

from cli.common import JsonOpt, TeamOpt, client, emit, fail, handle_errors, pick, team_id_of

tokens = typer.Typer(
    help="Your personal access tokens (for scripts and other machines).", no_args_is_help=True
)
service_accounts = typer.Typer(
    help="Service accounts: a team's robot users for automation, acting only with their tokens.",
    no_args_is_help=True,
)
TOKEN_COLS = ["id", "name", "kind", "prefix", "permissions", "expires_at", "last_used_at", "revoked_at"]
ACCOUNT_COLS = ["id", "username", "is_active", "created_at"]
DaysOpt = typer.Option(
    None, "--days", min=0.001, max=366, help="Lifetime in days (default: MLOPS_API_TOKEN_DAYS of the server)."
)
AccountArg = typer.Argument(..., min=1, help="Id of the service account (`mlops service-accounts list`).")
PermissionOpt = typer.Option(
    None,
    "--permission",
    help="Narrow the token to this permission, e.g. datasets:read (repeatable; each one its user holds on "
    "some team). Default: all of its user's.",
)


def _print_new(issued: Any, as_json: bool) -> None:
    """A new token, the only time it is ever shown."""
    if as_json:
        emit(issued, as_json=True)
        return
    emit(pick([issued], ["id", "name", "kind", "prefix", "permissions", "expires_at"])[0], as_json=False)
    typer.echo(f"token: {issued.token}")
    typer.secho("This token is shown only now: keep it somewhere safe.", err=True, fg=typer.colors.YELLOW)


# ---------------------------------------------------------------- personal tokens


@tokens.command("create")
@handle_errors
def token_create(
    name: str = typer.Argument(..., help="What the token is for, e.g. ci-nightly."),
    days: float | None = DaysOpt,
    permission: list[str] | None = PermissionOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a personal access token acting as you (or narrowed with --permission); it is printed once."""
    with client() as api:
        issued = api.tokens.create(name, days=days, permissions=permission or None)
    _print_new(issued, as_json)


@tokens.command("list")
@handle_errors
def token_list(as_json: bool = JsonOpt) -> None:
    """Your tokens (personal and login ones), newest first; the tokens themselves are never shown again."""
    with client() as api:
        rows = api.tokens.list()
    emit(pick(rows, TOKEN_COLS), as_json=as_json, columns=TOKEN_COLS)


@tokens.command("revoke")
@handle_errors
def token_revoke(
    token_id: int = typer.Argument(..., min=1, help="Id of the token (`mlops tokens list`)."),
    as_json: bool = JsonOpt,
) -> None:
    """Revoke a token at once (yours, or one of a service account you manage)."""
    with client() as api:
        row = api.tokens.revoke(token_id)
    emit(pick([row], TOKEN_COLS)[0], as_json=as_json)


# ---------------------------------------------------------------- service accounts


@service_accounts.command("create")
@handle_errors
def account_create(
    name: str = typer.Argument(..., help="Username of the robot, e.g. nightly-bot."),
    team: str | None = TeamOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a team's service account (administrators and the team's admins)."""
    with client() as api:
        team_id = team_id_of(api, team) or api.me().current_team_id
        if team_id is None:
            fail("no team: pass --team")
        account = api.service_accounts.create(name, team_id=team_id)  # type: ignore[arg-type]
    emit(pick([account], ACCOUNT_COLS)[0], as_json=as_json)


@service_accounts.command("list")
@handle_errors
def account_list(
    search: str | None = typer.Option(None, "--search", "-q", help="Only usernames containing this text."),
    as_json: bool = JsonOpt,
) -> None:
    """The service accounts you manage (every one for administrators)."""
    with client() as api:
        rows = list(api.service_accounts.list(search=search))
    emit(pick(rows, ACCOUNT_COLS), as_json=as_json, columns=ACCOUNT_COLS)


@service_accounts.command("token")
@handle_errors
def account_token(
    account_id: int = AccountArg,
    name: str = typer.Argument(..., help="What the token is for, e.g. nightly-retrain."),
    days: float | None = DaysOpt,
    permission: list[str] | None = PermissionOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a token for a service account (narrowed with --permission); it is printed once."""
    with client() as api:
        issued = api.service_accounts.create_token(
            account_id, name, days=days, permissions=permission or None
        )
    _print_new(issued, as_json)


@service_accounts.command("tokens")
@handle_errors
def account_tokens(account_id: int = AccountArg, as_json: bool = JsonOpt) -> None:
    """A service account's tokens (revoke one with `mlops tokens revoke ID`)."""
    with client() as api:
        rows = api.service_accounts.tokens(account_id)
    emit(pick(rows, TOKEN_COLS), as_json=as_json, columns=TOKEN_COLS)
