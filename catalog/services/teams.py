"""Teams (read), users, memberships and login: argon2 password hashes, lockout, and the ``Actor`` of a user.
Creating, moving and deleting teams (the team tree) is ``catalog.services.team_tree``.

Administrators (superusers) manage users; members whose role grants ``members:manage`` on a team (its
admins, and admins of a team above it) manage its membership, giving each member a role (catalog.services.roles).
Login failures are counted per account: after ``MAX_FAILED_LOGINS`` in a row the account is locked for
``LOCKOUT_MINUTES``. A failed login never says whether the username or the password was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import update
from sqlmodel import Session, col, select

from catalog.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError, quote
from catalog.models import Membership, Team, User
from catalog.models.base import utcnow
from catalog.permissions import ADMIN, PERMISSIONS, RoleDef, implies
from catalog.scoping import Actor, requires, team_filter
from catalog.services import roles as roles_service
from catalog.services.audit import record
from catalog.services.common import flush_unique, page
from mlops_lite.schemas.common import MIN_PASSWORD_LENGTH, USERNAME_PATTERN

MAX_FAILED_LOGINS = 5
LOCKOUT_MINUTES = 15
# One message for a wrong password, an unknown user and a locked account: which of the three it was would
# tell a caller that the username exists.
LOGIN_FAILED = (
    f"invalid username or password (after {MAX_FAILED_LOGINS} failed logins an account is locked for "
    f"{LOCKOUT_MINUTES} minutes; an administrator can reset the password)"
)

_USERNAME_RE = re.compile(USERNAME_PATTERN)
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Member:
    """A user as a member of one team."""

    user_id: int
    username: str
    role: str
    is_superuser: bool
    is_active: bool


def _now() -> datetime:
    return utcnow()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------- teams


def list_teams(session: Session, *, actor: Actor) -> list[Team]:
    """Every team for a superuser; otherwise the actor's own teams."""
    stmt = select(Team).order_by(Team.name)
    if not actor.is_superuser:
        stmt = stmt.where(col(Team.id).in_(sorted(actor.team_ids)))
    return list(session.exec(stmt).all())


def page_teams(
    session: Session,
    *,
    actor: Actor,
    search: str | None = None,
    team_id: int | None = None,
    include_children: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[Team]]:
    """One page of ``list_teams`` in name order, optionally of names containing ``search``, of one team
    (``team_id``) or, with ``include_children``, of it and the teams below it."""
    stmt = select(Team)
    if not actor.is_superuser:
        stmt = stmt.where(col(Team.id).in_(sorted(actor.team_ids)))
    teams = team_filter(actor, team_id, include_children)
    if teams is not None:
        stmt = stmt.where(col(Team.id).in_(teams))
    if search:
        stmt = stmt.where(col(Team.name).icontains(search))
    return page(session, stmt, offset=offset, limit=limit, order_by=col(Team.name))


def get_team(
    session: Session, *, team_id: int | None = None, name: str | None = None, actor: Actor | None = None
) -> Team:
    """A team by id or name. With an actor, a team it may not see reads as nonexistent; without one (resolving
    a name before the actor is known) any team is found."""
    if (team_id is None) == (name is None):
        raise ValidationError("give either a team id or a team name")
    if team_id is not None:
        team = session.get(Team, team_id)
    else:
        team = session.exec(select(Team).where(Team.name == name)).first()
    ident = team_id if team_id is not None else name
    if team is None or (actor is not None and not actor.can_see_team(team.id)):
        raise NotFoundError("team", ident)
    return team


# ---------------------------------------------------------------- users


def check_username(username: str) -> str:
    username = (username or "").strip()
    if not _USERNAME_RE.match(username):
        raise ValidationError(
            f"username {quote(username)} is invalid: use 1-100 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return username


@requires("admin:*")
def create_user(
    session: Session, *, actor: Actor, username: str, password: str, is_superuser: bool = False
) -> User:
    actor.require_superuser("create users")
    username = check_username(username)
    if session.exec(select(User).where(User.username == username)).first() is not None:
        raise ConflictError(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), is_superuser=is_superuser)
    session.add(user)
    flush_unique(session, f"user {username!r} already exists")
    record(
        session,
        actor=actor,
        action="user.create",
        resource_type="user",
        resource_id=user.id,
        detail={"username": username, "is_superuser": is_superuser},
    )
    return user


