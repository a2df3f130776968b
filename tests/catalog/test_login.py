"""CLI authentication (cli.auth): the operator by default, `mlops login` sessions, MLOPS_PASSWORD, and refusals."""

from __future__ import annotations

import json
import stat

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from catalog.errors import AuthenticationError, PermissionDeniedError
from catalog.scoping import SYSTEM
from catalog.services import teams as teams_service
from cli import auth

PASSWORD = "alice-password-1"


@pytest.fixture
def users(session: Session, monkeypatch: pytest.MonkeyPatch, cheap_hashing: None) -> dict[str, int]:
    monkeypatch.delenv("MLOPS_USER", raising=False)
    monkeypatch.delenv(auth.PASSWORD_ENV, raising=False)
    admin = teams_service.create_user(
        session, actor=SYSTEM, username="admin", password="admin-pass-1", is_superuser=True
    )
    alice = teams_service.create_user(session, actor=SYSTEM, username="alice", password=PASSWORD)
    bob = teams_service.create_user(session, actor=SYSTEM, username="bob", password="bob-password-1")
    team = teams_service.create_team(session, actor=SYSTEM, name="alice-team")
    teams_service.create_team(session, actor=SYSTEM, name="other-team")
    teams_service.add_member(session, actor=SYSTEM, team_id=team.id, user_id=alice.id)  # type: ignore[arg-type]
    session.commit()
    return {"admin": admin.id, "alice": alice.id, "bob": bob.id}  # type: ignore[dict-item]


def mlops(*args: str) -> tuple[int, str]:
    from cli.main import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_operator_by_default(users: dict[str, int]) -> None:
    assert auth.acting_username(None) == "admin"
    assert auth.acting_username("admin") == "admin"


def test_another_user_needs_proof(users: dict[str, int]) -> None:
    with pytest.raises(AuthenticationError, match="mlops login --user alice"):
        auth.acting_username("alice")
    code, output = mlops("teams", "list", "--user", "alice")
    assert code == 1 and "needs their password" in output


def test_password_from_the_environment(users: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auth.PASSWORD_ENV, PASSWORD)
    assert auth.acting_username("alice") == "alice"
    code, output = mlops("teams", "list", "--user", "alice", "--json")
    assert code == 0 and [t["name"] for t in json.loads(output)] == ["alice-team"]
    monkeypatch.setenv(auth.PASSWORD_ENV, "wrong-password")
    with pytest.raises(PermissionDeniedError, match="invalid username or password"):
        auth.acting_username("alice")
    with pytest.raises(AuthenticationError, match="no user is named"):
        auth.acting_username(None)


def test_wrong_passwords_count_towards_the_lockout(
    users: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(auth.PASSWORD_ENV, "wrong-password")
    for _ in range(teams_service.MAX_FAILED_LOGINS):
        with pytest.raises(PermissionDeniedError, match="invalid"):
            auth.acting_username("alice")
    monkeypatch.setenv(auth.PASSWORD_ENV, PASSWORD)
    with pytest.raises(PermissionDeniedError, match="locked"):
        auth.acting_username("alice")


def test_login_session(users: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auth.PASSWORD_ENV, PASSWORD)  # instead of the prompt
    code, output = mlops("login", "--user", "alice")
    assert code == 0 and "signed in as alice" in output
    monkeypatch.delenv(auth.PASSWORD_ENV)
    assert stat.S_IMODE(auth.session_file().stat().st_mode) == 0o600
    assert mlops("whoami")[1].startswith("alice")
    # Without --user, commands act as the signed-in user; --user alice needs no password now; bob still does.
    code, output = mlops("teams", "list", "--json")
    assert code == 0 and [t["name"] for t in json.loads(output)] == ["alice-team"]
    assert auth.acting_username("alice") == "alice"
    with pytest.raises(AuthenticationError):
        auth.acting_username("bob")
    assert mlops("logout")[1].strip() == "signed out"
    assert auth.acting_username(None) == "admin"


def test_login_refused_writes_nothing(users: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auth.PASSWORD_ENV, "wrong-password")
    code, output = mlops("login", "--user", "alice")
    assert code == 1 and "invalid username or password" in output
    assert not auth.session_file().exists()


def test_forged_or_stale_sessions_are_ignored(users: dict[str, int], session: Session) -> None:
    auth.write_session("alice", PASSWORD)
    payload = json.loads(auth.session_file().read_text())

    def rewrite(**changes: object) -> None:
        auth.session_file().write_text(json.dumps({**payload, **changes}))

    rewrite(username="bob", user_id=users["bob"])  # someone else's name on alice's signature
    assert auth.read_session() is None
    rewrite(expires_at=payload["expires_at"] + 3600)  # a longer life than was signed
    assert auth.read_session() is None
    rewrite(expires_at=1.0)  # expired (and re-signing needs the password hash)
    assert auth.read_session() is None
    auth.session_file().write_text("not json")
    assert auth.read_session() is None
    rewrite()
    assert auth.read_session() is not None
    # A new password ends every session of the old one.
    teams_service.set_password(session, actor=SYSTEM, user_id=users["alice"], password="a-new-password")
    session.commit()
    assert auth.read_session() is None
