"""`mlops teams|users|algorithms` through a live API server (the CLI in-process on the platform host, acting with
the operator token, or with a member's token in MLOPS_TOKEN): output keys and exit codes as before the API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_lite.client import Client

pytestmark = pytest.mark.platform_servers("s3")


@pytest.fixture
def mlops(api_server, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    from cli.main import app

    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, f"mlops {' '.join(args)} → {result.exit_code}: {result.output}"
        return json.loads(result.output) if "--json" in args and code == 0 else result.output

    return run


def test_teams_and_users(mlops, api_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    red = mlops("teams", "create", "red", "--description", "the red team", "--json")
    assert set(red) == {"id", "name", "parent_id", "description"} and red["description"] == "the red team"
    assert "already exists" in mlops("teams", "create", "red", code=3)
    user = mlops("users", "create", "alice", "--password", "alice-pass-1", "--team", "red", "--json")
    assert set(user) == {"id", "username", "is_superuser"} and user["is_superuser"] is False
    users = mlops("users", "list", "--json")
    assert {"admin", "alice", "mallory"} <= {u["username"] for u in users}
    assert set(users[0]) == {"id", "username", "is_superuser", "is_active"}
    assert mlops("users", "show", "alice", "--json")["failed_logins"] == 0
    assert "'nobody' not found" in mlops("users", "show", "nobody", code=1)

    assert mlops("users", "add-to-team", "mallory", "red", "--role", "admin").strip() == (
        "mallory is now a admin of red"
    )
    shown = mlops("teams", "show", "red", "--json")
    assert [(m["username"], m["role"]) for m in shown["members"]] == [
        ("alice", "member"),
        ("mallory", "admin"),
    ]
    assert [m["username"] for m in mlops("teams", "members", str(red["id"]), "--json")] == [
        "alice",
        "mallory",
    ]
    assert {t["name"] for t in mlops("teams", "list", "--json")} >= {"red"}

    mlops("users", "set-password", "alice", "--password", "alice-pass-2")
    with Client.login(api_server.url, "alice", "alice-pass-2")[0] as alice:
        assert alice.me().username == "alice"

    # mallory, a team admin of red and nothing more, with her own token.
    session, issued = Client.login(api_server.url, "mallory", "mallory-pass")
    session.close()
    monkeypatch.setenv("MLOPS_TOKEN", issued.token)
    assert [t["name"] for t in mlops("teams", "list", "--json")] == ["red"]
    assert mlops("users", "remove-from-team", "alice", "red").strip() == "alice removed from red"
    assert [m["username"] for m in mlops("teams", "members", "red", "--json")] == ["mallory"]
    assert "only an administrator may do this" in mlops("users", "list", code=1)
    assert "only an administrator may do this" in mlops("teams", "create", "blue", code=1)
    assert "not found" in mlops("teams", "show", "default", code=1)


def test_algorithms(mlops, api_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    listed = mlops("algorithms", "list", "--scenario", "anomaly_detection", "--json")
    assert [a["name"] for a in listed] == ["ECOD", "EWMA", "PELT"]
    assert set(listed[0]) == {"id", "scenario", "name", "display_name", "enabled", "image"}
    shown = mlops("algorithms", "show", "anomaly_detection", "ECOD", "--json")
    assert {"form_config", "search_space", "description", "enabled"} <= set(shown)
    assert shown["form_config"]["fields"][0]["name"] == "contamination"
    assert mlops("algorithms", "disable", "anomaly_detection", "PELT", "--json")["enabled"] is False
    assert [a["name"] for a in mlops("algorithms", "list", "--disabled", "--json")] == ["PELT"]
    assert mlops("algorithms", "enable", "anomaly_detection", "PELT", "--json")["enabled"] is True
    assert "not found" in mlops("algorithms", "show", "anomaly_detection", "Nope", code=1)
    session, issued = Client.login(api_server.url, "mallory", "mallory-pass")
    session.close()
    monkeypatch.setenv("MLOPS_TOKEN", issued.token)
    assert len(mlops("algorithms", "list", "--json")) >= 10
    refused = mlops("algorithms", "disable", "anomaly_detection", "PELT", code=1)
    assert "only an administrator may do this" in refused


def test_team_tree_roles_and_narrowed_tokens(mlops, api_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    red = mlops("teams", "create", "red", "--json")
    sub = mlops("teams", "create", "red-sub", "--parent", "red", "--json")
    assert sub["parent_id"] == red["id"]
    blue = mlops("teams", "create", "blue", "--json")
    assert mlops("teams", "move", "red-sub", "--parent", "blue", "--json")["parent_id"] == blue["id"]
    assert "cannot move team 'blue'" in mlops("teams", "move", "blue", "--parent", "red-sub", code=3)
    assert "'blue' still has 1 sub-team(s)" in mlops("teams", "delete", "blue", code=3)
    assert "give either --parent TEAM or --top" in mlops("teams", "move", "blue", code=1)
    assert mlops("teams", "move", "red-sub", "--top", "--json")["parent_id"] is None
    listed = mlops("teams", "list", "--team", "blue", "--include-children", "--json")
    assert [t["name"] for t in listed] == ["blue"]

    created = mlops("roles", "create", "auditor", "-p", "audit:read", "-p", "datasets:read", "--json")
    assert created["permissions"] == ["audit:read", "datasets:read"] and created["includes_children"] is False
    updated = mlops("roles", "update", "auditor", "--include-children", "--json")
    assert updated["includes_children"] is True and updated["permissions"] == created["permissions"]
    assert [r["name"] for r in mlops("roles", "list", "--json")][-1] == "auditor"
    assert mlops("users", "add-to-team", "mallory", "red", "--role", "auditor").strip() == (
        "mallory is now a auditor of red"
    )
    assert "role 'ghost' does not exist" in mlops(
        "users", "add-to-team", "mallory", "red", "--role", "ghost", code=1
    )
    assert "held by 1 membership(s)" in mlops("roles", "delete", "auditor", code=3)
    assert mlops("teams", "delete", "red-sub").strip() == "team red-sub deleted"
    assert "not found" in mlops("teams", "show", "red-sub", code=1)

    # mallory, an auditor of red: a token narrowed to what she holds, and lists of her team's subtree.
    session, issued = Client.login(api_server.url, "mallory", "mallory-pass")
    session.close()
    monkeypatch.setenv("MLOPS_TOKEN", issued.token)
    token = mlops("tokens", "create", "reader", "--permission", "datasets:read", "--json")
    assert token["permissions"] == ["datasets:read"] and token["token"].startswith("mlops_p_")
    assert "holds no 'jobs:start'" in mlops(
        "tokens", "create", "starter", "--permission", "jobs:start", code=1
    )
    assert [t["permissions"] for t in mlops("tokens", "list", "--json") if t["name"] == "reader"] == [
        ["datasets:read"]
    ]
    assert mlops("datasets", "list", "--team", "red", "--include-children", "--json")["count"] == 0
    assert mlops("jobs", "list", "--team", "red", "--include-children", "--json")["count"] == 0
    assert "team 'blue' not found" in mlops("datasets", "list", "--team", "blue", code=1)
