"""The platform's NATS interface end to end: a real nats-server, the catalog's handlers, both subjects,
paging and clamping, isolation, malformed requests; and the deployment server starting the responder flow."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import nats
import orjson
import pytest
from sqlmodel import Session

from catalog.db import dispose_engines, get_engine, migrate
from flows.nats_responder import build_responder
from infra.natsbus import request
from infra.settings import reset_settings
from tests.catalog.test_modules import Seeded, seed_catalog
from tests.fixtures.runner import FlowRunner

WAIT = 60.0
NS = "mlops"  # the namespace the session nats-server grants its users (NatsSettings default)


def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro_fn(), timeout=WAIT * 2))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory, nats_server) -> Iterator[Seeded]:  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    from catalog.services import teams as teams_service

    path = tmp_path_factory.mktemp("nats-catalog") / "catalog.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOPS_DATABASE_URL", f"sqlite:///{path}")
        mp.setenv("MLOPS_NATS_URL", nats_server.url)
        mp.setenv("MLOPS_NATS_NAMESPACE", NS)
        mp.setenv("MLOPS_NATS_PASSWORD", nats_server.settings.password)
        mp.setattr(teams_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        reset_settings()
        dispose_engines()
        migrate()
        with Session(get_engine(), expire_on_commit=False) as session:
            seeded = seed_catalog(session)
        yield seeded
        dispose_engines()
    reset_settings()


class Client:
    """A calling system: one NATS connection, requests in the wire format."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc

    async def list(self) -> dict[str, Any]:
        return await request(self.nc, f"{NS}.get_mlops_module_list", timeout=WAIT)

    async def data(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return await request(self.nc, f"{NS}.get_mlops_module_data", *args, timeout=WAIT, **kwargs)

    async def raw(self, subject: str, body: bytes) -> dict[str, Any]:
        reply: dict[str, Any] = orjson.loads(
            (await self.nc.request(f"{NS}.{subject}", body, timeout=WAIT)).data
        )
        return reply


def with_responder(catalog: Seeded, server: Any, body: Callable[[Client], Awaitable[None]]) -> None:
    async def scenario() -> None:
        async with build_responder():
            nc = await server.connect_client()
            try:
                await body(Client(nc))
            finally:
                await nc.close()

    run(scenario)


def test_module_list(catalog: Seeded, nats_server) -> None:  # type: ignore[no-untyped-def]
    async def body(c: Client) -> None:
        reply = await c.list()
        assert reply["success"] is True
        modules = reply["result"]
        assert [m["display_name"] for m in modules] == ["Datasets", "Training jobs", "Servings", "Models"]
        assert sum(len(m["children"]) for m in modules) == 24
        assert modules[0]["children"][0] == {"name": "anomaly_detection", "display_name": "Anomaly detection"}

    with_responder(catalog, nats_server, body)


def test_module_data_pages_for_the_team(catalog: Seeded, nats_server) -> None:  # type: ignore[no-untyped-def]
    alice = {"username": "alice"}

    async def body(c: Client) -> None:
        first = await c.data("datasets", "anomaly_detection", 1, 4, catalog.team_a, alice)
        second = await c.data(
            module="datasets",
            child_module="anomaly_detection",
            page=2,
            page_size=4,
            group_id=catalog.team_a,
            actor_context=alice,
        )
        assert first["success"] and second["success"]
        assert first["result"]["count"] == second["result"]["count"] == 7
        names = [i["name"] for i in first["result"]["items"] + second["result"]["items"]]
        assert names == [f"ds-{i:03d}" for i in range(7)]
        jobs = await c.data("training_jobs", "anomaly_detection", 1, 10, catalog.team_a, alice)
        assert [i["name"] for i in jobs["result"]["items"]] == ["job-1"]

    with_responder(catalog, nats_server, body)


def test_page_size_is_clamped_to_the_setting(  # type: ignore[no-untyped-def]
    catalog: Seeded, nats_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_NATS_MAX_PAGE_SIZE", "2")
    reset_settings()

    async def body(c: Client) -> None:
        reply = await c.data("datasets", "anomaly_detection", 1, 500, catalog.team_a, {"username": "alice"})
        assert reply["result"]["count"] == 7
        assert len(reply["result"]["items"]) == 2

    try:
        with_responder(catalog, nats_server, body)
    finally:
        monkeypatch.delenv("MLOPS_NATS_MAX_PAGE_SIZE")
        reset_settings()


def test_other_teams_read_like_nonexistent_ones(catalog: Seeded, nats_server) -> None:  # type: ignore[no-untyped-def]
    async def body(c: Client) -> None:
        foreign = await c.data("datasets", "anomaly_detection", 1, 10, catalog.team_b, {"username": "alice"})
        missing = await c.data("datasets", "anomaly_detection", 1, 10, 4242, {"username": "alice"})
        ghost = await c.data("datasets", "anomaly_detection", 1, 10, catalog.team_a, {"username": "ghost"})
        for reply in (foreign, missing, ghost):
            assert reply["success"] is False
            assert "b-ds" not in reply["error"] and "ds-0" not in reply["error"]
        assert foreign["error"].replace(str(catalog.team_b), "N") == missing["error"].replace("4242", "N")
        assert ghost["error"].replace(str(catalog.team_a), "N") == missing["error"].replace("4242", "N")
        narrowed = await c.data(
            "datasets",
            "anomaly_detection",
            1,
            10,
            catalog.team_b,
            {"username": "bob", "team_ids": [catalog.team_a]},
        )
        assert narrowed["success"] is False
        bob = await c.data("datasets", "anomaly_detection", 1, 10, catalog.team_b, {"username": "bob"})
        root = await c.data("datasets", "anomaly_detection", 1, 10, catalog.team_b, {"username": "root"})
        assert bob["result"]["count"] == root["result"]["count"] == 3

    with_responder(catalog, nats_server, body)


def test_include_children_answers_the_subtree_only(catalog: Seeded, nats_server) -> None:  # type: ignore[no-untyped-def]
    """n-root ─┬─ n-left ── n-leaf
    └─ n-right      nina maintains n-left (her role reaches its sub-teams)."""
    from catalog.models import Dataset
    from catalog.scoping import SYSTEM
    from catalog.services import team_tree
    from catalog.services import teams as teams_service

    with Session(get_engine(), expire_on_commit=False) as session:
        top = team_tree.create_team(session, actor=SYSTEM, name="n-root")
        left = team_tree.create_team(session, actor=SYSTEM, name="n-left", parent_id=top.id)
        leaf = team_tree.create_team(session, actor=SYSTEM, name="n-leaf", parent_id=left.id)
        right = team_tree.create_team(session, actor=SYSTEM, name="n-right", parent_id=top.id)
        for team in (top, left, leaf, right):
            session.add(Dataset(team_id=team.id, scenario="anomaly_detection", name=f"{team.name}-ds"))
        nina = teams_service.create_user(session, actor=SYSTEM, username="nina", password="nina-pass-1")
        teams_service.add_member(session, actor=SYSTEM, team_id=left.id, user_id=nina.id, role="maintainer")  # type: ignore[arg-type]
        session.commit()

    def names(reply: dict[str, Any]) -> list[str]:
        assert reply["success"] is True, reply
        assert reply["result"]["count"] == len(reply["result"]["items"])
        return [i["name"] for i in reply["result"]["items"]]

    async def body(c: Client) -> None:
        nina, root = {"username": "nina"}, {"username": "root"}
        subtree = await c.data("datasets", "anomaly_detection", 1, 50, left.id, nina, include_children=True)
        assert names(subtree) == ["n-leaf-ds", "n-left-ds"]
        alone = await c.data("datasets", "anomaly_detection", 1, 50, left.id, nina, include_children=False)
        assert names(alone) == ["n-left-ds"]
        assert names(await c.data("datasets", "anomaly_detection", 1, 50, left.id, nina)) == ["n-left-ds"]
        # Her team's parent and sibling read like teams that do not exist, with children or without.
        missing = await c.data("datasets", "anomaly_detection", 1, 50, 4242, nina, include_children=True)
        for team in (top.id, right.id):
            refused = await c.data("datasets", "anomaly_detection", 1, 50, team, nina, include_children=True)
            assert refused["success"] is False and "n-" not in refused["error"]
            assert refused["error"].replace(str(team), "N") == missing["error"].replace("4242", "N")
        everything = await c.data("datasets", "anomaly_detection", 1, 50, top.id, root, include_children=True)
        assert names(everything) == ["n-leaf-ds", "n-left-ds", "n-right-ds", "n-root-ds"]
        bad = await c.data("datasets", "anomaly_detection", 1, 50, left.id, nina, include_children="yes")
        assert bad["success"] is False and "include_children must be true or false" in bad["error"]

    with_responder(catalog, nats_server, body)


def test_models_are_a_module_scoped_like_the_others(catalog: Seeded, nats_server) -> None:  # type: ignore[no-untyped-def]
    """A team's models of a scenario, paged by name; with include_children those of the teams below it the caller
    reaches (never the parent's or a sibling's); another team's read like a team that does not exist.
    m-root ─┬─ m-left ── m-leaf
            └─ m-right      mia maintains m-left."""
    from catalog.models import Model
    from catalog.scoping import SYSTEM
    from catalog.services import team_tree
    from catalog.services import teams as teams_service

    with Session(get_engine(), expire_on_commit=False) as session:
        top = team_tree.create_team(session, actor=SYSTEM, name="m-root")
        left = team_tree.create_team(session, actor=SYSTEM, name="m-left", parent_id=top.id)
        leaf = team_tree.create_team(session, actor=SYSTEM, name="m-leaf", parent_id=left.id)
        right = team_tree.create_team(session, actor=SYSTEM, name="m-right", parent_id=top.id)
        for team in (top, left, leaf, right):
            session.add(
                Model(
                    team_id=team.id,
                    scenario="timeseries_predict",
                    name=f"{team.name}-forecast",
                    mlflow_name=f"nats-{team.name}",
                )
            )
        mia = teams_service.create_user(session, actor=SYSTEM, username="mia", password="mia-pass-1")
        teams_service.add_member(session, actor=SYSTEM, team_id=left.id, user_id=mia.id, role="maintainer")  # type: ignore[arg-type]
        session.commit()

    def names(reply: dict[str, Any]) -> list[str]:
        assert reply["success"] is True, reply
        return [i["name"] for i in reply["result"]["items"]]

    async def body(c: Client) -> None:
        alice, mia = {"username": "alice"}, {"username": "mia"}
        first = await c.data("models", "anomaly_detection", 1, 1, catalog.team_a, alice)
        second = await c.data("models", "anomaly_detection", 2, 1, catalog.team_a, alice)
        assert first["result"]["count"] == second["result"]["count"] == 2
        assert names(first) + names(second) == ["model-a", "model-b"]
        assert names(await c.data("models", "log_clustering", 1, 10, catalog.team_a, alice)) == ["model-logs"]
        foreign = await c.data("models", "anomaly_detection", 1, 10, catalog.team_b, alice)
        missing = await c.data("models", "anomaly_detection", 1, 10, 4242, alice)
        assert foreign["success"] is False and "b-model" not in foreign["error"]
        assert foreign["error"].replace(str(catalog.team_b), "N") == missing["error"].replace("4242", "N")
        scn = "timeseries_predict"
        subtree = await c.data("models", scn, 1, 50, left.id, mia, include_children=True)
        assert names(subtree) == ["m-leaf-forecast", "m-left-forecast"]
        assert names(await c.data("models", scn, 1, 50, left.id, mia)) == ["m-left-forecast"]
        for team in (top.id, right.id):
            refused = await c.data("models", scn, 1, 50, team, mia, include_children=True)
            assert refused["success"] is False and "forecast" not in refused["error"]

    with_responder(catalog, nats_server, body)


@pytest.mark.parametrize(
    ("subject", "body", "fragment"),
    [
        ("get_mlops_module_data", b"{oops", "not valid JSON"),
        ("get_mlops_module_data", b'{"args": {"module": "datasets"}}', '"args" must be a JSON array'),
        (
            "get_mlops_module_data",
            b'{"args": ["datasets", "anomaly_detection", "1", 10, 1, {"username": "a"}]}',
            "page must be an integer",
        ),
        (
            "get_mlops_module_data",
            b'{"args": ["recipes", "anomaly_detection", 1, 10, 1, {"username": "a"}]}',
            "unknown module",
        ),
        (
            "get_mlops_module_data",
            b'{"args": ["datasets", "cooking", 1, 10, 1, {"username": "a"}]}',
            "unknown child module",
        ),
        (
            "get_mlops_module_data",
            b'{"args": ["datasets", "anomaly_detection", 1, 10, 1, "alice"]}',
            "actor_context must be an object",
        ),
        ("get_mlops_module_data", b'{"args": []}', "bad arguments"),
        ("get_mlops_module_list", b'{"args": [1]}', "bad arguments"),
    ],
)
def test_malformed_requests_are_answered_and_harmless(  # type: ignore[no-untyped-def]
    catalog: Seeded, nats_server, subject: str, body: bytes, fragment: str
) -> None:
    async def scenario(c: Client) -> None:
        reply = await c.raw(subject, body)
        assert reply["success"] is False, reply
        assert fragment in reply["error"]
        assert (await c.list())["success"] is True  # the responder is still answering

    with_responder(catalog, nats_server, scenario)


# ---------------------------------------------------------------- started with the platform


@pytest.mark.slow
@pytest.mark.platform_servers("nats", "prefect")
def test_deployment_server_starts_the_responder(platform_env, flow_runner: FlowRunner) -> None:  # type: ignore[no-untyped-def]
    """`mlops up` runs flows/serve_all.py: it must start the responder flow without anyone asking."""
    from catalog.services.init import initialize

    initialize(admin_password="nats-pass-123", echo=lambda *a, **k: None)
    flow_runner.start(PREFECT_RUNNER_POLL_FREQUENCY="1")

    async def answered() -> dict[str, Any]:
        nats_settings = platform_env.nats
        nc = await nats.connect(
            nats_settings.url,
            user=nats_settings.client_user,
            password=nats_settings.client_password,
            inbox_prefix=nats_settings.client_inbox_prefix.encode(),
        )
        try:
            # Each attempt waits up to 2 s for a reply: the flow run starts within the runner's poll period.
            for _ in range(60):
                try:
                    return await request(
                        nc, f"{platform_env.nats.namespace}.get_mlops_module_list", timeout=2
                    )
                except nats.errors.NoRespondersError:
                    await asyncio.sleep(0.5)
                except nats.errors.TimeoutError:
                    continue
            raise AssertionError("no responder came up:\n" + flow_runner.log())
        finally:
            await nc.close()

    reply = run(answered)
    assert reply["success"] is True and len(reply["result"]) == 4
