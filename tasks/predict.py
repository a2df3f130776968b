"""The platform's own predict call (CLI, dashboard sandbox): limits checked before sending, URL per runtime."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from catalog.db import session_scope
from catalog.scoping import Actor
from catalog.services import serving as serving_service
from infra.settings import get_settings
from tasks.serving import inference_url

IMAGE_SCENARIOS = {"image_classification", "object_detection"}


class PredictError(Exception):
    def __init__(self, message: str, *, status: int = 400, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.details = details


def records_in(payload: dict[str, Any]) -> tuple[str, int]:
    for key in ("data", "texts", "images"):
        value = payload.get(key)
        if isinstance(value, list):
            return key, len(value)
    return "data", 0


def check_limits(scenario: str, payload: dict[str, Any]) -> None:
    """The same limits the inference server enforces, checked before the request leaves the platform."""
    limits = get_settings().predict
    key, count = records_in(payload)
    if scenario in IMAGE_SCENARIOS:
        if count > limits.max_images:
            raise PredictError(f"{count} images is over the limit of {limits.max_images} per request "
                               "(MLOPS_PREDICT_MAX_IMAGES)", status=413)
        for i, image in enumerate(payload.get("images") or []):
            if isinstance(image, str):
                raw_len = len(image.split(",", 1)[-1]) * 3 // 4
                if raw_len > limits.max_image_bytes:
                    raise PredictError(f"image {i} is about {raw_len} bytes, over the limit of "
                                       f"{limits.max_image_bytes} bytes (MLOPS_PREDICT_MAX_IMAGE_BYTES)", status=413)
    elif count > limits.max_batch_size:
        raise PredictError(f"{count} records is over the limit of {limits.max_batch_size} per request "
                           "(MLOPS_PREDICT_MAX_BATCH_SIZE)", status=413)


def predict(*, actor: Actor, serving_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    with session_scope() as session:
        serving = serving_service.get_serving(session, actor=actor, serving_id=serving_id)
    check_limits(serving.scenario, payload)
    url = inference_url(serving)
    try:
        response = httpx.post(url, json=payload, timeout=get_settings().predict.timeout_seconds, trust_env=False)
    except httpx.HTTPError as exc:
        raise PredictError(f"serving {serving.name!r} is unreachable at {url}: {exc}", status=503) from exc
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if response.status_code >= 400:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        raise PredictError(error.get("message") or response.text[:500], status=response.status_code,
                           details=error.get("details"))
    return body  # type: ignore[no-any-return]


def encode_image(data: bytes) -> str:
    return base64.b64encode(data).decode()
