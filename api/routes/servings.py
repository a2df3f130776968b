"""Servings: create (and start), list (paged, searchable, filtered as the dashboard's), show with the live state,
update, the lifecycle flows (start, stop, remove, delete: launched as the dashboard and the CLI launch them),
their progress, the serving's inference token, and predict through the platform (``api.predict_proxy``).

Every read goes through ``catalog.services.serving`` (scoped: another team's serving is the same 404 as a
missing one). Live state comes from the runtime (``tasks.serving.observe_now``, one batched call per list page);
``tasks`` modules are imported by the endpoints that use them (see ``api.predict_proxy``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session

from api import predict_proxy
from api.deps import ActorDep, IdPath, SessionDep, TeamFilter, team_for_create
from api.errors import ApiError
from api.launching import RowView, launch, progress
from api.paging import Page, PageDep
from catalog.db import read_session, session_scope
from catalog.errors import NotFoundError
from catalog.models import Serving
from catalog.scenarios import Scenario
from catalog.scoping import Actor
from catalog.services import serving as serving_service
from flows.launch import PrefectUnreachable, check_reachable
from mlops_lite.schemas.common import ErrorBody
from mlops_lite.schemas.runs import Launch, Progress
from mlops_lite.schemas.servings import (
    PREDICT_REQUEST_SCHEMA,
    CreateServing,
    InferenceToken,
    ServingChange,
    ServingOut,
    UpdateServing,
)

router = APIRouter(tags=["servings"], lifespan=predict_proxy.lifespan)

ObservedState = Annotated[
    str | None,
    Query(
        max_length=20,
        pattern="^[a-z_]+$",
        description="Only servings last seen in this state (running, exited, failed, not_found, ...).",
    ),
]


def _live(serving_ids: list[int]) -> None:
    """Ask the runtime about these servings now and write what it says back (stale marks when it cannot)."""
    from tasks.serving import observe_now

    if serving_ids:
        observe_now(serving_ids)


def _out(serving: Serving) -> ServingOut:
    return ServingOut.model_validate(serving)


def _read(actor: Actor, serving_id: int) -> Serving:
    """The serving, read without the write lock: these endpoints write only through the runtime observation
    (its own transaction, which a lock held by the request would block on SQLite) or not at all."""
    with read_session() as session:
        serving = serving_service.get_serving(session, actor=actor, serving_id=serving_id)
        session.expunge(serving)  # kept as read: the read session's rollback would expire it
        return serving


def _require_prefect() -> None:
    """Before a change a flow must apply is stored: a Prefect server that does not answer is a 503 (as
    ``api.launching.launch`` reports it) and nothing is stored."""
    try:
        check_reachable()
    except PrefectUnreachable as exc:
        raise ApiError(503, str(exc), "unavailable") from None


def _launch(session: Session, flow: str, serving_id: int) -> Launch:
    # Committed first: the flow runs in another process and reads the serving as this request left it.
    session.commit()
    return launch(flow, {"serving_id": serving_id})


@router.post(
    "/servings", response_model=ServingChange, status_code=201, summary="Create a serving (and start it)"
)
def create_serving(body: CreateServing, actor: ActorDep, session: SessionDep) -> ServingChange:
    """A serving of a model (``model_id``: its version named by ``model_version``, e.g. 'champion', which it
    then follows) or of a training job's model (``train_job_id``); exactly one of them."""
    if body.start:
        _require_prefect()
    serving = serving_service.create_serving(
        session,
        actor=actor,
        team_id=team_for_create(actor, body.team_id),
        name=body.name,
        train_job_id=body.train_job_id,
        model_id=body.model_id,
        model_version=body.model_version,
        port=body.port,
        start=body.start,  # claims its place in the team's quotas (409 quota_exceeded: nothing stored)
    )
    launched = _launch(session, "serving-start", serving.id) if body.start else None  # type: ignore[arg-type]
    return ServingChange(serving=_out(serving), launch=launched)


