"""The image scenarios' predict contracts: image_classification and object_detection.

Requests (``images_request`` with the contract's ``config``): ``{"images": ["base64 or data URI", ...],
"config": {...}}`` — at most ``MLOPS_PREDICT_MAX_IMAGES`` images of at most ``MLOPS_PREDICT_MAX_IMAGE_BYTES``
each (by ``decode_image_list``), of at most ``MLOPS_PREDICT_MAX_IMAGE_PIXELS`` pixels each and
``MLOPS_PREDICT_MAX_REQUEST_PIXELS`` in all; 413 for the whole request otherwise. Pixels are read from each
image's header before any image is decoded, and images are decoded and handed to the model a few at a time (a
group holds at most one image's pixel limit, or one image), each group dropped before the next is decoded:
memory follows the pixel limits, never the whole request.
Config: ``top_k`` (classification); ``conf``, ``iou``, ``max_detections`` (detection).

Responses: one result per image, in order —
- classification: ``{"predictions": [{"class_id", "class_name", "confidence"}, ...]}`` (best first, ``top_k``);
- detection: ``{"detections": [{"bbox": {"x1", "y1", "x2", "y2"}, "class_id", "class_name", "confidence"}],
  "width", "height"}`` (pixel coordinates of the image as sent);
- an image that does not decode (bad base64, not an image): ``{"error": "image i: ..."}``;
  the rest of the batch is answered. ``metadata``: ``model_uri``, ``model_version``, ``count``, ``errors``,
  ``execution_ms``.

Models serve through ``predict_images(images, params)`` on their python model (a list of RGB PIL images →
one result dict each), or as any pyfunc that takes a DataFrame with an ``image`` column of base64 strings and
returns one result dict per row (column ``result``).
"""

from __future__ import annotations

import base64
import io
import time
import warnings
from typing import Any, ClassVar

import pandas as pd
from typing_extensions import TypedDict

from algorithms.base.contracts import Limits, ScenarioContract, ServedModel, decode_image_list, quote
from algorithms.base.requests import SMALL_PNG, Declared, images_request, integer, number

IMAGE_COLUMN = "image"
RESULT_COLUMN = "result"
DEFAULT_TOP_K = 5
MAX_DETECTIONS = 1000
TopK = integer(ge=1, le=10_000)
UnitInterval = number(ge=0, le=1)
MaxDetections = integer(ge=1, le=MAX_DETECTIONS)
# Pixels, not bytes, decide memory: a 10 MB PNG of one colour can unpack to gigabytes. The pyfunc path
# (``images_of_frame``, called without the server's limits) refuses images above the default limit.
MAX_PIXELS = Limits.max_image_pixels
# The warm-up request's image (loads the weights and pays the first-call costs).
WARMUP_PNG = SMALL_PNG


def image_size(data: bytes, index: int, limits: Limits) -> tuple[int, int] | str:
    """(width, height) from the image's header alone (nothing decoded), or the error message (``str``);
    413 (``ContractError``) when it is over the per-image pixel limit."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Pillow's own bomb guard warns at 89 M pixels; the configured limit applies instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as picture:
                size = picture.size
    except Image.DecompressionBombError:
        # Over twice Pillow's guard: it refuses to say the size, only that it is far too large.
        raise limits.too_large(
            f"image {index} has more than {2 * (Image.MAX_IMAGE_PIXELS or 0)} pixels",
            limits.max_image_pixels,
            "pixels per image",
            limits.IMAGE_PIXELS_VAR,
            index=index,
        ) from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is this image's own error
        return f"image {index}: not a decodable image ({type(exc).__name__}: {quote(str(exc))})"
    limits.check_image_pixels(index, *size)
    return size


def open_image(data: bytes, index: int, max_pixels: int | None = None) -> Any:
    """An RGB PIL image, or the error message (``str``) saying why ``data`` is not one. The pixel count is
    checked from the header before anything is decoded."""
    from PIL import Image

    limit = MAX_PIXELS if max_pixels is None else max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(data))
            width, height = picture.size
            if width * height > limit:
                return f"image {index}: {width}x{height} pixels is over the limit of {limit} pixels"
            picture.load()
        return picture.convert("RGB")
    except Exception as exc:  # noqa: BLE001 - any decoder failure is this image's own error
        return f"image {index}: not a decodable image ({type(exc).__name__}: {quote(str(exc))})"


def images_of_frame(frame: Any) -> list[Any]:
    """RGB images (or per-row error strings) from a pyfunc input frame's ``image`` column (else its first)."""
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    column = frame[IMAGE_COLUMN] if IMAGE_COLUMN in frame.columns else frame.iloc[:, 0]
    out: list[Any] = []
    for i, item in enumerate(column.tolist()):
        if isinstance(item, (bytes, bytearray)):
            out.append(open_image(bytes(item), i))
            continue
        if not isinstance(item, str):
            out.append(f"image {i}: expected a base64 string or data URI, got {type(item).__name__}")
            continue
        try:
            raw = base64.b64decode(item.split(",", 1)[1] if item.startswith("data:") else item, validate=True)
        except ValueError as exc:
            out.append(f"image {i}: not valid base64 ({quote(str(exc))})")
            continue
        out.append(open_image(raw, i))
    return out


class ImageError(TypedDict):
    """The result of an image that does not decode (the rest of the batch is answered)."""

    error: str


