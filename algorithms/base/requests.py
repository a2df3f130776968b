"""Declared request and response bodies of the predict contracts: the JSON types they are built from, the
checks made with them, and their JSON schemas.

Each scenario declares its request body once, as a pydantic type (``ScenarioContract.request``); the inference
server's OpenAPI document (``algorithms/serve/openapi.py``) is that type's JSON schema, and the contract
checks a request with the same type (``Declared.validate``), so the document and the checks cannot disagree.
Answers are declared the same way (``ScenarioContract.response``) for the document. JSON semantics are kept: a
number is any finite JSON number but never ``true``/``false``, an integer may be written ``3.0`` (JSON Schema
counts it as one), no string stands in for a number.

A check that fails is a 422 in the error envelope, one detail per wrong field (``{"record", "field",
"message"}`` inside the batch list, ``{"field", "message"}`` elsewhere), values quoted only as short excerpts.
The batch list's length is declared too (``maxItems``, from ``Limits``); a list over it is the 413 naming the
limit's variable, found before any item is checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, NotRequired

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict

from algorithms.base.refusals import ContractError, Limits, quote, schema_error

# A 16×16 grey PNG: the example image of the document (and the image contracts' warm-up request).
SMALL_PNG = "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAGUlEQVR42mNsaGhgIAUwMZAIRjWMahg6GgDJTAGg54KQ4AAAAABJRU5ErkJggg=="
# Where the JSON schemas of declared types point for their named parts: the OpenAPI document's components.
REF_TEMPLATE = "#/components/schemas/{model}"
# Names of the branches of tagged unions (``Tag``): they appear in pydantic's error locations and are dropped
# from the field names reported (``anomaly.VALUE_RECORD`` and its sibling end in this suffix).
TAG_SUFFIX = " record"


def _integral(value: Any) -> Any:
    # JSON Schema counts 3.0 as an integer; a strict int refuses every float, so integral ones are converted.
    if type(value) is float and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def integer(**bounds: Any) -> Any:
    """A JSON integer (``3`` or ``3.0``; never ``true`` or ``"3"``) within ``bounds`` (``ge``, ``le``)."""
    return Annotated[int, Field(strict=True, **bounds), BeforeValidator(_integral)]


def number(**bounds: Any) -> Any:
    """A finite JSON number (integers included; never ``true`` or ``"1.5"``) within ``bounds``."""
    return Annotated[float, Field(strict=True, allow_inf_nan=False, **bounds)]


def object_type(name: str, fields: dict[str, Any], *, closed: bool = False, **schema: Any) -> Any:
    """A JSON object type (a ``TypedDict``) named ``name`` in the document, with ``fields`` (keys may be any
    strings; ``NotRequired[...]`` for optional ones) and extra JSON schema keywords (``examples``, ``not``).
    Other keys are allowed and dropped, or refused when ``closed``."""
    declared = TypedDict(name, fields)  # type: ignore[operator]
    config = ConfigDict(json_schema_extra=schema or None, extra="forbid" if closed else "ignore")
    return with_config(config)(declared)


# Any JSON value but an object or an array (echoed back as sent, e.g. an anomaly record's timestamp).
Scalar = StrictStr | StrictInt | StrictFloat | StrictBool | None


@dataclass(frozen=True)
class Batch:
    """The list of a request that ``Limits`` bounds: its field, the limit (its declared ``maxItems``), and the
    check that raises the 413 naming the limit's variable."""

    field: str
    max_items: Callable[[Limits], int]
    check: Callable[[Limits, int], None]

    def items(self, item: Any, limits: Limits, *, min_items: int = 1) -> Any:
        """The declared type of the list: ``item`` values, from ``min_items`` up to the limit."""
        return Annotated[list[item], Field(min_length=min_items, max_length=self.max_items(limits))]


