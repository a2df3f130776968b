"""Who the CLI acts as: the operator, a signed-in user, or a user proven by their password.

The CLI talks to the catalog database directly, with the platform's own credentials: whoever can run it
there is the platform's operator and could change the database anyway. So, by default, the CLI acts as the
operator's account (``MLOPS_ADMIN_USERNAME``, the admin created by `mlops init`) without a password. Acting
as anyone else must be proven, so that the audit log's "who" is true:

- ``mlops login --user alice`` asks for alice's password once (argon2, counted towards the lockout like a
  dashboard login) and writes a session file (``<MLOPS_DATA_DIR>/cli-session.json``, mode 0600) valid for
  ``SESSION_HOURS``; later commands act as alice without a password. ``mlops logout`` removes it.
- ``--user alice`` (or ``MLOPS_USER``) acts as alice when the session file is hers, or when her password is
  in ``MLOPS_PASSWORD`` (scripts); otherwise the command is refused.

The session file is signed with an HMAC keyed by the server secret and the user's password hash
(``catalog.services.sessions``): the catalog alone is not enough to forge one, and it dies when the password
changes or the account is disabled. `mlops logout` revokes it in the catalog, so a copy of the file is
refused too.

Imported to build the command tree: the catalog and the settings are imported where they are used (see
cli.main).
"""

from __future__ import annotations

import getpass
import hmac
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import typer

from catalog.errors import AuthenticationError, PermissionDeniedError

SESSION_HOURS = 12.0
PASSWORD_ENV = "MLOPS_PASSWORD"


@dataclass(frozen=True)
class CliSession:
    username: str
    expires_at: float


def session_file() -> Path:
    from infra.settings import get_settings

    return get_settings().platform.data_dir / "cli-session.json"


def _signature(password_hash: str, username: str, user_id: int, expires_at: float) -> str:
    from catalog.services import sessions as sessions_service

    message = f"{username}\n{user_id}\n{expires_at:.0f}".encode()
    return sessions_service.sign(message, password_hash=password_hash, purpose="cli").hex()


def write_session(username: str, password: str) -> CliSession:
    """Check the password and write a signed session file (PermissionDeniedError when refused)."""
    from catalog.db import session_scope
    from catalog.services import teams as teams_service

    with session_scope() as session:
        user = teams_service.authenticate(session, username=username, password=password)
        expires_at = float(int(time.time() + SESSION_HOURS * 3600))
        payload = {
            "username": user.username,
            "user_id": user.id,
            "expires_at": expires_at,
            "signature": _signature(user.password_hash, user.username, user.id, expires_at),
        }  # type: ignore[arg-type]
    path = session_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 from the start: the file is a bearer credential until it expires.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh)
    return CliSession(username=user.username, expires_at=expires_at)


def read_session() -> CliSession | None:
    """The session file's user if the file is present, unexpired and its signature checks out."""
    from sqlmodel import select

    from catalog.db import session_scope
    from catalog.models import User
    from catalog.services import sessions as sessions_service

    try:
        payload = json.loads(session_file().read_text())
        username, user_id = str(payload["username"]), int(payload["user_id"])
        expires_at, signature = float(payload["expires_at"]), str(payload["signature"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if expires_at < time.time():
        return None
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).first()
    if user is None or user.id != user_id or not user.is_active:
        return None
    if not hmac.compare_digest(signature, _signature(user.password_hash, username, user_id, expires_at)):
        return None
    with session_scope() as session:
        if sessions_service.is_revoked(session, token=signature):
            return None
    return CliSession(username=username, expires_at=expires_at)


def acting_username(user: str | None) -> str:
    """The username the CLI may act as for ``--user``/``MLOPS_USER`` (None: no one named), or
    AuthenticationError saying how to prove it."""
    from catalog.db import session_scope
    from catalog.services import teams as teams_service
    from infra.settings import get_settings

    operator = get_settings().platform.admin_username
    password = os.environ.get(PASSWORD_ENV)
    if user is None:
        if password:
            raise AuthenticationError(
                f"{PASSWORD_ENV} is set but no user is named: pass --user or set MLOPS_USER"
            )
        current = read_session()
        return current.username if current is not None else operator
    if password:
        with session_scope() as session:
            return teams_service.authenticate(session, username=user, password=password).username
    current = read_session()
    if (current is not None and current.username == user) or user == operator:
        return user
    raise AuthenticationError(
        f"acting as {user!r} needs their password: run `mlops login --user {user}` first, or set {PASSWORD_ENV}"
    )


# ---------------------------------------------------------------- commands


def login_command(
    user: str = typer.Option(..., "--user", "-u", envvar="MLOPS_USER", help="The user to sign in as."),
) -> None:
    """Sign in: later commands act as this user (for SESSION_HOURS, or until `mlops logout`)."""
    from cli.common import fail

    password = os.environ.get(PASSWORD_ENV) or getpass.getpass(f"password for {user}: ")
    try:
        current = write_session(user, password)
    except PermissionDeniedError as exc:
        fail(str(exc))
        return
    expires = time.strftime("%Y-%m-%d %H:%M", time.localtime(current.expires_at))
    typer.echo(f"signed in as {current.username} until {expires}")


def logout_command() -> None:
    """Sign out: remove the session file (commands act as the operator again)."""
    from catalog.db import session_scope
    from catalog.services import sessions as sessions_service

    path = session_file()
    existed = path.exists()
    try:
        payload = json.loads(path.read_text())
        with session_scope() as session:
            # A copy of the file taken before the sign-out must not work afterwards.
            sessions_service.revoke(
                session, token=str(payload["signature"]), expires_at=float(payload["expires_at"])
            )
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no session, or not a readable one: nothing to revoke
    path.unlink(missing_ok=True)
    typer.echo("signed out" if existed else "not signed in")


def whoami_command() -> None:
    """Print who commands act as, and why."""
    from infra.settings import get_settings

    current = read_session()
    if current is not None:
        expires = time.strftime("%Y-%m-%d %H:%M", time.localtime(current.expires_at))
        typer.echo(f"{current.username} (signed in until {expires})")
    else:
        typer.echo(
            f"{get_settings().platform.admin_username} (the operator; `mlops login` to act as someone else)"
        )
