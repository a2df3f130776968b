"""Scenario-independent parts of the predict contract: error envelope, request limits, the served model.

Each scenario's contract (request → model input → response) subclasses ``ScenarioContract``; the inference
server and the pyfunc models share them, so ``/predict`` and ``PyFuncModel.predict`` agree by construction.
Errors are raised as ``ContractError`` and rendered as ``{"error": {"code", "message", "details"}}``; a value
of the request is quoted in them only through ``quote`` (a short excerpt and its length), so an error is never
the size of the input that caused it.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

# The one way a request's value appears in a message, shared with the platform (catalog.errors).
from algorithms.params.values import quote as quote  # noqa: PLC0414 - re-exported to the scenario contracts

MAX_ERROR_DETAILS = 20
# Longest error message, as a last resort (a value is quoted in a message only through ``quote``).
MAX_MESSAGE_CHARS = 1000


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters (with its full length): the backstop for messages built from
    exceptions of libraries, which may quote their input whole."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


class ContractError(Exception):
    """A request the contract refuses; ``status`` is the HTTP status the server answers with."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        message = clip(message)
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def schema_error(message: str, details: list[dict[str, Any]] | None = None) -> ContractError:
    """422 with per-field/per-record details (capped, so a 10k-row bad request stays small)."""
    details = details or []
    if len(details) > MAX_ERROR_DETAILS:
        details = details[:MAX_ERROR_DETAILS] + [{"message": f"... {len(details) - MAX_ERROR_DETAILS} more"}]
    details = [{**d, "message": clip(str(d["message"]))} if "message" in d else d for d in details]
    return ContractError(422, "invalid_request", message, details)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = int(raw)
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


@dataclass(frozen=True)
class Limits:
    """Request size limits; each names the environment variable that sets it (the platform passes its
    ``MLOPS_PREDICT_*`` settings, ``infra.settings.predict``, to the server's environment)."""

    max_batch_size: int = 10_000
    max_images: int = 100
    max_image_bytes: int = 10 * 1024 * 1024
    # Pixels, not bytes, decide the memory of an image: a 250 KB PNG can unpack to 192 MB (8000x8000 RGB).
    max_image_pixels: int = 25_000_000
    max_request_pixels: int = 100_000_000
    max_body_bytes: int = 64 * 1024 * 1024

    BATCH_VAR: ClassVar[str] = "MLOPS_PREDICT_MAX_BATCH_SIZE"
    IMAGES_VAR: ClassVar[str] = "MLOPS_PREDICT_MAX_IMAGES"
    IMAGE_BYTES_VAR: ClassVar[str] = "MLOPS_PREDICT_MAX_IMAGE_BYTES"
    IMAGE_PIXELS_VAR: ClassVar[str] = "MLOPS_PREDICT_MAX_IMAGE_PIXELS"
    REQUEST_PIXELS_VAR: ClassVar[str] = "MLOPS_PREDICT_MAX_REQUEST_PIXELS"
    BODY_BYTES_VAR: ClassVar[str] = "MLOPS_PREDICT_MAX_BODY_BYTES"

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            max_batch_size=_env_int(cls.BATCH_VAR, cls.max_batch_size),
            max_images=_env_int(cls.IMAGES_VAR, cls.max_images),
            max_image_bytes=_env_int(cls.IMAGE_BYTES_VAR, cls.max_image_bytes),
            max_image_pixels=_env_int(cls.IMAGE_PIXELS_VAR, cls.max_image_pixels),
            max_request_pixels=_env_int(cls.REQUEST_PIXELS_VAR, cls.max_request_pixels),
            max_body_bytes=_env_int(cls.BODY_BYTES_VAR, cls.max_body_bytes),
        )

    @staticmethod
    def too_large(what: str, limit: int, per: str, variable: str, **details: Any) -> ContractError:
        """413 for the whole request: ``what`` is over ``limit`` (``per`` says per what), set by ``variable``."""
        return ContractError(
            413,
            "payload_too_large",
            f"{what}; the limit is {limit} {per} (set by {variable})",
            {"limit": limit, **details, "variable": variable},
        )

    def check_batch(self, count: int, what: str = "records") -> None:
        if count > self.max_batch_size:
            raise self.too_large(
                f"request has {count} {what}", self.max_batch_size, "per request", self.BATCH_VAR, count=count
            )

    def check_images(self, count: int) -> None:
        if count > self.max_images:
            raise self.too_large(
                f"request has {count} images", self.max_images, "per request", self.IMAGES_VAR, count=count
            )

    def check_image_bytes(self, index: int, size: int) -> None:
        if size > self.max_image_bytes:
            raise self.too_large(
                f"image {index} has {size} bytes",
                self.max_image_bytes,
                "bytes per image",
                self.IMAGE_BYTES_VAR,
                size=size,
                index=index,
            )

    def check_image_pixels(self, index: int, width: int, height: int) -> None:
        if width * height > self.max_image_pixels:
            raise self.too_large(
                f"image {index} is {width}x{height} = {width * height} pixels",
                self.max_image_pixels,
                "pixels per image",
                self.IMAGE_PIXELS_VAR,
                pixels=width * height,
                index=index,
            )

    def check_request_pixels(self, pixels: int) -> None:
        if pixels > self.max_request_pixels:
            raise self.too_large(
                f"the request's images have {pixels} pixels in all",
                self.max_request_pixels,
                "pixels per request",
                self.REQUEST_PIXELS_VAR,
                pixels=pixels,
            )

    def check_body_bytes(self, size: int, *, announced: bool = False) -> None:
        if size > self.max_body_bytes:
            what = (
                f"request body announces {size} bytes" if announced else f"request body passed {size} bytes"
            )
            raise self.too_large(
                what, self.max_body_bytes, "bytes per request", self.BODY_BYTES_VAR, size=size
            )


