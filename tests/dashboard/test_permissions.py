"""The dashboard offers what the signed-in user's role allows (``dashboard.permissions``): the decision is
``Actor.can`` on the team of the row acted on (the current team for a create form); a refused control is drawn
disabled with the services' refusal as its tooltip, and does nothing even if a click arrives; pages the user
cannot read are not in the navigation.

The pages are rendered (Streamlit AppTest, real S3 and process runtime) for a viewer, a member and a team
admin of a seeded team ``crew``, signed in with it as their current team; and for a user who is a viewer of
``crew`` but a member of its sub-team ``crew-lab`` (whose rows the team admin, a role including sub-teams,
manages too)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from catalog.permissions import BUILTIN_ROLES, TeamTree, compute_grants
from catalog.scenarios import Scenario
from catalog.scoping import Actor
from dashboard.navigation import page_sections
from dashboard.permissions import NO_TEAM, Gate, allowed, button, gate
from tests.dashboard.seed import Catalog, add_row, captions, job, no_exception, signed_in_page, tables

TREE = TeamTree({1: None, 2: 1, 3: None})  # crew, its sub-team crew-lab, and another root team
NAMES = {1: "crew", 2: "crew-lab", 3: "other"}
SERVING_CONTAINER = "serve-perm-crew"


def person(*memberships: tuple[int, str], username: str = "p") -> Actor:
    grants = compute_grants([(team, BUILTIN_ROLES[role]) for team, role in memberships], TREE)
    return Actor(user_id=7, username=username, grants=grants, tree=TREE, team_names=NAMES)


def refused(team: str, permission: str) -> str:
    return f"your role in team {team!r} does not grant {permission!r}"


# ---------------------------------------------------------------- the decision, without a database


def test_a_gate_is_actor_can_on_the_rows_team_with_the_services_refusal() -> None:
    viewer = person((1, "viewer"))
    assert gate(viewer, "jobs:read", 1) == Gate("jobs:read")
    assert gate(viewer, "jobs:start", 1) == Gate("jobs:start", refused("crew", "jobs:start"))
    # A maintainer of the parent acts on the sub-team's rows (the dashboard's actor is restricted to the
    # current team and its sub-teams), never on another root's; from the sub-team, the parent is out of reach.
    maintainer = person((1, "maintainer")).within(1)
    assert allowed(maintainer, "jobs:start", 2) and not allowed(maintainer, "jobs:start", 3)
    assert not allowed(person((1, "maintainer")).within(2), "jobs:start", 1)
    # A member's role does not reach sub-teams: the row's team decides, not the current one.
    member = person((1, "member"), (2, "viewer")).within(1)
    assert allowed(member, "jobs:start", 1)
    assert gate(member, "jobs:start", 2).refusal == refused("crew-lab", "jobs:start")
    # Nothing is created outside a team, whoever asks.
    admin = Actor(user_id=1, username="root", is_superuser=True)
    assert allowed(admin, "jobs:start", 3)
    assert (
        gate(admin, "datasets:write", None).refusal == gate(viewer, "datasets:write", None).refusal == NO_TEAM
    )


class Recorder:
    """Stands where ``st`` or a column would: records what is drawn and answers a click."""

    def __init__(self, clicked: bool) -> None:
        self.clicked = clicked
        self.drawn: list[tuple[str, str, dict[str, Any]]] = []

    def button(self, label: str, **kwargs: Any) -> bool:
        self.drawn.append(("button", label, kwargs))
        return self.clicked

    def form_submit_button(self, label: str, **kwargs: Any) -> bool:
        self.drawn.append(("submit", label, kwargs))
        return self.clicked


def test_a_refused_button_is_drawn_disabled_with_the_reason_and_a_click_does_nothing() -> None:
    no = Gate("jobs:start", refused("crew", "jobs:start"))
    where = Recorder(
        clicked=True
    )  # a click arriving anyway (a browser cannot send one for a disabled button)
    assert button("Start", no, key="k", where=where) is False
    assert where.drawn == [("button", "Start", {"key": "k", "disabled": True, "help": no.refusal})]
    yes = Gate("jobs:start")
    where = Recorder(clicked=True)
    assert button("Create", yes, where=where, submit=True, help="makes it") is True
    assert (
        button("Stop", yes, where=where, disabled=True) is True
    )  # disabled for another reason: the caller's
    assert where.drawn == [
        ("submit", "Create", {"key": None, "disabled": False, "help": "makes it"}),
        ("button", "Stop", {"key": None, "disabled": True, "help": None}),
    ]
    assert button("Start", yes, where=Recorder(clicked=False)) is False


def titles(who: Actor) -> dict[str, list[str]]:
    return {section: [title for _, title, _ in specs] for section, specs in page_sections(who).items()}


def test_navigation_lists_the_pages_the_user_can_read() -> None:
    scenarios = [s.display_name for s in Scenario]
    pages = ["Datasets", "Training", "Models", "Serving", "Sandbox"]
    viewer = titles(person((1, "viewer")))
    # A viewer reads every scenario page (read-only), but not the audit log.
    assert list(viewer) == ["", *scenarios, "Account"]
    assert all(viewer[s] == pages for s in scenarios)
    assert titles(person((1, "member")))["Team"] == ["Audit log"]
    # A role reading datasets only: the other scenario pages are not listed.
    datasets_only = Actor(user_id=7, username="d", grants={1: frozenset({"datasets:read"})})
    assert all(titles(datasets_only)[s] == ["Datasets"] for s in scenarios)
    # No team: the overview and the account, nothing else.
    assert list(titles(person())) == ["", "Account"]
    # An administrator's audit log stays in the Admin section.
    admin = titles(Actor(user_id=1, username="root", is_superuser=True))
    assert "Team" not in admin and "Audit log" in admin["Admin"]


# ---------------------------------------------------------------- the pages, signed in


@dataclass(frozen=True)
class World:
    crew: int
    lab: int
    crew_job: int
    lab_job: int
    serving: int


@pytest.fixture
def world(catalog: Catalog) -> Iterator[World]:
    """crew (val viewer, meg member, ada team admin, vic viewer) and its sub-team crew-lab (vic member): a
    dataset with an entry and a published release, a completed job and a running serving in crew, a new job
    in crew-lab."""
    from catalog.db import session_scope
    from catalog.models import DatasetRelease, Serving
    from catalog.scoping import SYSTEM
    from catalog.services import datasets, team_tree, teams
    from infra.runtime.base import ContainerKind, ContainerSpec
    from infra.runtime.registry import get_runtime

    with session_scope() as session:
        crew = team_tree.create_team(session, actor=SYSTEM, name="crew")
        lab = team_tree.create_team(session, actor=SYSTEM, name="crew-lab")
        lab.parent_id = crew.id  # as the team hierarchy's services leave a sub-team
        session.add(lab)
        for username in ("val", "vic", "meg", "ada"):
            teams.create_user(session, actor=SYSTEM, username=username, password=f"{username}-pass-123")
        for team, username, role in (
            (crew, "val", "viewer"),
            (crew, "vic", "viewer"),
            (lab, "vic", "member"),
            (crew, "meg", "member"),
            (crew, "ada", "admin"),
        ):
            teams.add_member(session, actor=SYSTEM, team_id=team.id, username=username, role=role)  # type: ignore[arg-type]
        dataset = datasets.create_dataset(
            session, actor=SYSTEM, team_id=crew.id, scenario="anomaly_detection", name="crew-data"
        )  # type: ignore[arg-type]
        datasets.add_entry(
            session,
            actor=SYSTEM,
            dataset_id=dataset.id,  # type: ignore[arg-type]
            name="a.csv",
            object_key="k/a.csv",
            size_bytes=1,
            sha256="0" * 64,
            content_type="text/csv",
            summary={},
        )
        ids = (crew.id, lab.id, dataset.id)
    crew_id, lab_id, dataset_id = ids
    release = add_row(DatasetRelease, dataset_id=dataset_id, version="v1", status="published")
    crew_job = job(crew_id, release.id, "crew-job", "completed")  # type: ignore[arg-type]
    lab_job = job(lab_id, release.id, "lab-job", "created")  # type: ignore[arg-type]
    serving = add_row(
        Serving,
        team_id=crew_id,
        scenario="anomaly_detection",
        name="crew-serving",
        train_job_id=crew_job.id,
        container_name=SERVING_CONTAINER,
    )
    runtime = get_runtime()  # "running": a process container of its name runs (it serves nothing)
    runtime.start(
        ContainerSpec(
            name=SERVING_CONTAINER,
            kind=ContainerKind.SERVE,
            port=9,
            command=[sys.executable, "-c", "import time; time.sleep(300)"],
        )
    )
    try:
        yield World(crew=crew_id, lab=lab_id, crew_job=crew_job.id, lab_job=lab_job.id, serving=serving.id)  # type: ignore[arg-type]
    finally:
        runtime.remove(SERVING_CONTAINER, force=True)


def expect(at: AppTest, label: str, may: bool, permission: str, team: str = "crew") -> None:
    """The button ``label`` is there, enabled when ``may``, else disabled with the refusal as its tooltip."""
    found = [b for b in at.button if b.label == label]
    assert len(found) == 1, (label, [b.label for b in at.button])
    assert found[0].disabled is not may, label
    if may:
        assert permission not in (found[0].help or ""), (label, found[0].help)
    else:
        assert found[0].help == refused(team, permission), (label, found[0].help)


@pytest.mark.platform_servers("s3")
@pytest.mark.parametrize(("username", "may"), [("val", False), ("meg", True), ("ada", True)])
def test_pages_offer_what_the_role_allows_on_the_current_team(world: World, username: str, may: bool) -> None:
    def open_page(module: str, scenario: str | None = "anomaly_detection") -> AppTest:
        return no_exception(signed_in_page(module, username, world.crew, scenario).run())

    at = open_page("datasets")
    for label in ("Create", "Save flags"):
        expect(at, label, may, "datasets:write")
    for label in ("Publish", "Archive"):
        expect(at, label, may, "releases:publish")
    uploader = at.get("file_uploader")[0]
    assert uploader.disabled is not may
    assert (f"🔒 Read-only: {refused('crew', 'datasets:write')}." in captions(at)) is not may

    at = open_page("training")
    at.selectbox(key="tr_pick").set_value(world.crew_job).run()
    expect(no_exception(at), "Create job", may, "jobs:write")
    expect(at, "Start", may, "jobs:start")

    at = open_page("serving")
    for label in ("Create and start", "Start", "Stop", "Remove container", "Delete", "Apply"):
        expect(at, label, may, "servings:manage")
    assert any("Bearer" in code.value for code in at.code) is may, "the inference token: to managers only"

    at = open_page("sandbox")
    at.text_area(key="sb_anomaly_paste").input("timestamp,value\n2024-01-01T00:00:00,1.5\n").run()
    expect(no_exception(at), "Predict", may, "servings:predict")

    overview = open_page("overview", None)
    assert (overview.metric[0].label, overview.metric[0].value) == ("Datasets", "1")  # crew-data

    at = open_page("audit", None)
    if may:
        assert "crew-data" in tables(at)
    else:
        assert not at.dataframe
        assert at.info[0].value == f"The audit log is not shown: {refused('crew', 'audit:read')}."


@pytest.mark.slow
@pytest.mark.platform_servers("s3", "mlflow")
def test_the_team_of_the_row_decides_not_the_current_team(world: World) -> None:
    """vic, a viewer of crew and a member of crew-lab, signed in with crew: crew's job is read-only, the
    sub-team's job may be started and its run deleted. meg (a member of crew only) does not see the sub-team's
    job; ada (crew's team admin) manages it."""
    from catalog.db import session_scope
    from catalog.models import JobRun, TrainJob
    from catalog.services import job_config
    from infra import tracking

    mlflow = tracking.client()
    experiment = tracking.ensure_experiment(mlflow, job_config.experiment_name_for("anomaly_detection"))
    for job_id in (world.crew_job, world.lab_job):
        run_id, _ = tracking.find_or_create_run(
            mlflow, experiment_id=experiment, job_id=job_id, flow_run_id=None, run_name=f"job{job_id}"
        )
        mlflow.set_terminated(run_id, "FINISHED")
        with session_scope() as session:  # as the training flow records a run
            row = session.get(TrainJob, job_id)
            assert row is not None
            row.mlflow_experiment_id, row.mlflow_run_id = experiment, run_id
            session.add(row)
            session.add(JobRun(run_id=run_id, job_id=job_id, experiment_id=experiment))

    at = no_exception(signed_in_page("training", "vic", world.crew).run())
    at.selectbox(key="tr_pick").set_value(world.crew_job).run()
    expect(no_exception(at), "Start", False, "jobs:start")
    expect(at, "Delete run", False, "jobs:write")
    at.selectbox(key="tr_pick").set_value(world.lab_job).run()
    expect(no_exception(at), "Start", True, "jobs:start", team="crew-lab")
    expect(at, "Delete run", True, "jobs:write", team="crew-lab")

    at = no_exception(signed_in_page("training", "meg", world.crew).run())
    assert "crew-job" in tables(at) and "lab-job" not in tables(at)

    at = no_exception(signed_in_page("training", "ada", world.crew).run())
    at.selectbox(key="tr_pick").set_value(world.lab_job).run()
    expect(no_exception(at), "Start", True, "jobs:start", team="crew-lab")
