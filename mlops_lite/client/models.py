"""``client.models``: models (a team's line of versions fed by training jobs), their versions, the promotion gate
and its evaluations, rollback, aliases set by hand, and lineage.

    model = client.models.find("cpu-detector")                  # by name (team_id= when several teams have one)
    asked = client.models.promote(model.id, 3)                   # the gate's flow run decides
    decided = client.models.wait_evaluation(asked.evaluation.id) # promoted, rejected (.reason) or failed
    client.models.rollback(model.id)                             # champion back to the previous one
    client.servings.create("cpu-live", model_id=model.id, model_version="champion")  # follows the champion

A training job feeds a model with ``client.jobs.create(..., model="cpu-detector", auto_promote=True)``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from mlops_lite.client.errors import Conflict, NotFound, TimedOut
from mlops_lite.client.transport import Transport, build, team_filter
from mlops_lite.schemas.common import Page
from mlops_lite.schemas.models import (
    FINAL_EVALUATION_STATUSES,
    AliasEventOut,
    CreateModel,
    EvaluationOut,
    ModelChange,
    ModelOut,
    Promote,
    PromotionLaunch,
    ReleaseLineage,
    SetAlias,
    UpdateModel,
    VersionLineage,
    VersionOut,
)
from mlops_lite.schemas.runs import Progress

_UNSET: object = object()


class Models:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def create(
        self, name: str, scenario: str, *, description: str = "", team_id: int | None = None
    ) -> ModelOut:
        body = build(CreateModel, name=name, scenario=scenario, description=description, team_id=team_id)
        return self._t.send("POST", "/models", ModelOut, body)

    def get(self, model_id: int) -> ModelOut:
        return self._t.get(f"/models/{model_id}", ModelOut)

    def find(self, name: str, *, team_id: int | None = None) -> ModelOut:
        """The model called ``name`` (exactly) among those the caller sees, or of ``team_id``: ``NotFound`` when
        there is none, ``Conflict`` when several teams have one (give ``team_id``)."""
        found = [m for m in self.list(search=name, team_id=team_id) if m.name == name]
        if not found:
            raise NotFound(f"model {name[:100]!r} not found", status=404)
        if len(found) > 1:
            raise Conflict(
                f"several of your teams have a model named {name[:100]!r}: say which team", status=409
            )
        return found[0]

    def page(
        self,
        *,
        offset: int = 0,
        limit: int = 50,
        search: str | None = None,
        scenario: str | None = None,
        team_id: int | None = None,
        include_children: bool = False,
    ) -> Page[ModelOut]:
        return self._t.page(
            "/models",
            ModelOut,
            offset=offset,
            limit=limit,
            q=search,
            scenario=scenario,
            **team_filter(team_id, include_children),
        )

    def list(
        self,
        *,
        search: str | None = None,
        scenario: str | None = None,
        team_id: int | None = None,
        include_children: bool = False,
    ) -> Iterator[ModelOut]:
        """Every model the caller sees, or of one team (``include_children``: and of the teams below it), newest
        first (pages fetched as the iteration goes)."""
        teams = team_filter(team_id, include_children)
        return self._t.pages("/models", ModelOut, q=search, scenario=scenario, **teams)

    def configure_gate(
        self,
        model_id: int,
        *,
        metric: str | None | object = _UNSET,
        threshold: float | None | object = _UNSET,
        tolerance: float | object = _UNSET,
        evaluation_release_id: int | None | object = _UNSET,
        description: str | object = _UNSET,
    ) -> ModelOut:
        """Change what is given; ``metric``, ``threshold`` and ``evaluation_release_id`` given as None are
        cleared (``models:manage``)."""
        given = {
            "metric": metric,
            "threshold": threshold,
            "tolerance": tolerance,
            "evaluation_release_id": evaluation_release_id,
            "description": description,
        }
        body = build(UpdateModel, **{k: v for k, v in given.items() if v is not _UNSET})
        return self._t.send("PATCH", f"/models/{model_id}", ModelOut, body)

    def versions(self, model_id: int, *, offset: int = 0, limit: int = 50) -> Page[VersionOut]:
        """Newest first, each with the aliases pointing at it."""
        return self._t.page(f"/models/{model_id}/versions", VersionOut, offset=offset, limit=limit)

    def version(self, model_id: int, version: int) -> VersionOut:
        return self._t.get(f"/models/{model_id}/versions/{version}", VersionOut)

    def lineage(self, model_id: int, version: int) -> VersionLineage:
        """Run → job → release → entries → dataset, the gate's evaluations and the servings answering with it."""
        return self._t.get(f"/models/{model_id}/versions/{version}/lineage", VersionLineage)

    def release_lineage(self, release_id: int) -> ReleaseLineage:
        """The model versions trained on a release, and the servings serving them."""
        return self._t.get(f"/releases/{release_id}/lineage", ReleaseLineage)

    def promote(self, model_id: int, version: int) -> PromotionLaunch:
        """Ask the gate to promote ``version``: the evaluation (pending) and the flow run deciding it."""
        body = build(Promote, version=version)
        return self._t.send("POST", f"/models/{model_id}/promote", PromotionLaunch, body)

    def evaluations(self, model_id: int, *, offset: int = 0, limit: int = 50) -> Page[EvaluationOut]:
        return self._t.page(f"/models/{model_id}/evaluations", EvaluationOut, offset=offset, limit=limit)

    def evaluation(self, evaluation_id: int) -> EvaluationOut:
        return self._t.get(f"/evaluations/{evaluation_id}", EvaluationOut)

    def evaluation_progress(self, evaluation_id: int, flow_run_id: str) -> Progress:
        """The gate's flow run beside the evaluation's status."""
        return self._t.get(f"/evaluations/{evaluation_id}/progress", Progress, flow_run_id=flow_run_id)

    def wait_evaluation(
        self, evaluation_id: int, *, timeout: float = 1800.0, poll: float = 1.0
    ) -> EvaluationOut:
        """The evaluation once decided (promoted or rejected) or failed; ``TimedOut`` at the deadline (the
        gate goes on)."""
        deadline = time.monotonic() + timeout
        while True:
            evaluation = self.evaluation(evaluation_id)
            if evaluation.status in FINAL_EVALUATION_STATUSES:
                return evaluation
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimedOut(
                    f"evaluation {evaluation_id} is still {evaluation.status} after {timeout:g} s; the gate goes "
                    f"on: wait again, or read it with client.models.evaluation({evaluation_id})"
                )
            time.sleep(min(poll, left))

    def rollback(self, model_id: int) -> ModelChange:
        """Move the champion back to the previous one; the servings following it roll back too (``.launch``)."""
        return self._t.send("POST", f"/models/{model_id}/rollback", ModelChange)

    def set_alias(self, model_id: int, alias: str, version: int | None) -> ModelChange:
        """Point ``alias`` (champion, challenger) at ``version`` by hand, bypassing the gate; None clears it
        (``models:manage``)."""
        body = build(SetAlias, version=version)
        return self._t.send("PUT", f"/models/{model_id}/aliases/{alias}", ModelChange, body)

    def clear_alias(self, model_id: int, alias: str) -> ModelChange:
        return self.set_alias(model_id, alias, None)

    def alias_history(self, model_id: int) -> list[AliasEventOut]:
        """Every move of the model's aliases, oldest first."""
        return self._t.get_list(f"/models/{model_id}/aliases/history", AliasEventOut)
