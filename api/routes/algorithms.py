"""The algorithm catalog (global, not team-owned): listed (by scenario, enabled or not, searched by name, paged
like the dashboard's list), shown in full (the form of its parameters and its search space), enabled and
disabled by administrators (disabling is refused while a training job of it is starting or running)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import ActorDep, AdminDep, SessionDep
from api.paging import Page, PageDep
from catalog.models import AlgorithmConfig
from catalog.scenarios import Scenario
from catalog.services import algorithms as algorithms_service
from mlops_lite.schemas.algorithms import AlgorithmDetail, AlgorithmOut

router = APIRouter(tags=["algorithms"])

ScenarioPath = Annotated[Scenario, Path(description="The algorithm's scenario, e.g. anomaly_detection.")]
NamePath = Annotated[str, Path(min_length=1, max_length=100, description="The algorithm's name, e.g. ECOD.")]


@router.get("/algorithms", response_model=Page[AlgorithmOut], summary="List algorithms")
def list_algorithms(
    actor: ActorDep,
    session: SessionDep,
    paging: PageDep,
    scenario: Annotated[Scenario | None, Query(description="Only this scenario's algorithms.")] = None,
    enabled: Annotated[bool | None, Query(description="true: enabled only; false: disabled only.")] = None,
) -> Page[AlgorithmOut]:
    """By scenario, then name; ``q`` searches names and display names. The catalog is a few rows per
    scenario, so it is read whole and paged here."""
    rows = algorithms_service.list_algorithms(
        session, scenario=scenario.value if scenario else None, enabled_only=enabled is True
    )
    if enabled is False:
        rows = [r for r in rows if not r.enabled]
    if paging.q:
        needle = paging.q.casefold()
        rows = [r for r in rows if needle in r.name.casefold() or needle in r.display_name.casefold()]
    shown = rows[paging.offset : paging.offset + paging.limit]
    return Page(
        items=[AlgorithmOut.model_validate(r) for r in shown],
        total=len(rows),
        offset=paging.offset,
        limit=paging.limit,
    )


@router.get("/algorithms/{scenario}/{name}", response_model=AlgorithmDetail, summary="Show an algorithm")
def get_algorithm(
    scenario: ScenarioPath, name: NamePath, actor: ActorDep, session: SessionDep
) -> AlgorithmConfig:
    return algorithms_service.get_algorithm(session, scenario=scenario.value, name=name)


@router.post(
    "/algorithms/{scenario}/{name}/enable",
    response_model=AlgorithmDetail,
    summary="Enable an algorithm (administrators)",
)
def enable_algorithm(
    scenario: ScenarioPath, name: NamePath, actor: AdminDep, session: SessionDep
) -> AlgorithmConfig:
    """New training jobs may use it again."""
    return algorithms_service.set_enabled(
        session, actor=actor, scenario=scenario.value, name=name, enabled=True
    )


@router.post(
    "/algorithms/{scenario}/{name}/disable",
    response_model=AlgorithmDetail,
    summary="Disable an algorithm (administrators)",
)
def disable_algorithm(
    scenario: ScenarioPath, name: NamePath, actor: AdminDep, session: SessionDep
) -> AlgorithmConfig:
    """Refused (409, naming the jobs) while a training job of it is starting or running."""
    return algorithms_service.set_enabled(
        session, actor=actor, scenario=scenario.value, name=name, enabled=False
    )
