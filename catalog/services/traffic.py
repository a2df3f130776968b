"""A serving's traffic: the canary version and the percent of requests it answers, the shadow version that
answers copies, and the header that makes the choice sticky — what the serving is meant to run, kept on its row
and applied to its running server by ``tasks.serving_traffic`` (and by the scheduled sync after a restart).

Every version is of the serving's own model, so of its scenario and team: a model named for it must be that
model (a model of another team reads as missing, ``catalog.scoping``; another scenario's or another model of the
team is refused by name). While a roll-out is active the roll-out owns the canary (``catalog.services.rollouts``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import Session, select

from catalog.errors import ConflictError, ValidationError
from catalog.models import ACTIVE_ROLLOUTS, Model, Rollout, Serving
from catalog.models.base import utcnow
from catalog.scoping import Actor, get_scoped, requires
from catalog.services.audit import audited
from catalog.services.models import resolve_ref
from catalog.services.serving import get_serving
from mlops_lite.schemas.rollouts import HEADER_PATTERN

UNSET = object()


@dataclass(frozen=True, slots=True)
class DesiredTraffic:
    """What the serving's server is meant to run, as versions of its model (None: none)."""

    stable: int | None
    canary: int | None
    weight: int
    shadow: int | None
    routing_header: str | None


def desired_traffic(serving: Serving) -> DesiredTraffic:
    stable = int(serving.resolved_version) if (serving.resolved_version or "").isdigit() else None
    canary = serving.canary_version if serving.canary_version != stable else None
    shadow = serving.shadow_version if serving.shadow_version not in (stable, canary) else None
    return DesiredTraffic(
        stable=stable,
        canary=canary,
        weight=serving.canary_weight if canary is not None else 0,
        shadow=shadow,
        routing_header=serving.routing_header,
    )


def _model_of(session: Session, *, actor: Actor, serving: Serving, model_id: int | None) -> Model:
    """The serving's model; ``model_id`` (if given) must be it."""
    if serving.model_id is None:
        raise ValidationError(f"serving {serving.name!r} serves no model yet")
    if model_id is not None and model_id != serving.model_id:
        other = get_scoped(session, Model, model_id, actor, kind="model")  # another team's: not found
        if other.scenario != serving.scenario:
            raise ValidationError(
                f"model {other.name!r} is {other.scenario}; serving {serving.name!r} is {serving.scenario}"
            )
        raise ValidationError(
            f"a canary or shadow is a version of the serving's own model; {other.name!r} is another model"
        )
    model = session.get(Model, serving.model_id)
    assert model is not None
    return model


def _version_of(session: Session, *, model: Model, ref: str, serving: Serving, what: str) -> int:
    """The version ``ref`` names, which must not be the one the serving serves as stable."""
    version = resolve_ref(session, model=model, ref=ref).version
    if serving.resolved_version == str(version):
        raise ValidationError(f"version {version} is the one serving {serving.name!r} serves: not a {what}")
    return version


def active_rollout(session: Session, *, serving_id: int) -> Rollout | None:
    return session.exec(
        select(Rollout).where(
            Rollout.serving_id == serving_id, Rollout.status.in_([str(s) for s in ACTIVE_ROLLOUTS])
        )
    ).first()


@requires("servings:manage")
def set_traffic(
    session: Session,
    *,
    actor: Actor,
    serving_id: int,
    canary: str | None | object = UNSET,
    weight: int | None = None,
    shadow: str | None | object = UNSET,
    routing_header: str | None | object = UNSET,
    model_id: int | None = None,
) -> Serving:
    """Change what the serving is meant to run: an argument left UNSET keeps its value, None clears it (a canary
    cleared takes its weight with it). The running server is told by the caller (``tasks.serving_traffic``)."""
    serving = get_serving(session, actor=actor, serving_id=serving_id)
    with audited(
        session, actor=actor, action="serving.traffic", resource_type="serving", team_id=serving.team_id
    ) as info:
        info["resource_id"] = serving.id
        model = _model_of(session, actor=actor, serving=serving, model_id=model_id)
        if canary is not UNSET and active_rollout(session, serving_id=serving.id) is not None:  # type: ignore[arg-type]
            raise ConflictError(
                f"a roll-out is under way on serving {serving.name!r}: it sets the canary (pause or abort it)"
            )
        if weight is not None and active_rollout(session, serving_id=serving.id) is not None:  # type: ignore[arg-type]
            raise ConflictError(
                f"a roll-out is under way on serving {serving.name!r}: it sets the weight (pause or abort it)"
            )
        if weight is not None and not 0 <= weight <= 100:
            raise ValidationError(f"a weight is 0-100 percent, not {weight}")
        new_canary = serving.canary_version
        if canary is not UNSET:
            new_canary = (
                None
                if canary is None
                else _version_of(session, model=model, ref=str(canary), serving=serving, what="canary")
            )
        new_weight = serving.canary_weight if weight is None else weight
        if new_canary is None:
            if weight:
                raise ValidationError("a weight needs a canary: give one (a version of the serving's model)")
            new_weight = 0
        new_shadow = serving.shadow_version
        if shadow is not UNSET:
            new_shadow = (
                None
                if shadow is None
                else _version_of(session, model=model, ref=str(shadow), serving=serving, what="shadow")
            )
        if new_shadow is not None and new_shadow == new_canary:
            raise ValidationError(f"version {new_shadow} is the canary already: it cannot shadow itself")
        before = {
            "canary": serving.canary_version,
            "weight": serving.canary_weight,
            "shadow": serving.shadow_version,
            "routing_header": serving.routing_header,
        }
        serving.canary_version, serving.canary_weight, serving.shadow_version = (
            new_canary,
            new_weight,
            new_shadow,
        )
        if routing_header is not UNSET:
            if routing_header is not None and not re.match(HEADER_PATTERN, str(routing_header)):
                raise ValidationError(
                    "a routing header is 1-64 lower-case letters, digits or '-' (e.g. x-user-id), "
                    f"not {str(routing_header)[:70]!r}"
                )
            serving.routing_header = routing_header  # type: ignore[assignment]
        serving.updated_at = utcnow()
        session.add(serving)
        info["detail"] = {
            "before": before,
            "after": {
                "canary": new_canary,
                "weight": new_weight,
                "shadow": new_shadow,
                "routing_header": serving.routing_header,
            },
        }
    return serving
