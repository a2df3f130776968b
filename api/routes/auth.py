"""Who am I, and tokens: health (public), the token exchange (public: username and password for a token,
throttled and locked out like a dashboard sign-in), the caller's identity, personal access tokens, and
service accounts with their tokens."""

from __future__ import annotations

import socket

from fastapi import APIRouter

from api.deps import ActorDep, IdPath, SessionDep
from api.errors import ApiError
from api.paging import Page, PageDep
from catalog.errors import PermissionDeniedError
from catalog.models import ApiToken, Team, User
from catalog.services import teams as teams_service
from catalog.services import tokens as tokens_service
from infra.settings import get_settings
from mlops_lite.schemas.auth import (
    CreateServiceAccount,
    CreateToken,
    Health,
    Me,
    NewToken,
    ServiceAccount,
    TeamRef,
    TokenOut,
    TokenRequest,
)

router = APIRouter(tags=["auth"])


def _new(row: ApiToken, plain: str) -> NewToken:
    return NewToken(**TokenOut.model_validate(row).model_dump(), token=plain)


@router.get("/health", response_model=Health, summary="Liveness (no token needed)")
def health() -> Health:
    return Health(status="ok", version="1")


@router.post(
    "/auth/token", response_model=NewToken, status_code=201, summary="Exchange a password for a token"
)
def exchange(body: TokenRequest, session: SessionDep) -> NewToken:
    """Username and password → a token lasting MLOPS_API_LOGIN_TOKEN_HOURS (what `mlops login` stores).
    Failures count towards the account's lockout exactly like dashboard sign-ins."""
    try:
        user = teams_service.authenticate(session, username=body.username, password=body.password)
    except PermissionDeniedError as exc:
        raise ApiError(401, str(exc)) from None
    name = body.name or f"login on {socket.gethostname()[:60]}"
    row, plain = tokens_service.issue_login_token(
        session, user=user, name=name, days=get_settings().api.login_token_hours / 24
    )
    return _new(row, plain)


@router.get("/me", response_model=Me, summary="Who the token acts as")
def me(actor: ActorDep, session: SessionDep) -> Me:
    teams = [session.get(Team, t) for t in sorted(actor.team_ids)]
    return Me(
        id=actor.user_id,
        username=actor.username,
        is_superuser=actor.is_superuser,
        teams=[TeamRef.model_validate(t) for t in teams if t is not None],
        current_team_id=actor.current_team_id,
    )


@router.get("/tokens", response_model=list[TokenOut], summary="My tokens")
def list_tokens(actor: ActorDep, session: SessionDep) -> list[ApiToken]:
    return tokens_service.list_tokens(session, actor=actor)


@router.post("/tokens", response_model=NewToken, status_code=201, summary="Create a personal access token")
def create_token(body: CreateToken, actor: ActorDep, session: SessionDep) -> NewToken:
    days = body.days or get_settings().api.token_days
    row, plain = tokens_service.create_token(
        session, actor=actor, name=body.name, days=days, permissions=body.permissions
    )
    return _new(row, plain)


@router.delete("/tokens/{token_id:int}", response_model=TokenOut, summary="Revoke a token")
def revoke_token(token_id: IdPath, actor: ActorDep, session: SessionDep) -> ApiToken:
    return tokens_service.revoke_token(session, actor=actor, token_id=token_id)


@router.post(
    "/service-accounts", response_model=ServiceAccount, status_code=201, summary="Create a service account"
)
def create_service_account(body: CreateServiceAccount, actor: ActorDep, session: SessionDep) -> User:
    """A team's robot user (admins of the team, or administrators); it acts only with its tokens."""
    return tokens_service.create_service_account(session, actor=actor, team_id=body.team_id, name=body.name)


@router.get("/service-accounts", response_model=Page[ServiceAccount], summary="Service accounts you manage")
def list_service_accounts(actor: ActorDep, session: SessionDep, paging: PageDep) -> Page[ServiceAccount]:
    """Every service account for an administrator; otherwise those of the teams you are an admin of."""
    total, rows = tokens_service.page_service_accounts(
        session, actor=actor, search=paging.q, offset=paging.offset, limit=paging.limit
    )
    return Page(
        items=[ServiceAccount.model_validate(r) for r in rows],
        total=total,
        offset=paging.offset,
        limit=paging.limit,
    )


@router.get(
    "/service-accounts/{user_id:int}/tokens",
    response_model=list[TokenOut],
    summary="A service account's tokens",
)
def list_service_tokens(user_id: IdPath, actor: ActorDep, session: SessionDep) -> list[ApiToken]:
    return tokens_service.list_tokens(session, actor=actor, user_id=user_id)


@router.post(
    "/service-accounts/{user_id:int}/tokens",
    response_model=NewToken,
    status_code=201,
    summary="Create a service account token",
)
def create_service_token(
    user_id: IdPath, body: CreateToken, actor: ActorDep, session: SessionDep
) -> NewToken:
    days = body.days or get_settings().api.token_days
    row, plain = tokens_service.create_service_token(
        session, actor=actor, user_id=user_id, name=body.name, days=days, permissions=body.permissions
    )
    return _new(row, plain)
