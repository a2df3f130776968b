"""API bearer tokens and service accounts: created, listed, revoked, and checked on every API request.

A token is ``mlops_<kind letter>_<43 url-safe characters>`` (256 random bits). It is shown once, at creation;
the catalog keeps its SHA-256 (``ApiToken.digest``) and the first characters for telling tokens apart in a
list. A token acts as its user, with that user's teams and rights, until it expires or is revoked; it dies
with its user's account being disabled too (``authenticate``).

Kinds:
- ``personal``: created by a signed-in user for themselves (dashboard, `mlops tokens create`);
- ``service``: a service account's token, created by an administrator or an admin of the account's team;
- ``login``: minted by the token exchange (`mlops login`: username and password, throttled like a dashboard
  sign-in);
- ``operator``: the local CLI's token on the platform host, written by the API server into the data directory
  (readable only by the platform's owner, who could read the catalog anyway; see docs/architecture.md).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from catalog.errors import NotFoundError, PermissionDeniedError, ValidationError
from catalog.models import ApiToken, Membership, Team, User
from catalog.models.base import utcnow
from catalog.permissions import ADMIN, check_permissions, implies
from catalog.scoping import Actor, requires
from catalog.services import audit
from catalog.services import roles as roles_service
from catalog.services.common import check_name, flush_unique, page

KINDS = {"personal": "p", "service": "s", "login": "l", "operator": "o"}
MAX_DAYS = 366
PREFIX_CHARS = 12  # "mlops_p_" and four random characters: enough to tell a user's tokens apart
# last_used_at is written at most this often per token, so a busy script does not write on every request.
TOUCH_INTERVAL = timedelta(minutes=1)
INVALID = "invalid, expired or revoked token"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(kind: str) -> str:
    return f"mlops_{KINDS[kind]}_{secrets.token_urlsafe(32)}"


def _narrowing(session: Session, user: User, permissions: Iterable[str] | None) -> list[str] | None:
    """The permissions a new token of ``user`` is narrowed to: known names, each held by the user on some team
    (or platform-wide, for an administrator). None: not narrowed."""
    if permissions is None:
        return None
    try:
        wanted = check_permissions(permissions)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    if not wanted:
        raise ValidationError("a narrowed token needs at least one permission")
    if not user.is_superuser:
        grants, _ = roles_service.grants_of(session, user.id, roles_service.team_tree(session)[0])  # type: ignore[arg-type]
        missing = sorted(p for p in wanted if not any(implies(held, p) for held in grants.values()))
        if missing:
            raise ValidationError(
                f"a token can only be narrowed to permissions its user holds; {user.username!r} holds no "
                f"{', '.join(map(repr, missing))} on any team"
            )
    return sorted(wanted)


def _within_ceiling(actor: Actor, permissions: Iterable[str] | None) -> Iterable[str] | None:
    """A narrowed actor's new token is narrowed at least as much (a token never mints a wider one)."""
    if actor.ceiling is None:
        return permissions
    if permissions is None:
        return sorted(actor.ceiling)
    wider = sorted(p for p in permissions if not implies(actor.ceiling, p))
    if wider:
        raise PermissionDeniedError(f"this token may not create a token with {', '.join(map(repr, wider))}")
    return permissions


def _issue(
    session: Session,
    *,
    user: User,
    name: str,
    kind: str,
    days: float,
    created_by_id: int | None,
    permissions: Iterable[str] | None = None,
) -> tuple[ApiToken, str]:
    if not 0 < days <= MAX_DAYS:
        raise ValidationError(f"a token lasts more than 0 and at most {MAX_DAYS} days")
    narrowed = _narrowing(session, user, permissions)
    plain = _new_token(kind)
    row = ApiToken(
        user_id=user.id,  # type: ignore[arg-type]
        name=check_name(name, what="token name")[:100],
        kind=kind,
        digest=digest(plain),
        prefix=plain[:PREFIX_CHARS],
        created_by_id=created_by_id,
        expires_at=utcnow() + timedelta(days=days),
        permissions=narrowed,
    )
    session.add(row)
    session.flush()
    return row, plain