@router.get("/servings", response_model=Page[ServingOut], summary="List servings")
def list_servings(
    actor: ActorDep,
    paging: PageDep,
    teams: TeamFilter,
    scenario: Annotated[Scenario | None, Query()] = None,
    observed_state: ObservedState = None,
    failed: Annotated[bool, Query(description="Only servings whose last lifecycle step failed.")] = False,
    live: Annotated[
        bool,
        Query(description="Ask the runtime for the page's states now (one call), as the dashboard does."),
    ] = True,
) -> Page[ServingOut]:
    def fetch() -> tuple[int, list[Serving]]:
        with read_session() as session:
            found = serving_service.list_servings(
                session,
                actor=actor,
                scenario=scenario.value if scenario else None,
                search=paging.q,
                observed_state=observed_state,
                failed=failed,
                team_id=teams.team_id,
                include_children=teams.include_children,
                offset=paging.offset,
                limit=paging.limit,
            )
            session.expunge_all()
            return found

    total, rows = fetch()
    if live and rows:
        _live([r.id for r in rows if r.id is not None])
        total, rows = fetch()
    return Page(items=[_out(r) for r in rows], total=total, offset=paging.offset, limit=paging.limit)


@router.get("/servings/{serving_id:int}", response_model=ServingOut, summary="Show a serving, its live state")
def get_serving(serving_id: IdPath, actor: ActorDep) -> ServingOut:
    """The serving with its state asked of the runtime now; while it runs, its own URL and whether its model is
    loaded (``ready``)."""
    _read(actor, serving_id)
    _live([serving_id])
    serving = _read(actor, serving_id)
    out = _out(serving)
    if serving.observed_state == "running":
        from tasks.predict import PredictError, model_ready, upstream

        try:
            out.url = upstream(serving)[0]
        except PredictError:
            out.url = None  # gone since it was observed
        out.ready = out.url is not None and model_ready(actor=actor, serving_id=serving_id)
    return out


@router.patch("/servings/{serving_id:int}", response_model=ServingChange, summary="Update a serving")
def update_serving(
    serving_id: IdPath, body: UpdateServing, actor: ActorDep, session: SessionDep
) -> ServingChange:
    """Change the model version (a number, 'latest' or an alias), the model or training job, or the port. A
    running serving restarts to apply it (the serving-restart flow, in ``launch``); Prefect is asked first, so
    a change is not saved that nothing could apply (503)."""
    if _read(actor, serving_id).desired_state == "running":  # read before this request takes the write lock
        _require_prefect()
    serving, restart = serving_service.update_serving(
        session,
        actor=actor,
        serving_id=serving_id,
        model_version=body.model_version,
        train_job_id=body.train_job_id,
        model_id=body.model_id,
        port=body.port,
        clear_port=body.any_port,
    )
    launched = _launch(session, "serving-restart", serving_id) if restart else None
    return ServingChange(serving=_out(serving), launch=launched)


def _lifecycle(flow: str, serving_id: int, actor: Actor) -> Launch:
    # Scoped (another team's serving is a 404), servings:manage (403), and a start checked against the team's
    # quotas (409 quota_exceeded): refused before anything is launched.
    with session_scope() as session:
        serving_service.request_lifecycle(
            session, actor=actor, serving_id=serving_id, action=flow.removeprefix("serving-")
        )
    return launch(flow, {"serving_id": serving_id})


@router.post(
    "/servings/{serving_id:int}/start", response_model=Launch, status_code=202, summary="Start a serving"
)
def start_serving(serving_id: IdPath, actor: ActorDep) -> Launch:
    """Launch (or adopt) its inference server and wait, in the flow, until its model is loaded."""
    return _lifecycle("serving-start", serving_id, actor)


@router.post(
    "/servings/{serving_id:int}/stop", response_model=Launch, status_code=202, summary="Stop a serving"
)
def stop_serving(serving_id: IdPath, actor: ActorDep) -> Launch:
    """Stop its server gracefully and delete the container; the record stays (start brings it back)."""
    return _lifecycle("serving-stop", serving_id, actor)


@router.post(
    "/servings/{serving_id:int}/remove",
    response_model=Launch,
    status_code=202,
    summary="Remove a serving's container",
)
def remove_serving(serving_id: IdPath, actor: ActorDep) -> Launch:
    """Force-delete the container, even while it runs; the record stays."""
    return _lifecycle("serving-remove", serving_id, actor)