RECORDS = Batch("data", lambda limits: limits.max_batch_size, lambda limits, n: limits.check_batch(n))
LINES = Batch("data", lambda limits: limits.max_batch_size, lambda limits, n: limits.check_batch(n, "lines"))
TEXTS = Batch("texts", lambda limits: limits.max_batch_size, lambda limits, n: limits.check_batch(n, "texts"))
IMAGES = Batch("images", lambda limits: limits.max_images, lambda limits, n: limits.check_images(n))


class Declared:
    """A declared body: its type, its validator, and for requests the list ``Limits`` bounds.

    ``common``: a narrower type, the shape most requests have (e.g. one branch of a union, no other keys), tried
    first because it is checked faster; it must accept nothing the declared type refuses and give the same value
    (anything it refuses is checked against the declared type).
    """

    def __init__(self, declared: Any, batch: Batch | None = None, *, common: Any = None) -> None:
        self.type = declared
        self.batch = batch
        self.adapter: TypeAdapter[Any] = TypeAdapter(declared)
        self.common: TypeAdapter[Any] | None = TypeAdapter(common) if common is not None else None

    def validate(self, body: Any, limits: Limits) -> Any:
        """``body`` as the declared type (plain dicts and lists); raises the 413 or 422 ``ContractError``."""
        if self.common is not None:
            try:
                return self.common.validate_python(body)
            except ValidationError:
                pass
        try:
            return self.adapter.validate_python(body)
        except ValidationError as exc:
            raise self.refusal(exc, limits) from None

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema of what is accepted; its named parts under ``$defs``, referred to as components."""
        return self.adapter.json_schema(ref_template=REF_TEMPLATE)

    def refusal(self, exc: ValidationError, limits: Limits) -> ContractError:
        """The 413 when the batch list is over its limit, else the 422 detailing every wrong field."""
        errors = exc.errors(include_url=False)
        if self.batch is not None:
            for error in errors:
                if error["type"] == "too_long" and tuple(error["loc"]) == (self.batch.field,):
                    self.batch.check(limits, int(error["ctx"]["actual_length"]))
        details = [self._detail(error) for error in errors]
        fields = list(dict.fromkeys(d["field"] for d in details))
        if len(details) == 1:
            message = f"{fields[0]}: {details[0]['message']}"
        else:
            shown = ", ".join(fields[:5]) + (", …" if len(fields) > 5 else "")
            message = f"{len(details)} invalid field(s) in the request: {shown}"
        return schema_error(message, details)

    def _detail(self, error: Any) -> dict[str, Any]:
        loc = [part for part in error["loc"] if not (isinstance(part, str) and part.endswith(TAG_SUFFIX))]
        message = str(error["msg"])
        if error["type"] == "string_pattern_mismatch":
            # pydantic quotes the pattern, which can be long (an ISO 8601 timestamp's is ~300 characters).
            message = "String should match the pattern of the field in the OpenAPI document"
        if error["type"] != "missing":
            message = f"{message}, got {quote(error.get('input'))}"
        batch = self.batch.field if self.batch is not None else None
        if batch is not None and len(loc) >= 2 and loc[0] == batch and isinstance(loc[1], int):
            rest = ".".join(str(part) for part in loc[2:])
            return {"record": loc[1], "field": rest or batch, "message": message}
        return {"field": ".".join(str(part) for part in loc) or "request body", "message": message}


ANY_OBJECT = Declared(dict[str, Any])


@lru_cache(maxsize=32)
def images_request(limits: Limits, config: Any = None, name: str = "ImagesRequest") -> Declared:
    """``{"images": [...], "config"?: config | null}``: at least one image, at most ``max_images``. An item may
    be any JSON value: one that is not a base64 string or data URI is that image's own error in the answer."""
    fields: dict[str, Any] = {"images": IMAGES.items(Any, limits)}
    if config is not None:
        fields["config"] = NotRequired[config | None]
    example = {"images": [f"data:image/png;base64,{SMALL_PNG}"]}
    return Declared(object_type(name, fields, examples=[example]), IMAGES)
