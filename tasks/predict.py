"""The platform's own predict call (dashboard sandbox, the API's predict proxy): the request checked before it
is sent, the serving's URL per runtime and its token.

The checks are the inference server's own: the scenario's declared request (``algorithms.base.requests``, as
any model of the scenario accepts it: the server checks a model's own columns too) and the limits with their
413 messages (``algorithms.base.contracts.Limits``), built from the platform's ``MLOPS_PREDICT_*`` settings, so
a refused request reads the same whichever side refused it.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from algorithms.base.contracts import ContractError, Limits, decoded_size, image_data
from algorithms.base.scenarios import CONTRACTS
from catalog.db import session_scope
from catalog.models import DesiredState, Serving
from catalog.scoping import Actor
from catalog.services import serving as serving_service
from infra.net import http_ok
from infra.runtime.base import RuntimeError_
from infra.settings import get_settings
from tasks.serving import inference_url, model_ready_url

IMAGE_SCENARIOS = {"image_classification", "object_detection"}
# Where each scenario's batch lives in the request body (the contracts in ``algorithms.base``).
BATCH_FIELDS = {
    "text_classification": "texts",
    "image_classification": "images",
    "object_detection": "images",
}


class PredictError(Exception):
    def __init__(self, message: str, *, status: int = 400, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.details = details


def limits() -> Limits:
    s = get_settings().predict
    return Limits(
        max_batch_size=s.max_batch_size,
        max_images=s.max_images,
        max_image_bytes=s.max_image_bytes,
        max_image_pixels=s.max_image_pixels,
        max_request_pixels=s.max_request_pixels,
        max_body_bytes=s.max_body_bytes,
    )


def check_limits(scenario: str, payload: dict[str, Any]) -> None:
    """The inference server's limits, checked before the request leaves the platform (413 naming the variable)."""
    field = BATCH_FIELDS.get(scenario, "data")
    batch = payload.get(field) if isinstance(payload, dict) else None
    if not isinstance(batch, list):
        return  # the server answers a malformed body with its 422 and details
    lim = limits()
    try:
        if scenario in IMAGE_SCENARIOS:
            lim.check_images(len(batch))
            for i, image in enumerate(batch):
                if isinstance(image, str):
                    lim.check_image_bytes(i, decoded_size(image_data(image)))
        else:
            lim.check_batch(len(batch), "texts" if field == "texts" else "records")
    except ContractError as exc:
        raise PredictError(exc.message, status=exc.status, details=exc.details) from exc


def check_body_size(size: int, *, announced: bool = False) -> None:
    """A request body of ``size`` bytes is within ``MLOPS_PREDICT_MAX_BODY_BYTES`` (else the server's 413)."""
    try:
        limits().check_body_bytes(size, announced=announced)
    except ContractError as exc:
        raise PredictError(exc.message, status=exc.status, details=exc.details) from exc


def check_request(scenario: str, payload: Any) -> None:
    """What the serving would refuse whatever its model, refused here: the scenario's declared request (422 with
    a detail per wrong field), the batch and image limits (413 naming the variable)."""
    check_limits(scenario, payload)  # first: a batch over its limit is the 413, whatever its items
    contract = CONTRACTS.get(scenario)
    if contract is not None:
        lim = limits()
        try:
            contract().request(None, lim).validate(payload, lim)
        except ContractError as exc:
            raise PredictError(exc.message, status=exc.status, details=exc.details) from exc


def upstream(serving: Serving) -> tuple[str, dict[str, str]]:
    """The serving's /predict URL and the headers it requires (its bearer token). 409 when it is not running
    (stopped, or the runtime has no server of it)."""
    if serving.desired_state == DesiredState.STOPPED:
        raise PredictError(
            f"serving {serving.name!r} is stopped; start it (`mlops servings start {serving.id}`)", status=409
        )
    try:
        url = inference_url(serving)
    except RuntimeError_ as exc:
        raise PredictError(
            f"serving {serving.name!r} is not running (last seen {serving.observed_state}): {exc}", status=409
        ) from exc
    return url, {"Authorization": f"Bearer {serving_service.inference_token(serving)}"}


def predict(*, actor: Actor, serving_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    with session_scope() as session:  # servings:predict
        serving = serving_service.predictable(session, actor=actor, serving_id=serving_id)
    check_request(serving.scenario, payload)
    url, headers = upstream(serving)
    try:
        response = httpx.post(
            url,
            json=payload,
            timeout=get_settings().predict.timeout_seconds,
            trust_env=False,
            headers=headers,
        )
    except httpx.HTTPError as exc:
        raise PredictError(f"serving {serving.name!r} is unreachable at {url}: {exc}", status=503) from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        error = error if isinstance(error, dict) else {}
        raise PredictError(
            error.get("message") or response.text[:500],
            status=response.status_code,
            details=error.get("details"),
        )
    if not isinstance(body, dict):
        raise PredictError(f"serving {serving.name!r} answered without a JSON object", status=502)
    return body


def model_ready(*, actor: Actor, serving_id: int) -> bool:
    """Whether the serving has loaded its model: its ``/ready`` answers 2xx. A serving whose server process runs
    (observed "running") may still be loading the model, and answers predict with 503 until it is done."""
    with session_scope() as session:
        serving = serving_service.get_serving(session, actor=actor, serving_id=serving_id)
    try:
        url = model_ready_url(serving)
    except RuntimeError_:
        return False
    return http_ok(url)


def encode_image(data: bytes) -> str:
    return base64.b64encode(data).decode()