def image_data(item: str) -> str:
    """The base64 part of a plain base64 string or a ``data:image/...;base64,`` URI."""
    return item.split(",", 1)[1] if item.startswith("data:") else item


def decoded_size(b64: str) -> int:
    """Bytes a base64 string decodes to, without decoding it (a 10 MB image need not be decoded to refuse it)."""
    length = len(b64)
    return length * 3 // 4 - (b64[-2:].count("=") if length >= 2 else 0)


def decode_images(body: Any, limits: Limits, *, field_name: str = "images") -> list[bytes | str]:
    """The decoded images of an image request, checked against the limits (413 for the whole request).

    An entry that does not decode becomes its error message (a ``str``) so the contract answers the rest
    of the batch and reports that image in its own result.
    """
    body = require_object(body)
    images = body.get(field_name)
    if not isinstance(images, list):
        raise schema_error(
            f"'{field_name}' must be a list of base64 strings or data URIs",
            [{"field": field_name, "message": "expected list"}],
        )
    limits.check_images(len(images))
    if not images:
        raise schema_error(
            f"'{field_name}' must not be empty", [{"field": field_name, "message": "empty list"}]
        )
    decoded: list[bytes | str] = []
    for i, item in enumerate(images):
        if not isinstance(item, str):
            decoded.append(f"image {i}: expected a base64 string or data URI, got {type(item).__name__}")
            continue
        data = image_data(item)
        limits.check_image_bytes(i, decoded_size(data))
        try:
            decoded.append(base64.b64decode(data, validate=True))
        except (binascii.Error, ValueError) as exc:
            decoded.append(f"image {i}: not valid base64 ({exc})")
    return decoded


@dataclass
class ServedModel:
    """A loaded model as the server holds it.

    ``python_model`` is the unwrapped ``PythonModel`` when the pyfunc has one (the contract may call its fast
    path); otherwise the contract goes through ``pyfunc.predict`` under ``lock``, because arbitrary flavours
    (pyod detectors among them) are not safe to call from several threads at once.
    """

    uri: str
    pyfunc: Any
    python_model: Any | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def predict_frame(self, frame: pd.DataFrame, params: dict[str, Any] | None) -> Any:
        with self.lock:
            return self.pyfunc.predict(frame, params=params) if params else self.pyfunc.predict(frame)


class ScenarioContract(ABC):
    """Request → model input → response for one scenario."""

    scenario: ClassVar[str]

    @abstractmethod
    def predict(self, body: Any, model: ServedModel, limits: Limits) -> dict[str, Any]:
        """Validate ``body`` (raise ``ContractError``), predict, and build the response dict."""

    @abstractmethod
    def warmup_body(self, model: ServedModel) -> dict[str, Any]:
        """A small valid request, run once after loading so the first real request is not slow."""

    def runs_inline(self, model: ServedModel) -> bool:
        """True when ``predict`` is fast and thread-safe enough to run on the event loop (no thread hop)."""
        return False

    def request_schema(self) -> dict[str, Any]:
        """JSON schema of the request body for the OpenAPI docs."""
        return {"type": "object"}


def require_object(body: Any, what: str = "request body") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise schema_error(f"{what} must be a JSON object", [{"field": what, "message": "expected object"}])
    return body
