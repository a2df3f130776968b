"""Platform events on NATS, published with the platform's NATS user (the only one allowed to publish there; other
systems subscribe with the client user and cannot forge one):

- ``{namespace}.events.model``, one JSON object per gate decision or alias move: ``{"event": "promoted" |
  "rejected" | "rolled_back" | "alias_set" | "evaluation_failed", "model_id", "model", "team_id", "scenario",
  "version", "champion_version", "reason", "evaluation_id", "at"}``;
- ``{namespace}.events.rollout``, one per roll-out decision: ``{"event": "started" | "advance" | "hold" |
  "promote" | "rollback" | "pause" | "resume" | "abort" | "resume_after_restart", "rollout_id", "serving_id",
  "team_id", "scenario", "model_id", "stable_version", "canary_version", "step", "weight", "status", "reason",
  "figures", "at"}``.

``at``: ISO 8601, UTC. Publishing is best effort: the decision is in the catalog and its audit already, so a NATS that is
down or refuses costs the event only (logged), never the decision.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from catalog.models import Model, Rollout
from catalog.models.base import utcnow
from infra.settings import get_settings

log = logging.getLogger(__name__)

EVENTS: tuple[str, ...] = ("promoted", "rejected", "rolled_back", "alias_set", "evaluation_failed")


def model_subject() -> str:
    return f"{get_settings().nats.namespace}.events.model"


def rollout_subject() -> str:
    return f"{get_settings().nats.namespace}.events.rollout"


def model_event(
    event: str,
    *,
    model: Model,
    version: int | None,
    champion_version: int | None,
    reason: str,
    evaluation_id: int | None = None,
) -> dict[str, Any]:
    if event not in EVENTS:
        raise ValueError(f"unknown model event {event!r}; events: {', '.join(EVENTS)}")
    return {
        "event": event,
        "model_id": model.id,
        "model": model.name,
        "team_id": model.team_id,
        "scenario": model.scenario,
        "version": version,
        "champion_version": champion_version,
        "reason": reason,
        "evaluation_id": evaluation_id,
        "at": utcnow().isoformat(),
    }


def _run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    # Called from inside an event loop (an async flow): the publish gets a loop of its own in a worker thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


def rollout_event(
    event: str, *, rollout: Rollout, scenario: str, reason: str, figures: Any = None
) -> dict[str, Any]:
    return {
        "event": event,
        "rollout_id": rollout.id,
        "serving_id": rollout.serving_id,
        "team_id": rollout.team_id,
        "scenario": scenario,
        "model_id": rollout.model_id,
        "stable_version": rollout.stable_version,
        "canary_version": rollout.canary_version,
        "step": rollout.step,
        "weight": rollout.weight,
        "status": rollout.status,
        "reason": reason,
        "figures": figures or {},
        "at": utcnow().isoformat(),
    }


def publish_rollout(event: str, *, rollout: Rollout, scenario: str, reason: str, figures: Any = None) -> bool:
    """Publish one roll-out event (the flow's decisions and a person's pause, resume or abort alike)."""
    payload = rollout_event(event, rollout=rollout, scenario=scenario, reason=reason, figures=figures)
    return publish(payload, rollout_subject())


def publish(payload: dict[str, Any], subject: str | None = None) -> bool:
    """Publish one event (default: a model event); False (logged) when it could not be delivered."""
    # Imported here: the NATS client (and aiohttp under it) is not loaded by every flow run that imports this
    # module (the scheduled sync, every minute) but only by one that publishes.
    from infra.natsbus import PublishError, publish_once

    nats = get_settings().nats
    subject = subject or model_subject()
    try:
        _run(
            publish_once(
                nats.url, subject, orjson.dumps(payload), user=nats.user, password=nats.password, timeout=5.0
            )
        )
    except PublishError as exc:
        log.warning("%s event %s not published: %s", subject, payload.get("event"), exc)
        return False
    return True