@router.delete(
    "/servings/{serving_id:int}", response_model=Launch, status_code=202, summary="Delete a serving"
)
def delete_serving(serving_id: IdPath, actor: ActorDep) -> Launch:
    """Delete the container, then the record (kept when the container could not be removed)."""
    return _lifecycle("serving-delete", serving_id, actor)


@router.get(
    "/servings/{serving_id:int}/progress", response_model=Progress, summary="Follow a serving's flow run"
)
def serving_progress(
    serving_id: IdPath,
    actor: ActorDep,
    flow_run_id: Annotated[str, Query(min_length=1, max_length=64, description="The launch's flow run id.")],
) -> Progress:
    """The flow run's state beside the serving's observed state and error. A serving the run deleted (gone for
    everyone) reads ``status`` null, for the holder of the run's id; another team's serving is a 404, as a
    missing one (both ask Prefect first, so they also fail alike while it is down)."""
    with read_session() as session:
        try:
            serving: Serving | None = serving_service.get_serving(session, actor=actor, serving_id=serving_id)
            session.expunge(serving)
        except NotFoundError:
            serving = None
        exists = serving is not None or session.get(Serving, serving_id) is not None
    try:
        seen = progress(
            flow_run_id,
            expect={"serving_id": serving_id},
            read_row=lambda: _row_view(actor, serving_id),
        )
    except ApiError as exc:
        if serving is None and exc.status == 404:
            raise NotFoundError("serving", serving_id) from None  # as any missing serving reads
        raise
    if serving is None and (seen.flow_state is None or exists):
        raise NotFoundError("serving", serving_id)  # no run of it, or another team's serving
    return seen


def _row_view(actor: Actor, serving_id: int) -> RowView:
    """The serving's state as it is now (after the flow run was read: ``api.launching.progress``); a serving
    deleted meanwhile reads as gone."""
    with read_session() as session:
        try:
            serving = serving_service.get_serving(session, actor=actor, serving_id=serving_id)
        except NotFoundError:
            return None, None, None
        return serving.observed_state, None, serving.error


@router.get(
    "/servings/{serving_id:int}/token", response_model=InferenceToken, summary="The serving's inference token"
)
def serving_token(serving_id: IdPath, actor: ActorDep, response: Response) -> InferenceToken:
    """The bearer token the serving's own server requires, for callers reaching it directly (on the serving
    host's network); through the platform, POST /servings/{id}/predict needs only your API token."""
    with read_session() as session:  # servings:manage: who may change the serving may call it directly
        token = serving_service.token_for(session, actor=actor, serving_id=serving_id)
    response.headers["Cache-Control"] = "no-store"
    return InferenceToken(serving_id=serving_id, token=token)


PREDICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The serving's answer, as its scenario's contract declares it.",
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
    },
    409: {"model": ErrorBody, "description": "The serving is not running."},
    413: {"model": ErrorBody, "description": "Over a MLOPS_PREDICT_* limit (the message names it)."},
    415: {"model": ErrorBody, "description": "The body is not application/json."},
    422: {"model": ErrorBody, "description": "Not the scenario's request (details per field)."},
    502: {"model": ErrorBody, "description": "The serving failed."},
    503: {"model": ErrorBody, "description": "The serving does not answer, or is still loading its model."},
    504: {"model": ErrorBody, "description": "No answer within MLOPS_API_PROXY_TIMEOUT_SECONDS."},
}


@router.post(
    "/servings/{serving_id:int}/predict",
    summary="Predict with a serving",
    response_class=Response,
    responses=PREDICT_RESPONSES,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": PREDICT_REQUEST_SCHEMA}}}
    },
)
async def predict(serving_id: IdPath, request: Request, actor: ActorDep) -> Response:
    """The body goes to the serving's inference server with the serving's own token (your API token is all
    you send); its answer comes back with its status."""
    return await predict_proxy.forward(request, actor=actor, serving_id=serving_id)
