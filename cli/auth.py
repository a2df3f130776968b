"""Who the CLI acts as: the token it sends to the platform API (``cli.common.server_and_token`` picks it).

- ``mlops login [--server URL] --user alice`` exchanges alice's password (``MLOPS_PASSWORD``, else a prompt;
  counted towards the account's lockout like a dashboard sign-in) for a token (``POST /auth/token``, lasting
  ``MLOPS_API_LOGIN_TOKEN_HOURS``) and keeps it for that server in the user's config directory
  (``mlops_lite.client.config``: a 0600 file in a 0700 directory). Later commands send it; the server becomes
  the default one.
- ``mlops logout`` revokes that token on the server (``DELETE /tokens/{id}``), so a copy of the file taken
  before is refused too, and forgets it.
- ``mlops whoami`` asks the server (``/me``) who the token acts as, and says which server and which token.

Without a login, ``MLOPS_TOKEN`` is sent; on the platform host with neither, the operator token the local API
wrote into the data directory (readable only by the platform's owner, who could read the catalog anyway).

Imported to build the command tree: the SDK is imported where it is used (see cli.main).
"""

from __future__ import annotations

import getpass
import os

import typer

from cli.common import ExitCode, JsonOpt, emit, fail, handle_errors

PASSWORD_ENV = "MLOPS_PASSWORD"
ServerOpt = typer.Option(
    None,
    "--server",
    help="The platform API (e.g. http://mlops.example:8700); default: `mlops --server`, MLOPS_SERVER, the "
    "server of the last login, else this host's platform.",
)


def _server(server: str | None) -> str:
    from cli.common import server_and_token
    from mlops_lite.client import config

    return config.normalize(server) if server else server_and_token()[0]


def token_source(server: str, token: str | None) -> str:
    """Where the token a command sends to ``server`` comes from: MLOPS_TOKEN, login, operator or none."""
    from mlops_lite.client import config

    if token is None:
        return "none"
    if token == (os.environ.get(config.TOKEN_ENV) or None):
        return "MLOPS_TOKEN"
    if token == config.stored_token(server):
        return "login"
    return "operator"


@handle_errors
def login_command(
    user: str = typer.Option(..., "--user", "-u", envvar="MLOPS_USER", help="The user to sign in as."),
    server: str | None = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Sign in: exchange your password for a token, kept for later commands (until it expires or `mlops
    logout`)."""
    from mlops_lite.client import Client, config

    url = _server(server)
    password = os.environ.get(PASSWORD_ENV) or getpass.getpass(f"password for {user} on {url}: ")
    api, issued = Client.login(url, user, password)
    api.close()
    replaced = config.stored_entry(url)
    path = config.store_token(
        url, issued.token, username=user, token_id=issued.id, expires_at=issued.expires_at.isoformat()
    )
    if replaced:
        _revoke_quietly(url, replaced)
    expires = issued.expires_at.astimezone().strftime("%Y-%m-%d %H:%M")
    if as_json:
        kept = {"username": user, "server": url, "token_id": issued.id, "expires_at": issued.expires_at}
        emit({**kept, "credentials": str(path)}, as_json=True)
        return
    typer.echo(f"signed in as {user} on {url} until {expires} (token kept in {path})")


def _revoke_quietly(url: str, entry: dict[str, str]) -> None:
    """Revoke the token of an earlier login that a new one replaced, rather than leave it valid until it
    expires; a token already dead, or a server not answering, is not worth failing the new login for."""
    from mlops_lite.client import Client, MlopsError

    token, token_id = entry.get("token"), str(entry.get("token_id", ""))
    if not token or not token_id.isdigit():
        return
    try:
        with Client(url, token) as old:
            old.tokens.revoke(int(token_id))
    except MlopsError:
        pass


@handle_errors
def logout_command(server: str | None = ServerOpt) -> None:
    """Sign out: revoke the token `mlops login` kept (a copy of it stops working too) and forget it."""
    from mlops_lite.client import Client, Unauthenticated, Unreachable, config

    url = _server(server)
    token = config.stored_token(url)
    if token is None:
        typer.echo(f"not signed in on {url}")
        return
    token_id = str((config.stored_entry(url) or {}).get("token_id", ""))
    if not token_id.isdigit():
        config.forget_token(url)
        fail(f"the kept token for {url} has no id and could not be revoked; forgotten anyway")
    with Client(url, token) as api:
        try:
            api.tokens.revoke(int(token_id))
        except Unauthenticated:
            pass  # already expired or revoked: nothing left to revoke
        except Unreachable as exc:
            # Kept: forgotten now, a token that still works could no longer be revoked from here.
            fail(f"{exc}; the token is still kept: run `mlops logout` again", ExitCode.UNREACHABLE)
    config.forget_token(url)
    typer.echo(f"signed out of {url}")


@handle_errors
def whoami_command(as_json: bool = JsonOpt) -> None:
    """Print who commands act as, on which server, with which token."""
    from cli.common import client, server_and_token

    url, token = server_and_token()
    source = token_source(url, token)
    if token is None:
        fail(f"no token for {url}: run `mlops login --server {url} --user NAME`, or set MLOPS_TOKEN")
    with client() as api:
        me = api.me()
    if as_json:
        emit(
            {**me.model_dump(), "server": url, "token": source, "operator": source == "operator"},
            as_json=True,
        )
        return
    teams = ", ".join(t.name for t in me.teams) or "no team"
    role = " (administrator)" if me.is_superuser else ""
    how = {
        "login": "the token of `mlops login`",
        "MLOPS_TOKEN": "the token in MLOPS_TOKEN",
        "operator": "the operator token of this host; `mlops login` to act as yourself",
        "none": "no token",
    }[source]
    typer.echo(f"{me.username}{role} on {url}, teams: {teams}; with {how}")
