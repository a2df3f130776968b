"""Refusals of the predict contract: the error envelope (``ContractError``, rendered as ``{"error": {"code",
"message", "details"}}``), the quoting of request values inside errors, and the request limits (``Limits``),
each a 413 naming the environment variable that sets it.

A value of the request is quoted in an error only through ``quote`` (a short excerpt and its length), so an
error is never the size of the input that caused it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

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
