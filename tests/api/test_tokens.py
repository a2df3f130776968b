"""Tokens on a live API server: the exchange, personal tokens, expiry and revocation, service accounts."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from mlops_lite.client import Client, NotFound, PermissionDenied, Unauthenticated
from tests.fixtures.accounts import ADMIN_PASSWORD

pytestmark = pytest.mark.platform_servers("s3")


def test_password_exchange_personal_tokens_and_revocation(api_server) -> None:  # type: ignore[no-untyped-def]
    with Client(api_server.url) as anonymous:
        assert anonymous.health().status == "ok"
        with pytest.raises(Unauthenticated):
            anonymous.me()
    client, issued = Client.login(api_server.url, "mallory", "mallory-pass")
    assert issued.kind == "login" and issued.token.startswith("mlops_l_")
    assert client.me().username == "mallory"
    pat = client.tokens.create("ci", days=1)
    assert pat.token.startswith("mlops_p_") and pat.prefix == pat.token[:12]
    listed = client.tokens.list()
    assert {t.id for t in listed} >= {pat.id, issued.id}
    assert all(not hasattr(t, "token") for t in listed)  # never returned again
    with Client(api_server.url, pat.token) as ci:
        assert ci.me().username == "mallory"
        client.tokens.revoke(pat.id)
        with pytest.raises(Unauthenticated):
            ci.me()
    # Another user's token id reads as missing, and cannot be revoked.
    with api_server.client() as admin:
        admin_pat = admin.tokens.create("admin-script")
        with pytest.raises(NotFound):
            client.tokens.revoke(admin_pat.id)
    assert pat.token not in api_server.log() and issued.token not in api_server.log()
    client.close()


def test_wrong_passwords_count_towards_the_lockout(api_server) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            Client.login(api_server.url, "mallory", "wrong")
    with pytest.raises(Unauthenticated, match="locked"):
        Client.login(api_server.url, "mallory", "mallory-pass")  # locked now, even with the right password


def test_expired_and_garbage_tokens_are_refused(api_server, platform_env) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from catalog.db import session_scope
    from catalog.models import ApiToken
    from catalog.models.base import utcnow

    client, issued = Client.login(api_server.url, "admin", ADMIN_PASSWORD)
    with session_scope() as session:
        session.exec(
            update(ApiToken)
            .where(ApiToken.id == issued.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )  # type: ignore[call-overload]
    with pytest.raises(Unauthenticated):
        client.me()
    for header in ("Bearer mlops_p_nonsense", "Bearer", "Basic YWRtaW46eA==", "bearer " + "x" * 5000):
        answer = httpx.get(f"{api_server.url}/api/v1/me", headers={"Authorization": header})
        assert answer.status_code == 401, header[:40]
        assert answer.json()["error"]["code"] == "unauthenticated"


def test_service_accounts_act_only_with_tokens(api_server) -> None:  # type: ignore[no-untyped-def]
    with api_server.client() as admin:
        team_id = admin.me().teams[0].id
        robot = admin.service_accounts.create("nightly-bot", team_id=team_id)
        issued = admin.service_accounts.create_token(robot.id, "nightly", days=30)
        assert [t.id for t in admin.service_accounts.tokens(robot.id)] == [issued.id]
    with Client(api_server.url, issued.token) as bot:
        me = bot.me()
        assert me.username == "nightly-bot" and [t.id for t in me.teams] == [team_id]
        # A robot never signs in with a password, and a member may not mint tokens for it.
        with pytest.raises(NotFound):
            bot.service_accounts.create_token(robot.id + 1000, "x")
    with pytest.raises(Unauthenticated):
        Client.login(api_server.url, "nightly-bot", "anything")
    mallory, _ = Client.login(api_server.url, "mallory", "mallory-pass")
    with pytest.raises((NotFound, PermissionDenied)):
        mallory.service_accounts.create_token(robot.id, "steal")


def test_narrowed_tokens(api_server) -> None:  # type: ignore[no-untyped-def]
    from mlops_lite.client import InvalidRequest

    with api_server.client() as admin:
        team_id = admin.me().teams[0].id
        admin.teams.add_member(team_id, username="mallory", role="member")
        shared = admin.datasets.create("shared", "anomaly_detection", team_id=team_id)
    mallory, _ = Client.login(api_server.url, "mallory", "mallory-pass")
    reader = mallory.tokens.create("reader", days=1, permissions=["datasets:read"])
    assert reader.permissions == ["datasets:read"]
    assert [(t.name, t.permissions) for t in mallory.tokens.list() if t.id == reader.id] == [
        ("reader", ["datasets:read"])
    ]
    with Client(api_server.url, reader.token) as narrowed:
        assert [d.name for d in narrowed.datasets.list()] == ["shared"]
        with pytest.raises(PermissionDenied, match="this token is not allowed 'datasets:write'"):
            narrowed.datasets.create("mine", "anomaly_detection", team_id=team_id)
        # It never mints a wider token: asking for more is refused, asking for nothing gets its own limits.
        with pytest.raises(PermissionDenied, match="may not create a token with 'datasets:write'"):
            narrowed.tokens.create("wider", days=1, permissions=["datasets:write"])
        assert narrowed.tokens.create("same", days=1).permissions == ["datasets:read"]
    with api_server.client() as admin:
        assert [d.name for d in admin.datasets.list()] == ["shared"], "the refused create stored nothing"
    # Narrowing only to permissions the user holds somewhere; unknown names are refused by the schema.
    with pytest.raises(InvalidRequest, match="holds no 'teams:manage' on any team"):
        mallory.tokens.create("manager", days=1, permissions=["teams:manage"])
    with pytest.raises(InvalidRequest, match="permissions"):
        mallory.tokens.create("typo", days=1, permissions=["datasets:reed"])
    assert {t.name for t in mallory.tokens.list()} >= {"reader", "same"} and not {"manager", "typo"} & {
        t.name for t in mallory.tokens.list()
    }
    with api_server.client() as admin:
        robot = admin.service_accounts.create("narrow-bot", team_id=team_id)
        issued = admin.service_accounts.create_token(robot.id, "ro", days=1, permissions=["jobs:read"])
        assert [t.permissions for t in admin.service_accounts.tokens(robot.id)] == [["jobs:read"]]
    with Client(api_server.url, issued.token) as bot:
        assert bot.jobs.page().total == 0
        # Its team's dataset is beyond the token: lists leave it out, a read finds nothing.
        assert bot.datasets.page().total == 0
        with pytest.raises(NotFound):
            bot.datasets.get(shared.id)
    mallory.close()
