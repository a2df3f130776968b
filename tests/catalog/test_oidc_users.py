"""Which platform user an OIDC identity acts as: the pure rule (``decide``) case by case, then the service on
a real catalog (link, create, the races of two first logins, audit)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from catalog.errors import AuthenticationError, PermissionDeniedError
from catalog.models import AuditEvent, User
from catalog.scoping import SYSTEM
from catalog.services import oidc_users, teams
from catalog.services.oidc_users import decide

ISSUER = "https://issuer.example"


def user(**facts: object) -> User:
    return User(username=str(facts.pop("username", "alice")), password_hash="x", **facts)


def rule(linked: User | None, named: User | None, username: str | None = "alice", *, create: bool) -> str:
    decision = decide(
        linked=linked, named=named, username=username, claim="preferred_username", create_users=create
    )
    assert (decision.action == "refuse") == bool(decision.message)
    return decision.action if decision.action != "refuse" else f"refuse: {decision.message}"


@pytest.mark.parametrize("create", [False, True])
def test_a_linked_identity_is_its_user_whatever_the_claim_says(create: bool) -> None:
    linked = user(oidc_subject=f"{ISSUER}|s1")
    assert rule(linked, None, None, create=create) == "use"
    assert rule(linked, user(username="admin", is_superuser=True), "admin", create=create) == "use"
    assert "disabled" in rule(user(is_active=False, oidc_subject="k"), None, create=create)
    assert "service account" in rule(user(is_service_account=True, oidc_subject="k"), None, create=create)


def test_unknown_usernames_are_created_only_when_creation_is_on() -> None:
    assert rule(None, None, create=True) == "create"
    assert "ask an administrator to create" in rule(None, None, create=False)
    for create in (False, True):
        assert "no usable 'preferred_username' claim" in rule(None, None, None, create=create)


def test_an_admin_created_user_is_linked_only_when_creation_is_off() -> None:
    assert rule(None, user(), create=False) == "link"
    assert "never linked" in rule(None, user(), create=True)  # may be someone else's older account


@pytest.mark.parametrize("create", [False, True])
@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        ({"oidc_subject": f"{ISSUER}|other"}, "linked to another identity"),
        ({"is_superuser": True}, "administrator accounts are never linked"),
        ({"is_service_account": True}, "service account"),
        ({"is_active": False}, "disabled"),
    ],
)
def test_existing_users_that_are_never_linked(facts: dict[str, object], reason: str, create: bool) -> None:
    assert reason in rule(None, user(**facts), create=create)


def _identity(session: Session, subject: str, username: str | None, *, create: bool) -> User:
    found = oidc_users.user_for_identity(
        session,
        issuer=ISSUER,
        subject=subject,
        username=username,
        claim="preferred_username",
        create_users=create,
    )
    session.commit()
    return found


def test_links_and_creations_on_a_catalog(session: Session, cheap_hashing: None) -> None:
    bob = teams.create_user(session, actor=SYSTEM, username="bob", password="bob-password")
    teams.create_user(session, actor=SYSTEM, username="root", password="root-password", is_superuser=True)
    session.commit()

    linked = _identity(session, "s-bob", "bob", create=False)
    assert linked.id == bob.id and linked.oidc_subject == f"{ISSUER}|s-bob"
    # The subject decides from now on, not the claim.
    assert _identity(session, "s-bob", "renamed-at-the-issuer", create=False).id == bob.id
    with pytest.raises(AuthenticationError, match="linked to another identity"):
        _identity(session, "s-intruder", "bob", create=False)
    with pytest.raises(AuthenticationError, match="never linked"):
        _identity(session, "s-root", "root", create=False)
    session.rollback()

    created = _identity(session, "s-carol", "carol", create=True)
    assert (created.username, created.is_superuser, created.oidc_subject) == (
        "carol",
        False,
        f"{ISSUER}|s-carol",
    )
    assert not teams.actor_for(session, username="carol").team_ids
    with pytest.raises(PermissionDeniedError):
        teams.authenticate(session, username="carol", password="")  # no password opens it
    # The same subject of another issuer is another identity.
    with pytest.raises(AuthenticationError, match="linked to another identity"):
        oidc_users.user_for_identity(
            session,
            issuer="https://other.example",
            subject="s-carol",
            username="carol",
            claim="preferred_username",
            create_users=True,
        )
    session.rollback()
    actions = session.exec(select(AuditEvent.action, AuditEvent.resource_id)).all()
    assert ("user.oidc_link", str(bob.id)) in actions and ("user.create", str(created.id)) in actions


def test_a_subject_too_long_to_keep_is_refused(session: Session) -> None:
    with pytest.raises(AuthenticationError, match="subject"):
        _identity(session, "s" * 300, "dave", create=True)
    with pytest.raises(AuthenticationError, match="subject"):
        _identity(session, "", "dave", create=True)
    assert session.exec(select(User).where(User.username == "dave")).first() is None


def test_two_first_logins_at_once(session: Session, catalog_url: str, cheap_hashing: None) -> None:
    from catalog.db import get_engine

    teams.create_user(session, actor=SYSTEM, username="erin", password="erin-password")
    session.commit()
    # Another request linked erin between this one's read and its update: this one is refused, not moved.
    with Session(get_engine(catalog_url)) as other:
        erin = other.exec(select(User).where(User.username == "erin")).one()
        stale = User.model_validate(erin.model_dump())
        erin.oidc_subject = f"{ISSUER}|s-first"
        other.add(erin)
        other.commit()
    with pytest.raises(AuthenticationError, match="linked to another identity"):
        oidc_users._link(session, stale, f"{ISSUER}|s-second")
    session.rollback()
    # Another request created the same identity first: this one uses it.
    first = _identity(session, "s-frank", "frank", create=True)
    again = oidc_users._create(session, "frank", f"{ISSUER}|s-frank")
    assert again.id == first.id
