"""Datasets and their entries: create, list (paged, searchable), show; entries uploaded as a stream straight
to the object store, listed, flagged for splits and downloaded as a stream."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ActorDep, IdPath, SessionDep, team_for_create
from api.paging import Page, PageDep
from catalog.models import Dataset
from catalog.scenarios import Scenario
from catalog.services import datasets as datasets_service
from mlops_lite.schemas.datasets import CreateDataset, DatasetOut

router = APIRouter(tags=["datasets"])


@router.post("/datasets", response_model=DatasetOut, status_code=201, summary="Create a dataset")
def create_dataset(body: CreateDataset, actor: ActorDep, session: SessionDep) -> Dataset:
    return datasets_service.create_dataset(
        session,
        actor=actor,
        team_id=team_for_create(actor, body.team_id),
        scenario=body.scenario,
        name=body.name,
        description=body.description,
    )


@router.get("/datasets", response_model=Page[DatasetOut], summary="List datasets")
def list_datasets(
    actor: ActorDep,
    session: SessionDep,
    paging: PageDep,
    scenario: Annotated[Scenario | None, Query()] = None,
    team_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Page[DatasetOut]:
    total, rows = datasets_service.list_datasets(
        session,
        actor=actor,
        scenario=scenario.value if scenario else None,
        team_id=team_id,
        search=paging.q,
        offset=paging.offset,
        limit=paging.limit,
    )
    return Page(
        items=[DatasetOut.model_validate(r) for r in rows],
        total=total,
        offset=paging.offset,
        limit=paging.limit,
    )


@router.get("/datasets/{dataset_id}", response_model=DatasetOut, summary="Show a dataset")
def get_dataset(dataset_id: IdPath, actor: ActorDep, session: SessionDep) -> Dataset:
    return datasets_service.get_dataset(session, actor=actor, dataset_id=dataset_id)
