"""Teams, users, login with lockout, actors; and `mlops init` (first team and admin)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlmodel import Session, select

from catalog.db import session_scope
from catalog.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from catalog.models import AlgorithmConfig, Membership, Team, User
from catalog.models.base import utcnow
from catalog.scoping import SYSTEM
from catalog.services import team_tree
from catalog.services import teams as svc
from catalog.services.init import initialize
from infra.settings import reset_settings

PASSWORD = "correct horse battery"
pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def alice(session: Session) -> User:
    user = svc.create_user(session, actor=SYSTEM, username="alice", password=PASSWORD)
    session.commit()
    return user


def login(username: str, password: str) -> User:
    """As the dashboard does: one transaction per attempt, rolled back by the error."""
    with session_scope() as s:
        return svc.authenticate(s, username=username, password=password)


def stored(user_id: int | None) -> User:
    """The user as committed (own short transaction: on SQLite an open one would block the next login)."""
    with session_scope() as s:
        user = s.get(User, user_id)
        assert user is not None
        return user


def test_create_user_hashes_with_argon2(session: Session, alice: User) -> None:
    stored = session.get(User, alice.id)
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert stored.is_superuser is False


def test_login_upgrades_an_outdated_hash(
    session: Session, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(svc, "_hasher", PasswordHasher())
    old_hash = stored(alice.id).password_hash
    assert login("alice", PASSWORD).id == alice.id
    new_hash = stored(alice.id).password_hash
    assert new_hash != old_hash and "m=65536" in new_hash
    assert login("alice", PASSWORD).id == alice.id


def test_user_creation_rules(session: Session, alice: User) -> None:
    with pytest.raises(ConflictError, match="user 'alice' already exists"):
        svc.create_user(session, actor=SYSTEM, username="alice", password=PASSWORD)
    with pytest.raises(ValidationError, match="at least 8 characters"):
        svc.create_user(session, actor=SYSTEM, username="bob", password="short")
    with pytest.raises(ValidationError, match="username 'b b' is invalid"):
        svc.create_user(session, actor=SYSTEM, username="b b", password=PASSWORD)
    member = svc.actor_for(session, username="alice")
    with pytest.raises(PermissionDeniedError, match="only an administrator may create users"):
        svc.create_user(session, actor=member, username="carol", password=PASSWORD)


def test_authenticate_and_generic_failure(alice: User) -> None:
    assert login("alice", PASSWORD).id == alice.id
    with pytest.raises(PermissionDeniedError) as wrong_password:
        login("alice", "not the password")
    with pytest.raises(PermissionDeniedError) as unknown_user:
        login("mallory", PASSWORD)
    # The same words either way: nothing tells which of the two was wrong.
    assert str(wrong_password.value) == str(unknown_user.value) == svc.LOGIN_FAILED
    assert svc.LOGIN_FAILED.startswith("invalid username or password")


def test_lockout_after_five_failures(session: Session, alice: User) -> None:
    for _ in range(svc.MAX_FAILED_LOGINS - 1):
        with pytest.raises(PermissionDeniedError, match="invalid username or password"):
            login("alice", "guess")
    assert stored(alice.id).failed_logins == svc.MAX_FAILED_LOGINS - 1  # survived the rollbacks

    with pytest.raises(PermissionDeniedError, match="invalid username or password"):
        login("alice", "guess")
    # Locked now: even the right password is refused, in the very words an unknown user gets (a distinct
    # "locked" message would tell an attacker that the username exists).
    with pytest.raises(PermissionDeniedError) as locked:
        login("alice", PASSWORD)
    with pytest.raises(PermissionDeniedError) as unknown:
        login("mallory", PASSWORD)
    assert str(locked.value) == str(unknown.value) == svc.LOGIN_FAILED
    assert "locked" in svc.LOGIN_FAILED  # the one message still tells a locked-out user what may be going on
    assert stored(alice.id).locked_until is not None


def test_lock_expires_and_success_resets_the_count(session: Session, alice: User) -> None:
    for _ in range(svc.MAX_FAILED_LOGINS):
        with pytest.raises(PermissionDeniedError):
            login("alice", "guess")
    user = session.get(User, alice.id)
    user.locked_until = utcnow() - timedelta(seconds=1)  # as if 15 minutes had passed
    session.add(user)
    session.commit()

    with pytest.raises(PermissionDeniedError, match="invalid username or password"):
        login("alice", "guess")  # a fresh count: one failure after the lock does not re-lock
    assert login("alice", PASSWORD).id == alice.id
    user = stored(alice.id)
    assert user.failed_logins == 0 and user.locked_until is None


def test_set_password_unlocks_and_is_own_or_admin_only(session: Session, alice: User) -> None:
    for _ in range(svc.MAX_FAILED_LOGINS):
        with pytest.raises(PermissionDeniedError):
            login("alice", "guess")
    bob = svc.create_user(session, actor=SYSTEM, username="bob", password=PASSWORD)
    session.commit()
    with pytest.raises(NotFoundError):
        svc.set_password(
            session, actor=svc.actor_for(session, username="bob"), user_id=alice.id, password="a new password"
        )
    svc.set_password(session, actor=SYSTEM, user_id=alice.id, password="a new password")
    session.commit()
    assert login("alice", "a new password").id == alice.id
    svc.set_password(
        session, actor=svc.actor_for(session, username="bob"), user_id=bob.id, password="bob's own pw"
    )
    session.commit()
    assert login("bob", "bob's own pw").id == bob.id


def test_disabled_account_refused_after_a_right_password(session: Session, alice: User) -> None:
    alice.is_active = False
    session.add(alice)
    session.commit()
    with pytest.raises(PermissionDeniedError, match="disabled"):
        login("alice", PASSWORD)
    with pytest.raises(PermissionDeniedError, match="invalid username or password"):
        login("alice", "guess")


def test_teams_and_memberships(session: Session, alice: User) -> None:
    red = team_tree.create_team(session, actor=SYSTEM, name="red")
    blue = team_tree.create_team(session, actor=SYSTEM, name="blue")
    green = team_tree.create_team(session, actor=SYSTEM, name="green")
    with pytest.raises(ConflictError, match="team 'red' already exists"):
        team_tree.create_team(session, actor=SYSTEM, name="red")
    svc.add_member(session, actor=SYSTEM, team_id=red.id, user_id=alice.id, role="admin")
    svc.add_member(session, actor=SYSTEM, team_id=blue.id, user_id=alice.id)
    bob = svc.create_user(session, actor=SYSTEM, username="bob", password=PASSWORD)
    session.commit()

    actor = svc.actor_for(session, username="alice")
    assert actor.team_ids == {red.id, blue.id}
    assert actor.current_team_id == min(red.id, blue.id)
    assert svc.actor_for(session, username="alice", current_team_id=blue.id).current_team_id == blue.id
    with pytest.raises(NotFoundError, match="team"):
        svc.actor_for(session, username="alice", current_team_id=green.id)
    assert [t.name for t in svc.list_teams(session, actor=actor)] == ["blue", "red"]
    with pytest.raises(NotFoundError):
        svc.get_team(session, team_id=green.id, actor=actor)

    # A team admin manages its own team's members, not other teams'.
    svc.add_member(session, actor=actor, team_id=red.id, user_id=bob.id)
    with pytest.raises(
        PermissionDeniedError, match="your role in team 'blue' does not grant 'members:manage'"
    ):
        svc.add_member(session, actor=actor, team_id=blue.id, user_id=bob.id)
    with pytest.raises(ValidationError, match="role 'owner'"):
        svc.add_member(session, actor=actor, team_id=red.id, user_id=bob.id, role="owner")
    members = svc.list_members(session, actor=actor, team_id=red.id)
    assert [(m.username, m.role) for m in members] == [("alice", "admin"), ("bob", "member")]
    svc.remove_member(session, actor=actor, team_id=red.id, user_id=bob.id)
    with pytest.raises(NotFoundError):
        svc.remove_member(session, actor=actor, team_id=red.id, user_id=bob.id)
    session.commit()
    assert svc.actor_for(session, username="bob").team_ids == frozenset()


def test_superuser_may_pick_any_existing_team(session: Session) -> None:
    svc.create_user(session, actor=SYSTEM, username="root", password=PASSWORD, is_superuser=True)
    team = team_tree.create_team(session, actor=SYSTEM, name="ops")
    session.commit()
    root = svc.actor_for(session, username="root", current_team_id=team.id)
    assert root.is_superuser and root.current_team_id == team.id and root.team_ids == frozenset()
    with pytest.raises(NotFoundError):
        svc.actor_for(session, username="root", current_team_id=9999)
    with pytest.raises(NotFoundError, match="user 'nobody'"):
        svc.actor_for(session, username="nobody")


# ---------------------------------------------------------------- mlops init


def test_initialize_generates_password_once_and_is_idempotent(catalog_url: str) -> None:
    lines: list[str] = []
    first = initialize(admin_password=None, echo=lines.append)
    assert len(first.presets.created) == 10 and first.team_created and first.admin_created
    assert first.generated_password and len(first.generated_password) >= 12
    assert sum(first.generated_password in line for line in lines) == 1
    assert login("admin", first.generated_password).is_superuser

    lines.clear()
    second = initialize(admin_password="another password", echo=lines.append)
    assert len(second.presets.skipped) == 10 and second.presets.created == []
    assert not (second.team_created or second.admin_created or second.membership_created)
    assert second.generated_password is None
    assert not any(first.generated_password in line for line in lines)
    assert any("password left unchanged" in line for line in lines)
    assert login("admin", first.generated_password)  # not overwritten by the second run's password

    with session_scope() as s:
        team = s.exec(select(Team).where(Team.name == "default")).one()
        admin = s.exec(select(User).where(User.username == "admin")).one()
        assert s.get(Membership, (admin.id, team.id)).role == "admin"
        assert len(s.exec(select(AlgorithmConfig)).all()) == 10


def test_initialize_uses_given_password_and_settings(
    catalog_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_ADMIN_USERNAME", "boss")
    monkeypatch.setenv("MLOPS_DEFAULT_TEAM", "research")
    reset_settings()
    lines: list[str] = []
    report = initialize(admin_password="given password", echo=lines.append)
    assert report.generated_password is None and report.admin_username == "boss" and report.team == "research"
    assert not any("given password" in line for line in lines)
    with session_scope() as s:
        actor = svc.actor_for(s, username="boss")
    assert actor.is_superuser and len(actor.team_ids) == 1
    assert login("boss", "given password").username == "boss"
