"""`mlops servings update --port` and `servings create --port` through the CLI and a live API server, as a plain
team member with their own token: a port outside the serving range, or held by another team's stopped serving,
is one clear error line and changes nothing; the line never names the team holding the port."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.common import ExitCode
from mlops_lite.client import Client
from tests.catalog.test_serving_ports import create, make_world, serving_port_range, stop

pytestmark = pytest.mark.platform_servers("s3")


@pytest.fixture
def port_range(platform_env: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """Set before the API server starts (list it before ``api_server``): the API checks the ports."""
    return serving_port_range(monkeypatch)


def test_cli_refuses_ports_outside_the_range_or_taken(
    port_range: tuple[int, int], api_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.main import app

    world = make_world(*port_range)
    theirs = create(world.bob, world.other_team_id, world.other_job_id, "theirs", port=world.lo)
    stop(world.bob, theirs.id)
    mine = create(world.carol, world.team_id, world.job_id, "mine")
    stop(world.carol, mine.id)  # a stopped serving: an accepted change needs no restart
    carol, issued = Client.login(api_server.url, "carol", "carol-pass-123")
    carol.close()
    monkeypatch.setenv("MLOPS_TOKEN", issued.token)  # the CLI on the platform host, acting as carol

    def mlops(*args: str) -> Any:
        return CliRunner().invoke(app, list(args))

    outside = mlops("servings", "update", str(mine.id), "--port", "8080")
    assert outside.exit_code == 1
    assert f"port 8080 is outside the serving port range {world.lo}-{world.hi}" in outside.output
    taken = mlops("servings", "update", str(mine.id), "--port", str(world.lo))
    assert taken.exit_code == ExitCode.CONFLICT and f"error: port {world.lo} is taken" in taken.output
    assert world.other_team_name not in taken.output and "theirs" not in taken.output
    created = mlops(
        "servings", "create", "again", "--job", str(world.job_id), "--port", str(world.lo), "--no-start"
    )
    assert created.exit_code == ExitCode.CONFLICT and f"port {world.lo} is taken" in created.output

    shown = mlops("servings", "list", "--json")
    assert shown.exit_code == 0, shown.output
    assert [s["name"] for s in json.loads(shown.output)["items"]] == ["mine"]  # nothing created

    ok = mlops("servings", "update", str(mine.id), "--port", str(world.hi), "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["observed_port"] is None
    from catalog.db import session_scope
    from catalog.models import Serving

    with session_scope() as session:
        assert session.get(Serving, mine.id).port == world.hi  # type: ignore[union-attr]
    assert issued.token not in api_server.log()
