"""Scenario-independent parts of the predict contract: the served model, the contract base class and the
decoding of images; the error envelope and the request limits come from ``algorithms.base.refusals``, the
declared request and response bodies from ``algorithms.base.requests`` (both re-exported here).

Each scenario's contract (request → model input → response) subclasses ``ScenarioContract``; the inference
server and the pyfunc models share them, so ``/predict`` and ``PyFuncModel.predict`` agree by construction.
"""

from __future__ import annotations

import base64
import binascii
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from algorithms.base.refusals import (
    MAX_ERROR_DETAILS,
    ContractError,
    Limits,
    clip,
    quote,
    schema_error,
)
from algorithms.base.requests import ANY_OBJECT, Declared, images_request

__all__ = [
    "MAX_ERROR_DETAILS",
    "ContractError",
    "Declared",
    "Limits",
    "ScenarioContract",
    "ServedModel",
    "clip",
    "decode_image_list",
    "decode_images",
    "decoded_size",
    "image_data",
    "quote",
    "schema_error",
]


def image_data(item: str) -> str:
    """The base64 part of a plain base64 string or a ``data:image/...;base64,`` URI."""
    return item.split(",", 1)[1] if item.startswith("data:") else item


def decoded_size(b64: str) -> int:
    """Bytes a base64 string decodes to, without decoding it (a 10 MB image need not be decoded to refuse it)."""
    length = len(b64)
    return length * 3 // 4 - (b64[-2:].count("=") if length >= 2 else 0)


def decode_images(body: Any, limits: Limits) -> list[bytes | str]:
    """The decoded images of an image request (``{"images": [...]}``, checked against ``images_request``:
    422 or 413), as ``decode_image_list`` gives them."""
    return decode_image_list(images_request(limits).validate(body, limits)["images"], limits)


def decode_image_list(images: list[Any], limits: Limits) -> list[bytes | str]:
    """The decoded images of a checked ``images`` list, each within the byte limit (413 for the whole request).

    An entry that does not decode becomes its error message (a ``str``) so the contract answers the rest
    of the batch and reports that image in its own result.
    """
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
    (pyod detectors among them) are not safe to call from several threads at once. ``version``: the registered
    model version it is (None: unknown), named in every answer's ``metadata.model_version``.
    """

    uri: str
    pyfunc: Any
    python_model: Any | None = None
    version: str | None = None
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

    def request(self, model: ServedModel | None, limits: Limits) -> Declared:
        """The declared request body: what ``predict`` accepts for ``model`` within ``limits`` (``model`` None:
        before one is loaded, what any model of the scenario may accept). The OpenAPI document of /predict and
        the contract's checks both come from it (``algorithms.base.requests``)."""
        return ANY_OBJECT

    def response(self, model: ServedModel | None) -> Declared:
        """The declared body of a 200 answer (documentation: ``predict`` builds it as plain dicts, and the
        fuzz test checks every answer against it)."""
        return ANY_OBJECT