class ImageMetadata(TypedDict):
    model_uri: str
    model_version: str | None
    count: int
    errors: int
    execution_ms: float


class ImageContract(ScenarioContract):
    """Shared request handling: decode within the limits, open each image, predict the good ones, and put
    each image's error in its own place."""

    #: The declared ``config`` of a request (its keys are the model's predict params) and answer.
    config: ClassVar[Any]
    answer: ClassVar[Declared]

    def request(self, model: ServedModel | None, limits: Limits) -> Declared:
        return images_request(limits, self.config, f"{type(self).__name__.removesuffix('Contract')}Request")

    def response(self, model: ServedModel | None) -> Declared:
        return self.answer

    def predict(self, body: Any, model: ServedModel, limits: Limits) -> dict[str, Any]:
        started = time.perf_counter()
        request = self.request(model, limits).validate(body, limits)
        decoded = decode_image_list(request["images"], limits)
        params = dict(request.get("config") or {})
        results: list[dict[str, Any]] = [{"error": item} if isinstance(item, str) else {} for item in decoded]
        sizes = self._check_pixels(decoded, limits, results)
        for group in self._groups(sizes, limits.max_image_pixels):
            # One group at a time: its decoded images are dropped (the call returns) before the next is decoded.
            self._predict_group(group, decoded, model, params, limits, results)
        return {
            "results": results,
            "metadata": {
                "model_uri": model.uri,
                "model_version": model.version,
                "count": len(results),
                "errors": sum(1 for r in results if "error" in r),
                "execution_ms": (time.perf_counter() - started) * 1000.0,
            },
        }

    def _predict_group(
        self,
        group: list[int],
        decoded: list[bytes | str],
        model: ServedModel,
        params: dict[str, Any],
        limits: Limits,
        results: list[dict[str, Any]],
    ) -> None:
        opened = [(i, open_image(decoded[i], i, limits.max_image_pixels)) for i in group]  # type: ignore[arg-type]
        good = [(i, picture) for i, picture in opened if not isinstance(picture, str)]
        for i, picture in opened:
            if isinstance(picture, str):
                results[i] = {"error": picture}
        if good:
            answers = self._predict_good([picture for _, picture in good], model, params)
            for (i, _), answer in zip(good, answers, strict=True):
                results[i] = answer

    @staticmethod
    def _check_pixels(
        decoded: list[bytes | str], limits: Limits, results: list[dict[str, Any]]
    ) -> dict[int, int]:
        """Pixels of each image from its header (413 over a limit); images whose header fails get their error."""
        sizes: dict[int, int] = {}
        for i, item in enumerate(decoded):
            if isinstance(item, str):
                continue
            size = image_size(item, i, limits)
            if isinstance(size, str):
                results[i] = {"error": size}
                continue
            sizes[i] = size[0] * size[1]
        limits.check_request_pixels(sum(sizes.values()))
        return sizes

    @staticmethod
    def _groups(sizes: dict[int, int], budget: int) -> list[list[int]]:
        """Consecutive images in groups of at most ``budget`` pixels (an image alone may fill one)."""
        groups: list[list[int]] = []
        held = budget + 1
        for i, pixels in sizes.items():
            if held + pixels > budget:
                groups.append([])
                held = 0
            groups[-1].append(i)
            held += pixels
        return groups

    @staticmethod
    def _predict_good(images: list[Any], model: ServedModel, params: dict[str, Any]) -> list[dict[str, Any]]:
        fast = getattr(model.python_model, "predict_images", None)
        if callable(fast):
            return list(fast(images, params))
        encoded = []
        for picture in images:
            buf = io.BytesIO()
            picture.save(buf, format="PNG")
            encoded.append(base64.b64encode(buf.getvalue()).decode())
        frame = model.predict_frame(pd.DataFrame({IMAGE_COLUMN: encoded}), params or None)
        return list(frame[RESULT_COLUMN]) if isinstance(frame, pd.DataFrame) else list(frame)

    def warmup_body(self, model: ServedModel) -> dict[str, Any]:
        return {"images": [WARMUP_PNG]}


class ClassifyConfig(TypedDict, total=False):
    top_k: TopK


class ClassPrediction(TypedDict):
    class_id: int
    class_name: str
    confidence: float


class Classification(TypedDict):
    predictions: list[ClassPrediction]


class ClassificationResponse(TypedDict):
    results: list[Classification | ImageError]
    metadata: ImageMetadata


class ImageClassificationContract(ImageContract):
    scenario: ClassVar[str] = "image_classification"
    config: ClassVar[Any] = ClassifyConfig
    answer: ClassVar[Declared] = Declared(ClassificationResponse)


class DetectConfig(TypedDict, total=False):
    conf: UnitInterval
    iou: UnitInterval
    max_detections: MaxDetections


class Box(TypedDict):
    x1: float
    y1: float
    x2: float
    y2: float


class Detected(TypedDict):
    bbox: Box
    class_id: int
    class_name: str
    confidence: float


class Detection(TypedDict):
    detections: list[Detected]
    width: int
    height: int


class DetectionResponse(TypedDict):
    results: list[Detection | ImageError]
    metadata: ImageMetadata


class ObjectDetectionContract(ImageContract):
    scenario: ClassVar[str] = "object_detection"
    config: ClassVar[Any] = DetectConfig
    answer: ClassVar[Declared] = Declared(DetectionResponse)
