"""Teams, members, users and service accounts on a live API server through the SDK: who may do what
(administrators, a team's admins, members, no token), a foreign team reading like a missing one, bad input
storing nothing, paging, and no token in the server's log."""

from __future__ import annotations

import httpx
import pytest

from mlops_lite.client import Client, Conflict, InvalidRequest, NotFound, PermissionDenied, Unauthenticated
from tests.fixtures.accounts import ADMIN_PASSWORD

pytestmark = pytest.mark.platform_servers("s3")
MISSING = 987654

# Every administration route: (method, path, JSON body).
ADMIN_ROUTES = [
    ("POST", "/teams", {"name": "x-team"}),
    ("GET", "/users", None),
    ("POST", "/users", {"username": "x-user", "password": "long-enough-1"}),
    ("GET", "/users/1", None),
    ("PUT", "/users/1/password", {"password": "long-enough-1"}),
]
# Routes any signed-in user may call (the answer then depends on who they are).
TEAM_ROUTES = [
    ("GET", "/teams", None),
    ("GET", "/teams/1", None),
    ("GET", "/teams/1/members", None),
    ("POST", "/teams/1/members", {"username": "mallory"}),
    ("DELETE", "/teams/1/members/2", None),
    ("GET", "/service-accounts", None),
]


def call(url: str, token: str | None, method: str, path: str, body: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{url}/api/v1{path}", json=body, headers=headers, timeout=30)


def test_admin_routes_refuse_members_and_every_route_needs_a_token(api_server) -> None:  # type: ignore[no-untyped-def]
    mallory, issued = Client.login(api_server.url, "mallory", "mallory-pass")
    for method, path, body in ADMIN_ROUTES:
        answer = call(api_server.url, issued.token, method, path, body)
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "permission_denied"
    for method, path, body in ADMIN_ROUTES + TEAM_ROUTES:
        for token in (None, "mlops_p_" + "x" * 43):
            answer = call(api_server.url, token, method, path, body)
            assert answer.status_code == 401, (method, path, token, answer.text)
    with api_server.client() as admin:
        assert admin.users.by_name("x-user") is None  # nothing of the refused calls was stored
        assert [t.name for t in admin.teams.list(search="x-team")] == []
    mallory.close()


def test_teams_members_and_team_admins(api_server) -> None:  # type: ignore[no-untyped-def]
    with api_server.client() as admin:
        default = admin.me().teams[0]
        red = admin.teams.create("red", description="the red team")
        assert admin.teams.get(red.id).description == "the red team"
        with pytest.raises(InvalidRequest, match="either user_id or username"):
            admin.teams.add_member(red.id)
        with pytest.raises(Conflict):
            admin.teams.create("red")
        alice = admin.users.create("alice", "alice-pass-1", team_ids=[red.id])
        assert [m.username for m in admin.teams.members(red.id)] == ["alice"]
        assert {t.name for t in admin.teams.list()} == {default.name, "red"}
        assert [t.name for t in admin.teams.list(search="RE")] == ["red"]

    with Client.login(api_server.url, "alice", "alice-pass-1")[0] as as_alice:
        assert [t.name for t in as_alice.teams.list()] == ["red"]
        # Another team reads exactly like a missing one, for every team route.
        for team_id in (default.id, MISSING):
            for attempt in (
                lambda i: as_alice.teams.get(i),
                lambda i: list(as_alice.teams.members(i)),
                lambda i: as_alice.teams.add_member(i, username="alice"),
                lambda i: as_alice.teams.remove_member(i, alice.id),
            ):
                with pytest.raises(NotFound, match=f"team {team_id} not found"):
                    attempt(team_id)
        # A plain member may not manage the team, and does not learn whether a username exists.
        for username in ("mallory", "nobody-such"):
            with pytest.raises(
                PermissionDenied, match="your role in team 'red' does not grant 'members:manage'"
            ):
                as_alice.teams.add_member(red.id, username=username)

        with api_server.client() as admin:
            assert admin.teams.add_member(red.id, username="alice", role="admin").role == "admin"
        added = as_alice.teams.add_member(red.id, username="mallory")
        assert (added.username, added.role) == ("mallory", "member")
        with pytest.raises(NotFound, match="nobody-such"):
            as_alice.teams.add_member(red.id, username="nobody-such")
        members = as_alice.teams.members(red.id)
        assert [(m.username, m.role) for m in members] == [("alice", "admin"), ("mallory", "member")]
        as_alice.teams.remove_member(red.id, added.user_id)
        assert [m.username for m in as_alice.teams.members(red.id)] == ["alice"]
        with pytest.raises(NotFound):
            as_alice.teams.remove_member(red.id, added.user_id)
        # A team admin is not an administrator.
        with pytest.raises(PermissionDenied):
            as_alice.teams.create("alices-own")
        with pytest.raises(PermissionDenied):
            list(as_alice.users.list())

    bad = call(
        api_server.url, api_server.operator_token, "POST", f"/teams/{red.id}/members", {"role": "owner"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error", bad.text
    both = {"user_id": 1, "username": "alice"}
    assert (
        call(api_server.url, api_server.operator_token, "POST", f"/teams/{red.id}/members", both).status_code
        == 422
    )
    assert "alice-pass-1" not in api_server.log()


def test_users_created_shown_paged_and_their_passwords_set(api_server) -> None:  # type: ignore[no-untyped-def]
    with api_server.client() as admin:
        for i in range(5):
            admin.users.create(f"user-{i}", "user-pass-123")
        first = admin.users.page(limit=2, search="user-")
        assert first.total == 5 and [u.username for u in first.items] == ["user-0", "user-1"]
        assert [u.username for u in admin.users.list(search="user-")] == [f"user-{i}" for i in range(5)]
        raw = call(api_server.url, api_server.operator_token, "GET", "/users?q=user-0", None).json()
        assert raw["items"][0]["username"] == "user-0" and "password_hash" not in raw["items"][0]

        # Refused input stores nothing: a missing team, a short password, a duplicate, an unknown field.
        with pytest.raises(NotFound):
            admin.users.create("ghost", "ghost-pass-1", team_ids=[MISSING])
        short = {"username": "shorty", "password": "short"}
        answer = call(api_server.url, api_server.operator_token, "POST", "/users", short)
        assert answer.status_code == 422 and "password: " in answer.json()["error"]["message"], answer.text
        with pytest.raises(Conflict):
            admin.users.create("user-0", "user-pass-123")
        extra = {"username": "typo", "password": "typo-pass-1", "is_admin": True}
        answer = call(api_server.url, api_server.operator_token, "POST", "/users", extra)
        assert answer.status_code == 422 and "is_admin: unknown field" in answer.json()["error"]["message"]
        assert [admin.users.by_name(n) for n in ("ghost", "shorty", "typo")] == [None, None, None]

        mallory = admin.users.by_name("mallory")
        assert mallory is not None and admin.users.get(mallory.id).username == "mallory"
        with pytest.raises(NotFound):
            admin.users.get(MISSING)
        for _ in range(5):
            with pytest.raises(Unauthenticated):
                Client.login(api_server.url, "mallory", "wrong-password")
        assert admin.users.get(mallory.id).locked_until is not None
        unlocked = admin.users.set_password(mallory.id, "brand-new-pass")
        assert unlocked.locked_until is None and unlocked.failed_logins == 0
    with pytest.raises(Unauthenticated):
        Client.login(api_server.url, "mallory", "mallory-pass")
    client, issued = Client.login(api_server.url, "mallory", "brand-new-pass")
    assert client.me().username == "mallory"
    client.close()
    for secret in (
        "brand-new-pass",
        "user-pass-123",
        issued.token,
        ADMIN_PASSWORD,
        api_server.operator_token,
    ):
        assert secret not in api_server.log()


def test_service_accounts_listed_for_those_who_manage_them(api_server) -> None:  # type: ignore[no-untyped-def]
    with api_server.client() as admin:
        red = admin.teams.create("red")
        blue = admin.teams.create("blue")
        admin.users.create("alice", "alice-pass-1")
        admin.teams.add_member(red.id, username="alice", role="admin")
        admin.teams.add_member(blue.id, username="mallory")
        red_bot = admin.service_accounts.create("red-bot", team_id=red.id)
        admin.service_accounts.create("blue-bot", team_id=blue.id)
        assert [a.username for a in admin.service_accounts.list()] == ["blue-bot", "red-bot"]
        assert [a.username for a in admin.service_accounts.list(search="red")] == ["red-bot"]
    with Client.login(api_server.url, "alice", "alice-pass-1")[0] as as_alice:
        assert [a.id for a in as_alice.service_accounts.list()] == [red_bot.id]
    with Client.login(api_server.url, "mallory", "mallory-pass")[0] as as_mallory:
        # A plain member of blue manages none of its robots.
        assert list(as_mallory.service_accounts.list()) == []
