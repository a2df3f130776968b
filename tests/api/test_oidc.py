"""OIDC bearer tokens on a live API server, with a local issuer the test starts (tests/fixtures/oidc_issuer.py):
users created or linked by the token's identity, every kind of bad token refused, a key rotation picked up,
made-up key ids not hammering the issuer, disabled users refused, platform tokens working beside OIDC."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import update
from sqlmodel import select

from infra.net import wait_until
from mlops_lite.client import Client
from tests.fixtures.accounts import ADMIN_PASSWORD
from tests.fixtures.oidc_issuer import AUDIENCE, LocalIssuer

pytestmark = pytest.mark.platform_servers("s3")

REFETCH_SECONDS = 2.0


def start_api(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, issuer: LocalIssuer, *, create: bool
) -> Any:
    """The live API with the issuer configured (set after platform_env, which clears MLOPS_*, and before the
    api_server fixture, which hands the environment to the server process)."""
    monkeypatch.setenv("MLOPS_API_OIDC_ISSUER", issuer.url)
    monkeypatch.setenv("MLOPS_API_OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("MLOPS_API_OIDC_CREATE_USERS", "true" if create else "false")
    monkeypatch.setenv("MLOPS_API_OIDC_JWKS_REFETCH_SECONDS", str(REFETCH_SECONDS))
    return request.getfixturevalue("api_server")


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def me(api: Any, token: str) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(f"{api.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return answer.status_code, answer.json()


def refused(api: Any, token: str) -> str:
    status, body = me(api, token)
    assert status == 401, body
    assert body["error"]["code"] == "unauthenticated"
    message = body["error"]["message"]
    assert not any(part in message for part in token.split(".") if len(part) > 8)
    return message


def set_active(username: str, active: bool) -> None:
    from catalog.db import session_scope
    from catalog.models import User

    with session_scope() as session:
        session.exec(update(User).where(User.username == username).values(is_active=active))  # type: ignore[call-overload]


def user_row(username: str) -> Any:
    from catalog.db import session_scope
    from catalog.models import User

    with session_scope() as session:
        return session.exec(select(User).where(User.username == username)).first()


def test_created_users_refused_tokens_and_key_rotation(  # type: ignore[no-untyped-def]
    request, monkeypatch, platform_admin, oidc_issuer: LocalIssuer
) -> None:
    api = start_api(request, monkeypatch, oidc_issuer, create=True)
    issuer = oidc_issuer
    with api.client() as admin:
        assert admin.me().username == "admin"  # platform tokens beside OIDC

    first = issuer.token("s-carol", username="carol")
    with Client(api.url, first) as carol:
        created = carol.me()
        assert (created.username, created.is_superuser, created.teams) == ("carol", False, [])
        assert carol.me().id == created.id
        pat = carol.tokens.create("script", days=1)  # an OIDC user makes platform tokens too
    assert me(api, pat.token) == (200, me(api, first)[1])
    assert user_row("carol").oidc_subject == f"{issuer.url}|s-carol"
    # The subject is the identity: renamed at the issuer, still carol; another subject naming carol is not.
    assert me(api, issuer.token("s-carol", username="caroline"))[1]["id"] == created.id
    assert user_row("caroline") is None
    assert "linked to another identity" in refused(api, issuer.token("s-other", username="carol"))
    # Users that existed before are never taken over while creation is on.
    assert "already exists" in refused(api, issuer.token("s-m", username="mallory"))
    assert "never linked" in refused(api, issuer.token("s-a", username="admin"))
    assert user_row("mallory").oidc_subject is None and user_row("admin").oidc_subject is None

    now = int(time.time())
    header_b64, payload_b64, signature = first.split(".")
    header, claims = jwt.get_unverified_header(first), jwt.decode(first, options={"verify_signature": False})
    hs_header = b64({**header, "alg": "HS256"})
    hs_mac = hmac.new(issuer.public_pem(), f"{hs_header}.{payload_b64}".encode(), hashlib.sha256).digest()
    bad = {
        "wrong audience": (issuer.token("s-carol", username="carol", aud="another-app"), "another audience"),
        "wrong issuer": (
            issuer.token("s-carol", username="carol", iss="http://127.0.0.1:9"),
            "another issuer",
        ),
        "expired": (issuer.token("s-carol", username="carol", iat=now - 7200, exp=now - 3600), "expired"),
        "alg none": (f"{b64({**header, 'alg': 'none'})}.{payload_b64}.", "algorithm this API accepts"),
        "HS256 signed with the public key": (
            f"{hs_header}.{payload_b64}.{b64(hs_mac)}",
            "algorithm this API accepts",
        ),
        "unknown kid": (issuer.token("s-carol", username="carol", kid="not-published"), "does not publish"),
        "tampered payload": (f"{header_b64}.{b64({**claims, 'sub': 's-admin'})}.{signature}", "signature"),
        "oversized": ("e" * 9000 + ".a.b", "neither a platform token nor a JWT"),
    }
    for name, (token, reason) in bad.items():
        assert reason in refused(api, token), name

    # Made-up key ids: the issuer is asked again at most once per MLOPS_API_OIDC_JWKS_REFETCH_SECONDS.
    fetched, began = issuer.jwks_requests, time.monotonic()
    for n in range(30):
        assert "does not publish" in refused(
            api, issuer.token("s-carol", username="carol", kid=f"garbage-{n}")
        )
    assert issuer.jwks_requests - fetched <= 1 + (time.monotonic() - began) / REFETCH_SECONDS

    # Rotation: the issuer signs with a new key (and drops the old one); the API finds it by refetching.
    issuer.rotate(retire=True)
    rotated = issuer.token("s-carol", username="carol")
    wait_until(
        lambda: me(api, rotated)[0] == 200, timeout=60, interval=0.2, description="the new key accepted"
    )
    assert me(api, rotated)[1]["id"] == created.id
    assert "does not publish" in refused(api, first)

    set_active("carol", False)
    assert "disabled" in refused(api, rotated)
    set_active("carol", True)
    assert me(api, rotated)[0] == 200
    log = api.log()
    assert first not in log and rotated not in log and pat.token not in log


def test_without_creation_admins_create_the_users_tokens_link_to(  # type: ignore[no-untyped-def]
    request, monkeypatch, platform_admin, oidc_issuer: LocalIssuer
) -> None:
    from catalog.db import session_scope
    from catalog.models import AuditEvent

    api = start_api(request, monkeypatch, oidc_issuer, create=False)
    issuer = oidc_issuer
    assert "ask an administrator to create" in refused(api, issuer.token("s-dave", username="dave"))
    assert user_row("dave") is None

    # mallory was created by the administrator: her identity's first token links her account.
    mallory_token = issuer.token("s-mallory", username="mallory")
    status, body = me(api, mallory_token)
    assert status == 200 and body["username"] == "mallory"
    assert user_row("mallory").oidc_subject == f"{issuer.url}|s-mallory"
    assert "linked to another identity" in refused(api, issuer.token("s-evil", username="mallory"))
    with Client.login(api.url, "mallory", "mallory-pass")[0] as by_password:
        assert by_password.me().username == "mallory"  # her password still works

    # An administrator's account is never reached through a claim, and the attempt is audited.
    assert "never linked" in refused(api, issuer.token("s-evil", username="admin"))
    assert user_row("admin").oidc_subject is None
    with session_scope() as session:
        denied = session.exec(
            select(AuditEvent).where(AuditEvent.action == "user.oidc_link", AuditEvent.outcome == "denied")
        ).all()
        assert [e.detail["username"] for e in denied] == ["mallory", "admin"]
    with Client.login(api.url, "admin", ADMIN_PASSWORD)[0] as admin:
        assert admin.me().is_superuser

    set_active("mallory", False)
    assert "disabled" in refused(api, mallory_token)
    assert mallory_token not in api.log()