def create_token(
    session: Session, *, actor: Actor, name: str, days: float, permissions: Iterable[str] | None = None
) -> tuple[ApiToken, str]:
    """A personal access token of the actor, optionally narrowed to ``permissions`` (a subset of the actor's);
    returns the row and the token (shown once). A narrowed token cannot mint a wider one: its actor's
    ceiling narrows every token it creates."""
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None or not user.is_active:
        raise PermissionDeniedError("only a signed-in user may create a personal access token")
    with audit.audited(
        session, actor=actor, action="token.create", resource_type="api_token", team_id=actor.current_team_id
    ) as info:
        row, plain = _issue(
            session,
            user=user,
            name=name,
            kind="personal",
            days=days,
            created_by_id=user.id,
            permissions=_within_ceiling(actor, permissions),
        )
        info["detail"]["permissions"] = row.permissions
        info["resource_id"] = row.id
        info["detail"]["name"] = row.name
    return row, plain


def issue_login_token(session: Session, *, user: User, name: str, days: float) -> tuple[ApiToken, str]:
    """A token for a user who just proved their password (the token exchange); the caller authenticated."""
    return _issue(session, user=user, name=name, kind="login", days=days, created_by_id=user.id)


def _service_account(session: Session, actor: Actor, user_id: int) -> User:
    """A service account the actor manages: ``members:manage`` on every team it belongs to (a robot acts with
    all its teams' rights, so managing it needs them all). One of a team the actor does not see reads like a
    missing one."""
    user = session.get(User, user_id)
    if user is None or not user.is_service_account:
        raise NotFoundError("service account", user_id)
    team_ids = set(session.exec(select(Membership.team_id).where(Membership.user_id == user_id)).all())
    if actor.is_superuser and actor.can(ADMIN):
        return user
    if not any(actor.can_see_team(t) for t in team_ids):
        raise NotFoundError("service account", user_id)
    if not team_ids or not all(actor.can("members:manage", t) for t in team_ids):
        raise PermissionDeniedError(
            "only an administrator or a member whose role grants 'members:manage' on its team may manage a "
            "service account"
        )
    return user


@requires("members:manage")
def create_service_account(session: Session, *, actor: Actor, team_id: int, name: str) -> User:
    """A team's robot user (member of ``team_id``), for automation; it acts only through its tokens."""
    actor.require_team(team_id)
    team = session.get(Team, team_id)
    if team is None:
        raise NotFoundError("team", team_id)
    from catalog.services import teams as teams_service

    username = teams_service.check_username(name)
    with audit.audited(
        session, actor=actor, action="service_account.create", resource_type="user", team_id=team_id
    ) as info:
        # No password can match: the hash is of 256 random bits nobody keeps, and authenticate() refuses
        # service accounts before checking it anyway.
        user = User(
            username=username,
            password_hash=teams_service.hash_password(secrets.token_urlsafe(32)),
            is_service_account=True,
        )
        session.add(user)
        flush_unique(session, f"a user named {username!r} already exists")
        session.add(Membership(user_id=user.id, team_id=team_id, role="member"))  # type: ignore[arg-type]
        session.flush()
        info["resource_id"] = user.id
    return user


