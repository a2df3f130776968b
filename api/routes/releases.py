"""Dataset releases: create and publish (the publish-release flow, launched as the dashboard and the CLI
launch it), publish again, list (per dataset or all, paged), show, follow the publishing, archive, restore,
and download the zip as a stream (verified against its sha256)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlmodel import Session

from api.deps import ActorDep, IdPath, SessionDep, TeamFilter, TeamQuery
from api.downloads import download_responses, streamed
from api.errors import ApiError
from api.launching import launch, progress
from api.paging import Page, PageDep, PageParams
from catalog.db import session_scope
from catalog.models import DatasetRelease, ReleaseStatus
from catalog.scenarios import Scenario
from catalog.scoping import Actor
from catalog.services import datasets as datasets_service
from catalog.services import releases as releases_service
from flows.launch import PrefectUnreachable, check_reachable
from infra.objectstore_types import ObjectStoreError
from infra.settings import get_settings
from mlops_lite.schemas.common import ErrorBody
from mlops_lite.schemas.releases import CreateRelease, ReleaseLaunch, ReleaseLink, ReleaseOut
from mlops_lite.schemas.runs import Progress
from tasks.datasets import presigned_link

router = APIRouter(tags=["releases"])

PUBLISH_FLOW = "publish-release"
_LAUNCH_ERRORS: dict[int | str, dict[str, object]] = {
    409: {"model": ErrorBody, "description": "The release is publishing, published or archived already."},
    503: {"model": ErrorBody, "description": "Prefect does not answer: nothing was created or launched."},
}


def _prefect_answers() -> None:
    try:
        check_reachable()
    except PrefectUnreachable as exc:
        raise ApiError(503, str(exc), "unavailable") from None


def _read(actor: Actor, release_id: int) -> DatasetRelease:
    with session_scope() as session:
        return releases_service.get_release(session, actor=actor, release_id=release_id)


def _launch_publish(actor: Actor, release_id: int) -> ReleaseLaunch:
    launched = launch(PUBLISH_FLOW, {"release_id": release_id})
    return ReleaseLaunch(release=ReleaseOut.model_validate(_read(actor, release_id)), launch=launched)


@router.post(
    "/datasets/{dataset_id:int}/releases",
    response_model=ReleaseLaunch,
    status_code=201,
    summary="Create a release and publish it",
    responses=_LAUNCH_ERRORS,
)
def create_and_publish(dataset_id: IdPath, body: CreateRelease, actor: ActorDep) -> ReleaseLaunch:
    """Freeze the chosen entries (default: every flagged one) as a new release and launch its publishing;
    follow it with ``GET /releases/{id}/progress?flow_run_id=``."""
    with session_scope() as session:  # a foreign or missing dataset is a 404 whether Prefect answers or not
        datasets_service.get_dataset(session, actor=actor, dataset_id=dataset_id)
    _prefect_answers()  # before the release exists: none is left pending when nothing could publish it
    # Committed before the launch: the flow run (another process) reads the release.
    with session_scope() as session:
        release = releases_service.create_release(
            session,
            actor=actor,
            dataset_id=dataset_id,
            version=body.version,
            entry_ids=body.entry_ids,
            description=body.description,
        )
    return _launch_publish(actor, int(release.id or 0))


@router.post(
    "/releases/{release_id:int}/publish",
    response_model=ReleaseLaunch,
    summary="Publish a pending or failed release again",
    responses=_LAUNCH_ERRORS,
)
def republish(release_id: IdPath, actor: ActorDep) -> ReleaseLaunch:
    with session_scope() as session:  # releases:publish, and a pending or failed release (409 otherwise)
        releases_service.request_publish(session, actor=actor, release_id=release_id)
    _prefect_answers()
    # Two requests may both get here: the flow's claim lets one publish, the other's flow run fails on it.
    return _launch_publish(actor, release_id)


@router.get(
    "/datasets/{dataset_id:int}/releases", response_model=Page[ReleaseOut], summary="A dataset's releases"
)
def list_dataset_releases(
    dataset_id: IdPath,
    actor: ActorDep,
    session: SessionDep,
    paging: PageDep,
    status: Annotated[ReleaseStatus | None, Query()] = None,
) -> Page[ReleaseOut]:
    return _page(session, actor, paging, dataset_id=dataset_id, status=status)


@router.get("/releases", response_model=Page[ReleaseOut], summary="Releases of every dataset you see")
def list_releases(
    actor: ActorDep,
    session: SessionDep,
    paging: PageDep,
    teams: TeamFilter,
    scenario: Annotated[Scenario | None, Query()] = None,
    status: Annotated[ReleaseStatus | None, Query()] = None,
) -> Page[ReleaseOut]:
    """Newest first; ``q`` matches the version or the dataset's name."""
    return _page(
        session, actor, paging, scenario=scenario.value if scenario else None, teams=teams, status=status
    )


