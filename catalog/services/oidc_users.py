"""The platform user an OIDC identity acts as: found by subject, linked to an existing user, or created.

``api.oidc`` verifies the token (signature, issuer, audience, times) and hands over the issuer, the subject
(``sub``) and the username claim; this module decides who that is. The decision is the pure ``decide``.

An identity is its issuer and subject, stored together in ``user_account.oidc_subject`` (``subject_key``):
``sub`` is unique only per issuer, so a platform that changes issuers never lets the new issuer's subject
"1234" into the account the old issuer's "1234" was linked to. Once linked, only the subject counts: the
username claim may change at the issuer without moving the identity to another account.

The first time a subject is seen, the username claim (``MLOPS_API_OIDC_USERNAME_CLAIM``) names the user:
- **no user of that name**: created when ``MLOPS_API_OIDC_CREATE_USERS`` is on (no team, no usable password,
  never an administrator; an administrator adds it to teams), else refused until an administrator creates it;
- **a user of that name exists**: linked only when ALL of these hold, else refused:
  - ``MLOPS_API_OIDC_CREATE_USERS`` is off. Then the platform's users are a list administrators keep, and an
    administrator creating ``alice`` is what lets the issuer's ``alice`` in. With creation on, anybody the
    issuer knows gets in, and an account that happens to bear their name (made for someone else, long
    before OIDC) must not become theirs: the login is refused and the name conflict is left to an
    administrator;
  - the user has no identity linked yet (a link is never moved to another subject);
  - it is not an administrator (superuser). The username claim is the issuer's to set, and at many issuers
    its users' to edit (``preferred_username``): linking an admin through it would hand the whole platform
    to whoever controls that claim — the issuer's own administrators, a self-service profile page, an
    issuer the operator configured by mistake. Administrators keep their password and platform tokens; an
    issuer-created or -linked user gets administrator rights from an administrator only, afterwards;
  - it is not a service account (those act only through their own tokens);
  - it is active.
A disabled user is refused whether linked or not. A refused link to an existing user is audited (denied),
since it may be an attempt to take the account over.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from catalog.errors import AuthenticationError, ValidationError
from catalog.models import User
from catalog.scoping import Actor
from catalog.services import audit
from catalog.services import teams as teams_service

MAX_KEY_CHARS = 255  # user_account.oidc_subject
OIDC = Actor(user_id=None, username="oidc")  # who a refused link is recorded as (no user acts yet)

Action = Literal["use", "link", "create", "refuse"]


@dataclass(frozen=True)
class Decision:
    action: Action
    message: str = ""


def subject_key(issuer: str, subject: str) -> str:
    """What ``user_account.oidc_subject`` holds for the identity: issuer and subject."""
    return f"{issuer}|{subject}"


def decide(
    *, linked: User | None, named: User | None, username: str | None, claim: str, create_users: bool
) -> Decision:
    """Who the identity is (see the module docstring for the rule and why).

    ``linked``: the user already linked to the identity; ``named``: the user whose username is the claim's
    value; ``username``: that value when it is a valid platform username, else None.
    """
    if linked is not None:
        if linked.is_service_account:
            return Decision("refuse", "a service account acts only through its own tokens")
        if not linked.is_active:
            return Decision("refuse", "this account is disabled; ask an administrator")
        return Decision("use")
    if username is None:
        return Decision(
            "refuse",
            f"the token has no usable {claim!r} claim: it must be a valid platform username "
            "(and an email must be verified)",
        )
    if named is None:
        if create_users:
            return Decision("create")
        return Decision(
            "refuse",
            f"no platform user {username!r} for this identity: ask an administrator to create the user",
        )
    if named.oidc_subject is not None:
        return Decision("refuse", f"user {username!r} is linked to another identity")
    if named.is_superuser:
        return Decision(
            "refuse",
            f"user {username!r} is an administrator: administrator accounts are never linked to an OIDC "
            "identity (use the password or a platform token)",
        )
    if named.is_service_account:
        return Decision("refuse", f"user {username!r} is a service account: it acts only through its tokens")
    if not named.is_active:
        return Decision("refuse", "this account is disabled; ask an administrator")
    if create_users:
        return Decision(
            "refuse",
            f"a platform user {username!r} already exists and is not linked to this identity; with "
            "MLOPS_API_OIDC_CREATE_USERS on, existing users are never linked (an administrator must resolve it)",
        )
    return Decision("link")


def _by_key(session: Session, key: str) -> User | None:
    stmt = select(User).where(User.oidc_subject == key).execution_options(populate_existing=True)
    return session.exec(stmt).first()


def _valid_username(value: str | None) -> str | None:
    try:
        return teams_service.check_username(value) if isinstance(value, str) else None
    except ValidationError:
        return None


def user_for_identity(
    session: Session,
    *,
    issuer: str,
    subject: str,
    username: str | None,
    claim: str,
    create_users: bool,
) -> User:
    """The active user the verified identity acts as, linked or created as ``decide`` says; otherwise
    AuthenticationError with the reason."""
    key = subject_key(issuer, subject)
    if not subject or len(key) > MAX_KEY_CHARS:
        raise AuthenticationError("the token's subject is empty or longer than this platform keeps")
    linked = _by_key(session, key)
    name = _valid_username(username) if linked is None else None
    named = None
    if name is not None:
        named = session.exec(
            select(User).where(User.username == name).execution_options(populate_existing=True)
        ).first()
    decision = decide(linked=linked, named=named, username=name, claim=claim, create_users=create_users)
    if decision.action == "use":
        return linked  # type: ignore[return-value]
    if decision.action == "link":
        return _link(session, named, key)  # type: ignore[arg-type]
    if decision.action == "create":
        return _create(session, name, key)  # type: ignore[arg-type]
    if named is not None:
        with audit.audited(session, actor=OIDC, action="user.oidc_link", resource_type="user") as info:
            info["resource_id"] = named.id
            info["detail"].update(username=named.username, identity=key)
            raise AuthenticationError(decision.message)
    raise AuthenticationError(decision.message)


def _link(session: Session, user: User, key: str) -> User:
    # Conditional: of two first logins at once, one links and the other finds the user taken.
    result = session.exec(
        update(User)
        .where(User.id == user.id, User.oidc_subject.is_(None))  # type: ignore[union-attr]
        .values(oidc_subject=key)
    )  # type: ignore[call-overload]
    if result.rowcount != 1:
        raise AuthenticationError(f"user {user.username!r} is linked to another identity")
    session.refresh(user)
    audit.record(
        session,
        actor=Actor(user_id=user.id, username=user.username),
        action="user.oidc_link",
        resource_type="user",
        resource_id=user.id,
        detail={"username": user.username, "identity": key},
    )
    return user


def _create(session: Session, username: str, key: str) -> User:
    # No usable password: the hash is of 256 random bits nobody keeps (an administrator may set one later).
    user = User(
        username=username,
        password_hash=teams_service.hash_password(secrets.token_urlsafe(32)),
        oidc_subject=key,
    )
    try:
        # Added inside the savepoint: begin_nested() flushes what is pending before it starts, so a row added
        # earlier would fail outside it and take the whole transaction down.
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        # A concurrent first login of the same identity created it: use that one.
        again = _by_key(session, key)
        if again is not None and again.is_active:
            return again
        raise AuthenticationError(f"a platform user {username!r} already exists") from None
    audit.record(
        session,
        actor=Actor(user_id=user.id, username=user.username),
        action="user.create",
        resource_type="user",
        resource_id=user.id,
        detail={"username": username, "is_superuser": False, "identity": key},
    )
    return user
