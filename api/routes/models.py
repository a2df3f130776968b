"""Models: create, list (paged; scenario, search and team filters as the other lists), show, configure the
promotion gate; their versions (paged, newest first) and one version; lineage both ways (a version → run → job
→ release → entries → dataset, and a release → the versions trained on it and their servings).

Promotion, evaluations, rollback and aliases: ``api.routes.model_aliases``. Every read goes through
``catalog.services.models`` / ``model_lineage`` (scoped: another team's model is the same 404 as a missing one).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import ActorDep, IdPath, SessionDep, TeamFilter, team_for_create
from api.paging import Page, PageDep, WindowDep
from catalog.model_gate import ALIASES
from catalog.models import Model, ModelVersion
from catalog.scenarios import Scenario
from catalog.services import model_lineage
from catalog.services import models as models_service
from mlops_lite.schemas.models import (
    CreateModel,
    ModelOut,
    ReleaseLineage,
    UpdateModel,
    VersionLineage,
    VersionOut,
)

router = APIRouter(tags=["models"])

VersionPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The version's number (MLflow's).")]
# Fields of the gate that a PATCH given as null clears (catalog.services.models.configure_gate).
_CLEARABLE = ("metric", "threshold", "evaluation_release_id")


def model_out(model: Model) -> ModelOut:
    return ModelOut.model_validate(model)


def version_out(model: Model, version: ModelVersion) -> VersionOut:
    aliases = [a for a in ALIASES if getattr(model, f"{a}_version") == version.version]
    return VersionOut.model_validate(version).model_copy(update={"aliases": aliases})


@router.get("/models", response_model=Page[ModelOut], summary="List models")
def list_models(
    actor: ActorDep,
    session: SessionDep,
    paging: PageDep,
    teams: TeamFilter,
    scenario: Annotated[Scenario | None, Query()] = None,
) -> Page[ModelOut]:
    """Newest first; ``q`` searches names."""
    total, rows = models_service.list_models(
        session,
        actor=actor,
        scenario=scenario.value if scenario else None,
        search=paging.q,
        team_id=teams.team_id,
        include_children=teams.include_children,
        offset=paging.offset,
        limit=paging.limit,
    )
    return Page(items=[model_out(r) for r in rows], total=total, offset=paging.offset, limit=paging.limit)


@router.post("/models", response_model=ModelOut, status_code=201, summary="Create a model")
def create_model(body: CreateModel, actor: ActorDep, session: SessionDep) -> ModelOut:
    """A model several training jobs may feed (``model`` of a job's creation); a job names none by default and
    feeds the model named after it."""
    model = models_service.create_model(
        session,
        actor=actor,
        team_id=team_for_create(actor, body.team_id),
        name=body.name,
        scenario=body.scenario,
        description=body.description,
    )
    return model_out(model)


@router.get("/models/{model_id:int}", response_model=ModelOut, summary="Show a model")
def get_model(model_id: IdPath, actor: ActorDep, session: SessionDep) -> ModelOut:
    return model_out(models_service.get_model(session, actor=actor, model_id=model_id))


@router.patch("/models/{model_id:int}", response_model=ModelOut, summary="Configure a model's promotion gate")
def update_model(model_id: IdPath, body: UpdateModel, actor: ActorDep, session: SessionDep) -> ModelOut:
    """The gate's metric, threshold, tolerance and evaluation release, and the description (``models:manage``);
    only the fields given change, and ``metric``, ``threshold`` and ``evaluation_release_id`` given as null are
    cleared. A metric of another scenario, a release not published or of another team or scenario: 422, nothing
    changed."""
    given = body.model_fields_set
    model = models_service.configure_gate(
        session,
        actor=actor,
        model_id=model_id,
        metric=body.metric,
        threshold=body.threshold,
        tolerance=body.tolerance if "tolerance" in given else None,
        evaluation_release_id=body.evaluation_release_id,
        description=body.description if "description" in given else None,
        clear=[name for name in _CLEARABLE if name in given and getattr(body, name) is None],
    )
    return model_out(model)


@router.get(
    "/models/{model_id:int}/versions", response_model=Page[VersionOut], summary="List a model's versions"
)
def list_versions(
    model_id: IdPath, actor: ActorDep, session: SessionDep, window: WindowDep
) -> Page[VersionOut]:
    """Newest first, with the aliases pointing at each."""
    model = models_service.get_model(session, actor=actor, model_id=model_id)
    total, rows = models_service.list_versions(
        session, actor=actor, model_id=model_id, offset=window.offset, limit=window.limit
    )
    return Page(
        items=[version_out(model, r) for r in rows], total=total, offset=window.offset, limit=window.limit
    )


@router.get(
    "/models/{model_id:int}/versions/{version:int}", response_model=VersionOut, summary="Show a model version"
)
def get_version(model_id: IdPath, version: VersionPath, actor: ActorDep, session: SessionDep) -> VersionOut:
    row = models_service.get_version(session, actor=actor, model_id=model_id, version=version)
    return version_out(models_service.get_model(session, actor=actor, model_id=model_id), row)


@router.get(
    "/models/{model_id:int}/versions/{version:int}/lineage",
    response_model=VersionLineage,
    summary="A version's lineage",
)
def version_lineage(
    model_id: IdPath, version: VersionPath, actor: ActorDep, session: SessionDep
) -> VersionLineage:
    """Run (status, metrics, params) → job (algorithm, params, image) → release (version, sha256) → entries
    (names, sha256, splits) → dataset; the gate's evaluations of the version and the servings answering with
    it."""
    found = model_lineage.version_lineage(session, actor=actor, model_id=model_id, version=version)
    return VersionLineage.model_validate(found)


@router.get(
    "/releases/{release_id:int}/lineage",
    response_model=ReleaseLineage,
    summary="What was built from a release",
)
def release_lineage(release_id: IdPath, actor: ActorDep, session: SessionDep) -> ReleaseLineage:
    """The versions of the models you may read trained on the release, and the servings serving them."""
    return ReleaseLineage.model_validate(
        model_lineage.release_lineage(session, actor=actor, release_id=release_id)
    )
