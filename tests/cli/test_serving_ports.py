"""`mlops servings update --port` and `servings create --port` through the CLI (catalog only, no servers): a port
outside the serving range, or held by another team's stopped serving, is one clear error line and changes
nothing; the line never names the team holding the port."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.common import ExitCode
from tests.catalog.conftest import _migrated_template, catalog_url  # noqa: F401 - fixtures
from tests.catalog.test_serving_ports import World, create, stop, world  # noqa: F401 - fixture


def mlops(monkeypatch: pytest.MonkeyPatch, user: str, password: str, *args: str) -> Any:
    from cli.main import app

    monkeypatch.setenv("MLOPS_PASSWORD", password)
    return CliRunner().invoke(app, [*args, "--user", user])


def test_cli_refuses_ports_outside_the_range_or_taken(world: World, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    theirs = create(world.bob, world.other_team_id, world.other_job_id, "theirs", port=world.lo)
    stop(world.bob, theirs.id)
    mine = create(world.carol, world.team_id, world.job_id, "mine")
    stop(world.carol, mine.id)  # a stopped serving: an accepted change needs no restart

    outside = mlops(
        monkeypatch, "carol", "carol-pass-123", "servings", "update", str(mine.id), "--port", "8080"
    )
    assert outside.exit_code == 1
    assert f"port 8080 is outside the serving port range {world.lo}-{world.hi}" in outside.output
    taken = mlops(
        monkeypatch, "carol", "carol-pass-123", "servings", "update", str(mine.id), "--port", str(world.lo)
    )
    assert taken.exit_code == ExitCode.CONFLICT and f"error: port {world.lo} is taken" in taken.output
    assert world.other_team_name not in taken.output and "theirs" not in taken.output
    created = mlops(
        monkeypatch,
        "carol",
        "carol-pass-123",
        "servings",
        "create",
        "again",
        "--job",
        str(world.job_id),
        "--port",
        str(world.lo),
        "--no-start",
    )
    assert created.exit_code == ExitCode.CONFLICT and f"port {world.lo} is taken" in created.output

    shown = mlops(monkeypatch, "carol", "carol-pass-123", "servings", "list", "--json")
    assert shown.exit_code == 0, shown.output
    assert [s["name"] for s in json.loads(shown.output)["items"]] == ["mine"]  # nothing created

    ok = mlops(
        monkeypatch,
        "carol",
        "carol-pass-123",
        "servings",
        "update",
        str(mine.id),
        "--port",
        str(world.hi),
        "--json",
    )
    assert ok.exit_code == 0, ok.output
    from catalog.db import session_scope
    from catalog.models import Serving

    with session_scope() as session:
        assert session.get(Serving, mine.id).port == world.hi  # type: ignore[union-attr]