def get_user(
    session: Session, *, user_id: int | None = None, username: str | None = None, actor: Actor | None = None
) -> User:
    """A user by id or name; with a non-superuser actor, only the actor itself is visible."""
    if (user_id is None) == (username is None):
        raise ValidationError("give either a user id or a username")
    if user_id is not None:
        user = session.get(User, user_id)
    else:
        user = session.exec(select(User).where(User.username == username)).first()
    ident = user_id if user_id is not None else username
    if user is None or (actor is not None and not actor.can(ADMIN) and actor.user_id != user.id):
        raise NotFoundError("user", ident)
    return user


@requires("admin:*")
def list_users(session: Session, *, actor: Actor) -> list[User]:
    actor.require_superuser("list users")
    return list(session.exec(select(User).order_by(User.username)).all())


@requires("admin:*")
def page_users(
    session: Session, *, actor: Actor, search: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[int, list[User]]:
    """One page of users in name order (administrators only), optionally of usernames containing ``search``."""
    actor.require_superuser("list users")
    stmt = select(User)
    if search:
        stmt = stmt.where(col(User.username).icontains(search))
    return page(session, stmt, offset=offset, limit=limit, order_by=col(User.username))


def set_password(session: Session, *, actor: Actor, user_id: int, password: str) -> User:
    """Change a password (one's own, or anyone's for a superuser); this also lifts a lockout."""
    user = get_user(session, user_id=user_id, actor=actor)
    # An UPDATE rather than attribute changes: a stale in-session copy (locked_until already None in memory
    # but set in the database) would make the ORM skip writing the columns that did not "change".
    session.exec(
        update(User)
        .where(User.id == user.id)  # type: ignore[call-overload]
        .values(password_hash=hash_password(password), failed_logins=0, locked_until=None)
    )
    session.refresh(user)
    record(session, actor=actor, action="user.set_password", resource_type="user", resource_id=user.id)
    session.flush()
    return user


# ---------------------------------------------------------------- memberships


def _require_within(session: Session, actor: Actor, team_id: int, role: RoleDef | None) -> None:
    """Whoever manages members gives (or takes) only roles within their own rights: every permission of the
    role on the team, and on each team below it when the role reaches sub-teams. Otherwise a custom role with
    ``members:manage`` could make its holder (or anyone) a team admin."""
    if role is None or actor.can(ADMIN):
        return
    reach = actor.tree.subtree(team_id) if role.includes_children else [team_id]
    concrete = [p for p in PERMISSIONS if implies(role.permissions, p)]  # ``<kind>:*`` as each of its actions
    beyond = sorted({p for t in reach for p in concrete if not actor.can(p, t)})
    if beyond:
        raise PermissionDeniedError(
            f"role {role.name!r} grants {', '.join(map(repr, beyond))} beyond your own rights on this team "
            "(or a team below it)"
        )


def _managed_team(session: Session, actor: Actor, team_id: int) -> Team:
    """The team, if the actor may manage its members (``members:manage``, checked by ``requires``)."""
    team = get_team(session, team_id=team_id, actor=actor)
    actor.require_team(team_id)
    return team


@requires("members:manage")
def add_member(
    session: Session,
    *,
    actor: Actor,
    team_id: int,
    user_id: int | None = None,
    username: str | None = None,
    role: str = "member",
) -> Membership:
    """Make a user (by id or by username) a member of a team with ``role``; an existing member gets the new
    role."""
    granted = roles_service.require_role(session, role)
    if (user_id is None) == (username is None):
        raise ValidationError("give either a user id or a username")
    # Who may manage the team is checked before the user is looked up: anyone else must not learn from the
    # answer whether a username exists.
    team = _managed_team(session, actor, team_id)
    if user_id is not None:
        user = session.get(User, user_id)
    else:
        user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFoundError("user", user_id if user_id is not None else username)
    if user.is_service_account and not actor.can(ADMIN):
        # Whoever manages a team manages its robots (tokens.py): joining another team's robot would hand its
        # team's rights to this team's admins.
        raise PermissionDeniedError(
            "a service account stays in the team it was made for; ask an administrator"
        )
    user_id = user.id
    membership = session.get(Membership, (user_id, team_id))
    _require_within(session, actor, team_id, granted)
    if membership is not None:
        _require_within(session, actor, team_id, roles_service.require_role(session, membership.role))
    if membership is None:
        membership = Membership(user_id=user_id, team_id=team_id, role=role)
    membership.role = role
    session.add(membership)
    flush_unique(session, f"{user.username!r} is already a member of {team.name!r}")
    record(
        session,
        actor=actor,
        action="team.add_member",
        resource_type="team",
        resource_id=team_id,
        team_id=team_id,
        detail={"user_id": user_id, "username": user.username, "role": role},
    )
    return membership


@requires("members:manage")
def remove_member(session: Session, *, actor: Actor, team_id: int, user_id: int) -> None:
    _managed_team(session, actor, team_id)
    membership = session.get(Membership, (user_id, team_id))
    if membership is not None:
        _require_within(
            session, actor, team_id, roles_service.role_defs(session, [membership.role]).get(membership.role)
        )
    if membership is None:
        raise NotFoundError("membership", f"user {user_id} in team {team_id}")
    session.delete(membership)
    record(
        session,
        actor=actor,
        action="team.remove_member",
        resource_type="team",
        resource_id=team_id,
        team_id=team_id,
        detail={"user_id": user_id},
    )
    session.flush()


def list_members(session: Session, *, actor: Actor, team_id: int) -> list[Member]:
    get_team(session, team_id=team_id, actor=actor)
    rows = session.exec(
        select(User, Membership)
        .join(Membership, col(Membership.user_id) == User.id)
        .where(Membership.team_id == team_id)
        .order_by(User.username)
    ).all()
    return [
        Member(
            user_id=u.id,
            username=u.username,
            role=m.role,
            is_superuser=u.is_superuser,  # type: ignore[arg-type]
            is_active=u.is_active,
        )
        for u, m in rows
    ]


# ---------------------------------------------------------------- login


def _record_failure(session: Session, user: User) -> None:
    # Incremented in SQL so that concurrent wrong guesses all count.
    session.exec(
        update(User)
        .where(User.id == user.id)  # type: ignore[call-overload]
        .values(failed_logins=User.failed_logins + 1)
    )
    session.refresh(user)
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.locked_until = _now() + timedelta(minutes=LOCKOUT_MINUTES)
        # A fresh count after the lock expires: five more tries, not one.
        user.failed_logins = 0
        session.add(user)


def authenticate(session: Session, *, username: str, password: str) -> User:
    """The user whose password this is, or PermissionDeniedError.

    Commits the session itself on failure: the failure count must survive the error, which makes the
    caller's transaction roll back.
    """
    # populate_existing: the lock and the failure count must be read from the database, not from a copy
    # this session loaded earlier.
    stmt = (
        select(User)
        .where(User.username == (username or "").strip())
        .execution_options(populate_existing=True)
    )
    user = session.exec(stmt).first()
    if user is None or user.is_service_account:
        # A service account acts only through its tokens (catalog.services.tokens): no password sign-in.
        _verify(_dummy_hash(), password or "")  # same cost as a real check: no timing hint that it is unknown
        raise PermissionDeniedError(LOGIN_FAILED)
    if user.locked_until is not None and user.locked_until > _now():
        _verify(user.password_hash, password or "")  # same cost, and the same words, as any failure
        raise PermissionDeniedError(LOGIN_FAILED)
    if not _verify(user.password_hash, password or ""):
        _record_failure(session, user)
        session.commit()
        raise PermissionDeniedError(LOGIN_FAILED)
    if not user.is_active:
        raise PermissionDeniedError("this account is disabled; ask an administrator")
    if user.failed_logins or user.locked_until is not None or _hasher.check_needs_rehash(user.password_hash):
        values: dict[str, object] = {"failed_logins": 0, "locked_until": None}
        if _hasher.check_needs_rehash(user.password_hash):
            values["password_hash"] = _hasher.hash(password)
        session.exec(update(User).where(User.id == user.id).values(**values))  # type: ignore[call-overload]
        session.refresh(user)
    return user


def actor_for(
    session: Session,
    *,
    username: str,
    current_team_id: int | None = None,
    permissions: Iterable[str] | None = None,
) -> Actor:
    """The Actor of a user: their permissions on each team (memberships' roles, reaching sub-teams per role),
    narrowed to ``permissions`` when given (a narrowed token), and the current team, which must be one they
    see (unless the user is a superuser; by default their first team)."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFoundError("user", username)
    if not user.is_active:
        raise PermissionDeniedError(f"user {username!r} is disabled")
    tree, names = roles_service.team_tree(session)
    grants, member_of = roles_service.grants_of(session, user.id, tree)  # type: ignore[arg-type]
    if current_team_id is None:
        current_team_id = min(member_of) if member_of else (min(grants) if grants else None)
    elif user.is_superuser:
        if current_team_id not in names:
            raise NotFoundError("team", current_team_id)
    elif current_team_id not in grants:
        raise NotFoundError("team", current_team_id)
    return Actor(
        user_id=user.id,
        username=user.username,
        grants=grants,
        is_superuser=user.is_superuser,
        current_team_id=current_team_id,
        ceiling=None if permissions is None else frozenset(permissions),
        tree=tree,
        member_of=frozenset(member_of),
        team_names=names if user.is_superuser else {t: names[t] for t in grants if t in names},
    )