@requires("members:manage")
def page_service_accounts(
    session: Session, *, actor: Actor, search: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[int, list[User]]:
    """One page of the service accounts the actor manages (``_service_account``'s rule): every one for an
    administrator, else those of the teams the actor is an admin of; by name, optionally containing ``search``."""
    stmt = select(User).where(col(User.is_service_account).is_(True))
    managed_teams = actor.teams_with("members:manage")
    if managed_teams is not None:
        managed = select(Membership.user_id).where(col(Membership.team_id).in_(sorted(managed_teams)))
        stmt = stmt.where(col(User.id).in_(managed))
    if search:
        stmt = stmt.where(col(User.username).icontains(search))
    return page(session, stmt, offset=offset, limit=limit, order_by=col(User.username))


@requires("members:manage")
def create_service_token(
    session: Session,
    *,
    actor: Actor,
    user_id: int,
    name: str,
    days: float,
    permissions: Iterable[str] | None = None,
) -> tuple[ApiToken, str]:
    """A token of a service account the actor manages, optionally narrowed to ``permissions`` (a subset of
    the account's); a narrowed actor's ceiling narrows it too."""
    user = _service_account(session, actor, user_id)
    with audit.audited(
        session, actor=actor, action="token.create", resource_type="api_token", team_id=actor.current_team_id
    ) as info:
        row, plain = _issue(
            session,
            user=user,
            name=name,
            kind="service",
            days=days,
            created_by_id=actor.user_id,
            permissions=_within_ceiling(actor, permissions),
        )
        info["resource_id"] = row.id
        info["detail"]["permissions"] = row.permissions
        info["detail"]["service_account"] = user.username
    return row, plain


def list_tokens(session: Session, *, actor: Actor, user_id: int | None = None) -> list[ApiToken]:
    """The actor's own tokens, or a service account's (``user_id``) for those who manage it."""
    owner = actor.user_id if user_id is None else _service_account(session, actor, user_id).id
    if owner is None:
        return []
    stmt = select(ApiToken).where(ApiToken.user_id == owner, col(ApiToken.kind) != "operator")
    return list(session.exec(stmt.order_by(col(ApiToken.id).desc())).all())


def revoke_token(session: Session, *, actor: Actor, token_id: int) -> ApiToken:
    """Revoke one of the actor's tokens (or a service account's token they manage; any, for an administrator)."""
    row = session.get(ApiToken, token_id)
    if row is None or row.kind == "operator":
        raise NotFoundError("token", token_id)
    if row.user_id != actor.user_id and not actor.can(ADMIN):
        owner = session.get(User, row.user_id)
        if owner is None or not owner.is_service_account:
            raise NotFoundError("token", token_id)
        try:
            _service_account(session, actor, row.user_id)
        except NotFoundError:
            raise NotFoundError("token", token_id) from None  # a foreign robot's token reads as missing
    with audit.audited(
        session, actor=actor, action="token.revoke", resource_type="api_token", team_id=actor.current_team_id
    ) as info:
        info["resource_id"] = row.id
        if row.revoked_at is None:
            session.exec(  # type: ignore[call-overload]
                update(ApiToken).where(col(ApiToken.id) == row.id).values(revoked_at=utcnow())
            )
            session.refresh(row)
    return row


@dataclass(frozen=True, slots=True)
class Bearer:
    """Who a token acts as: its user, and the permissions it is narrowed to (None: all of the user's)."""

    user: User
    permissions: frozenset[str] | None


def authenticate(session: Session, *, token: str) -> Bearer:
    """The active user a live token belongs to and its narrowing, or PermissionDeniedError (one message for
    every failure)."""
    if not token.startswith("mlops_") or len(token) > 200:
        raise PermissionDeniedError(INVALID)
    row = session.exec(select(ApiToken).where(ApiToken.digest == digest(token))).first()
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise PermissionDeniedError(INVALID)
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise PermissionDeniedError(INVALID)
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_INTERVAL:
        session.exec(  # type: ignore[call-overload]
            update(ApiToken).where(col(ApiToken.id) == row.id).values(last_used_at=now)
        )
    return Bearer(user, None if row.permissions is None else frozenset(row.permissions))


def replace_operator_token(session: Session, *, username: str, days: float) -> str:
    """A fresh operator token for the platform's admin (the local CLI's), revoking the previous ones."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not user.is_superuser:
        raise NotFoundError("administrator", username)
    session.exec(  # type: ignore[call-overload]
        update(ApiToken)
        .where(col(ApiToken.user_id) == user.id, col(ApiToken.kind) == "operator")
        .where(col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    _, plain = _issue(session, user=user, name="operator", kind="operator", days=days, created_by_id=user.id)
    return plain


def expires_in_days(expires_at: datetime) -> float:
    return max(0.0, (expires_at - utcnow()).total_seconds() / 86400)