def _page(
    session: Session,
    actor: Actor,
    paging: PageParams,
    *,
    dataset_id: int | None = None,
    scenario: str | None = None,
    teams: TeamQuery | None = None,
    status: ReleaseStatus | None = None,
) -> Page[ReleaseOut]:
    total, rows = releases_service.page_releases(
        session,
        actor=actor,
        dataset_id=dataset_id,
        scenario=scenario,
        team_id=teams.team_id if teams else None,
        include_children=teams.include_children if teams else False,
        status=status.value if status else None,
        search=paging.q,
        offset=paging.offset,
        limit=paging.limit,
    )
    return Page(
        items=[ReleaseOut.model_validate(r) for r in rows],
        total=total,
        offset=paging.offset,
        limit=paging.limit,
    )


@router.get("/releases/{release_id:int}", response_model=ReleaseOut, summary="Show a release")
def get_release(release_id: IdPath, actor: ActorDep, session: SessionDep) -> DatasetRelease:
    return releases_service.get_release(session, actor=actor, release_id=release_id)


@router.get(
    "/releases/{release_id:int}/progress", response_model=Progress, summary="Follow a release's publishing"
)
def release_progress(
    release_id: IdPath,
    actor: ActorDep,
    flow_run_id: Annotated[str, Query(min_length=1, max_length=64, description="From the publish answer.")],
) -> Progress:
    """The flow run's state beside the release's status; 404 unless the flow run publishes this release."""
    _read(actor, release_id)  # scoping first: another team's release is a 404 before Prefect is asked

    def row() -> tuple[str | None, str | None, str | None]:
        release = _read(actor, release_id)
        return str(release.status), release.flow_run_id, release.error

    return progress(flow_run_id, expect={"release_id": release_id}, read_row=row)


@router.post(
    "/releases/{release_id:int}/archive", response_model=ReleaseOut, summary="Archive a published release"
)
def archive_release(release_id: IdPath, actor: ActorDep, session: SessionDep) -> DatasetRelease:
    """An archived release can no longer be chosen for new training jobs; it still downloads."""
    return releases_service.archive_release(session, actor=actor, release_id=release_id)


@router.post(
    "/releases/{release_id:int}/restore", response_model=ReleaseOut, summary="Restore an archived release"
)
def restore_release(release_id: IdPath, actor: ActorDep, session: SessionDep) -> DatasetRelease:
    return releases_service.restore_release(session, actor=actor, release_id=release_id)


@router.get(
    "/releases/{release_id:int}/download",
    summary="Download a release's zip (streamed)",
    response_class=Response,
    responses={
        **download_responses("application/zip"),
        422: {"model": ErrorBody, "description": "Not published."},
    },
)
def download_release(release_id: IdPath, actor: ActorDep) -> Response:
    with session_scope() as session:  # closed before the zip streams
        release = releases_service.downloadable_release(session, actor=actor, release_id=release_id)
    assert release.object_key is not None and release.sha256 is not None and release.size_bytes is not None
    return streamed(
        release.object_key,
        size=release.size_bytes,
        sha256=release.sha256,
        filename=f"release-{release.id}-{release.version}.zip",
        media_type="application/zip",
    )


@router.get(
    "/releases/{release_id:int}/link",
    response_model=ReleaseLink,
    summary="A presigned URL of a release's zip",
    responses={422: {"model": ErrorBody, "description": "Not published."}},
)
def release_link(release_id: IdPath, actor: ActorDep, session: SessionDep) -> ReleaseLink:
    """For a machine that reaches the object store itself (the URL names its endpoint); anyone holding the
    URL can fetch the zip until it expires."""
    release = releases_service.downloadable_release(session, actor=actor, release_id=release_id)
    assert release.object_key is not None and release.sha256 is not None and release.size_bytes is not None
    try:
        url = presigned_link(release.object_key)
    except ObjectStoreError as exc:
        raise ApiError(503, f"the object store failed: {exc}", "unavailable") from None
    return ReleaseLink(
        url=url,
        expires_in=get_settings().s3.presign_expiry_seconds,
        sha256=release.sha256,
        size_bytes=release.size_bytes,
    )
