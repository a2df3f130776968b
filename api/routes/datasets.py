"""Datasets and their entries: create, list (paged, searchable), show; entries uploaded as a stream straight
to the object store, listed, flagged for splits and downloaded as a stream."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from api.deps import ActorDep, IdPath, SessionDep, TeamFilter, team_for_create
from api.downloads import download_responses, streamed
from api.errors import ApiError, catalog_status, error_response
from api.paging import Page, PageDep
from api.uploads import receive_entry
from catalog.db import session_scope
from catalog.errors import CatalogError
from catalog.models import Dataset, DatasetEntry
from catalog.scenarios import Scenario
from catalog.services import datasets as datasets_service
from catalog.uploads import UploadTooLarge
from infra.objectstore_types import ObjectStoreError
from mlops_lite.schemas.common import ErrorBody
from mlops_lite.schemas.datasets import CreateDataset, DatasetOut, EntryFlags, EntryOut

log = logging.getLogger("mlops.api.datasets")

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
    teams: TeamFilter,
    scenario: Annotated[Scenario | None, Query()] = None,
) -> Page[DatasetOut]:
    total, rows = datasets_service.list_datasets(
        session,
        actor=actor,
        scenario=scenario.value if scenario else None,
        team_id=teams.team_id,
        include_children=teams.include_children,
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


@router.get("/datasets/{dataset_id:int}", response_model=DatasetOut, summary="Show a dataset")
def get_dataset(dataset_id: IdPath, actor: ActorDep, session: SessionDep) -> Dataset:
    return datasets_service.get_dataset(session, actor=actor, dataset_id=dataset_id)


# -- entries ---------------------------------------------------------------------------------------------

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file itself, as the raw body (not a form). At most MLOPS_UPLOAD_MAX_BYTES.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
_UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Content-Length is not a number."},
    404: {"model": ErrorBody, "description": "No such dataset (or another team's)."},
    413: {
        "model": ErrorBody,
        "description": "Over MLOPS_UPLOAD_MAX_BYTES; the rest of the body is not read.",
    },
    409: {
        "model": ErrorBody,
        "description": "quota_exceeded: it would exceed a stored-bytes quota of the dataset's team (the message "
        "names it and its use); nothing is stored.",
    },
    415: {"model": ErrorBody, "description": "The body is not application/octet-stream."},
    422: {"model": ErrorBody, "description": "The file is not valid for the dataset's scenario."},
    503: {"model": ErrorBody, "description": "The object store did not answer."},
}


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise ApiError(400, "Content-Length is not a number")
    return int(value)


@router.post(
    "/datasets/{dataset_id:int}/entries",
    response_model=EntryOut,
    status_code=201,
    summary="Upload a file as a new entry (streamed)",
    openapi_extra=_UPLOAD_BODY,
    responses=_UPLOAD_ERRORS,
)
async def upload_entry(
    dataset_id: IdPath,
    request: Request,
    actor: ActorDep,
    filename: Annotated[str, Query(min_length=1, max_length=300, description="The file's name.")],
    train: Annotated[bool, Query(description="Flag the entry for the train split.")] = True,
    val: Annotated[bool, Query(description="Flag the entry for the validation split.")] = False,
    test: Annotated[bool, Query(description="Flag the entry for the test split.")] = False,
) -> Any:
    """The body is the file: validated for the dataset's scenario and stored as it arrives (see
    ``api.uploads``). A refused upload stores nothing."""
    read_all = False
    timings: dict[str, float] = {}

    async def body() -> Any:
        nonlocal read_all
        async for chunk in request.stream():
            yield chunk
        read_all = True

    try:
        entry = await receive_entry(
            body(),
            actor=actor,
            dataset_id=dataset_id,
            filename=filename,
            content_type=request.headers.get("content-type", ""),
            declared=_declared_length(request),
            is_train=train,
            is_val=val,
            is_test=test,
            timings=timings,
        )
    except ClientDisconnect:
        log.info("upload into dataset %s abandoned by the client", dataset_id)
        return Response(status_code=400)
    except (ApiError, CatalogError, ObjectStoreError) as exc:
        # A body not read to its end cannot be followed by another request on this connection.
        headers = None if read_all else {"Connection": "close"}
        if isinstance(exc, ApiError):
            return error_response(exc.status, exc.message, exc.code, headers)
        if isinstance(exc, ObjectStoreError):
            log.warning("upload into dataset %s: %s", dataset_id, exc)
            return error_response(503, f"the object store failed: {exc}", "unavailable", headers)
        status, code = (413, "payload_too_large") if isinstance(exc, UploadTooLarge) else catalog_status(exc)
        return error_response(status, str(exc), code, headers)
    # Where the time went (benchmarks/api.py reads it): a standard header, shown by browsers' tools too.
    server_timing = ", ".join(f"{step};dur={seconds * 1000:.1f}" for step, seconds in timings.items())
    return JSONResponse(
        EntryOut.model_validate(entry).model_dump(mode="json"),
        status_code=201,
        headers={"Server-Timing": server_timing},
    )


@router.get(
    "/datasets/{dataset_id:int}/entries", response_model=Page[EntryOut], summary="List a dataset's entries"
)
def list_entries(dataset_id: IdPath, actor: ActorDep, session: SessionDep, paging: PageDep) -> Page[EntryOut]:
    total, rows = datasets_service.page_entries(
        session, actor=actor, dataset_id=dataset_id, search=paging.q, offset=paging.offset, limit=paging.limit
    )
    return Page(
        items=[EntryOut.model_validate(r) for r in rows],
        total=total,
        offset=paging.offset,
        limit=paging.limit,
    )


@router.get("/entries/{entry_id:int}", response_model=EntryOut, summary="Show an entry")
def get_entry(entry_id: IdPath, actor: ActorDep, session: SessionDep) -> DatasetEntry:
    return datasets_service.get_entry(session, actor=actor, entry_id=entry_id)


@router.patch("/entries/{entry_id:int}", response_model=EntryOut, summary="Set an entry's split flags")
def set_entry_flags(entry_id: IdPath, body: EntryFlags, actor: ActorDep, session: SessionDep) -> DatasetEntry:
    return datasets_service.set_entry_flags(
        session,
        actor=actor,
        entry_id=entry_id,
        is_train=body.train,
        is_val=body.val,
        is_test=body.test,
    )


@router.get(
    "/entries/{entry_id:int}/download",
    summary="Download an entry's file (streamed)",
    response_class=Response,
    responses=download_responses("application/octet-stream"),
)
def download_entry(entry_id: IdPath, actor: ActorDep) -> Response:
    # Its own short transaction: no database session stays open while the file streams.
    with session_scope() as session:
        entry = datasets_service.get_entry(session, actor=actor, entry_id=entry_id)
    return streamed(
        entry.object_key,
        size=entry.size_bytes,
        sha256=entry.sha256,
        filename=entry.name,
        media_type="application/octet-stream",  # the entry's own type is in its row (content_type)
    )
