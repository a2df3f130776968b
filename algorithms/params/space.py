"""Hyper-parameter search spaces: ``{"param": {"type": "uniform"|"loguniform"|"quniform"|"choice", ...}}``.

Each entry is a pydantic model (``Uniform``, ``LogUniform``, ``QUniform``, ``Choice``). ``low``/``high`` are in
the parameter's own units for every type (also ``loguniform``: hyperopt gets their logarithms). An entry fits a
parameter when its values can be values of that ``ParamField`` (``check_space``): numeric ranges only for
numbers and within their bounds, integer parameters only by ``quniform`` with an integer ``q`` (or a choice),
choice options read as the field's values. Tuning (``algorithms.base.tuning``) samples through ``hyperopt``
and turns what hyperopt returns back into the parameter's values with ``plain``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from algorithms.params.fields import NUMERIC, Number, ParamField, SpecError
from algorithms.params.values import InvalidValue, quote

SPACE_TYPES: tuple[str, ...] = ("uniform", "loguniform", "quniform", "choice")


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str

    def fits(self, name: str, field: ParamField) -> _Entry:
        """This entry with its values read as the field's (SpecError when they cannot be)."""
        raise NotImplementedError

    def hyperopt(self, name: str) -> Any:
        """The hyperopt expression sampling this parameter."""
        raise NotImplementedError

    def plain(self, sampled: Any) -> Any:
        """A value hyperopt returned (numpy scalars included) as the parameter's own value."""
        value = sampled.item() if hasattr(sampled, "item") else sampled
        return float(value)

    def metric(self, value: Any) -> float | None:
        """A trial's value as an MLflow metric (numbers only)."""
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class _Range(_Entry):
    low: Number
    high: Number

    @model_validator(mode="after")
    def _ordered(self) -> _Range:
        if self.low >= self.high:
            raise ValueError(f"low {quote(self.low)} must be below high {quote(self.high)}")
        return self

    def fits(self, name: str, field: ParamField) -> _Range:
        if field.type not in NUMERIC:
            raise SpecError(
                f"{name}: only numeric parameters take {self.type}; use 'choice' for a {field.type} field"
            )
        if field.min is not None and self.low < field.min:
            raise SpecError(
                f"{name}: low {quote(self.low)} is below the parameter's minimum {quote(field.min)}"
            )
        if field.max is not None and self.high > field.max:
            raise SpecError(
                f"{name}: high {quote(self.high)} is above the parameter's maximum {quote(field.max)}"
            )
        if field.type == "int" and not self.integral:
            raise SpecError(f"{name}: an integer parameter needs 'quniform' with an integer q, or 'choice'")
        return self

    @property
    def integral(self) -> bool:
        return False


class Uniform(_Range):
    type: Literal["uniform"] = "uniform"

    def hyperopt(self, name: str) -> Any:
        from hyperopt import hp

        return hp.uniform(name, float(self.low), float(self.high))


class LogUniform(_Range):
    type: Literal["loguniform"] = "loguniform"

    @model_validator(mode="after")
    def _positive(self) -> LogUniform:
        if self.low <= 0:
            raise ValueError("loguniform needs low > 0")
        return self

    def hyperopt(self, name: str) -> Any:
        from hyperopt import hp

        return hp.loguniform(name, math.log(self.low), math.log(self.high))


class QUniform(_Range):
    type: Literal["quniform"] = "quniform"
    q: Annotated[Number, Field(gt=0)]

    @property
    def integral(self) -> bool:
        return float(self.q).is_integer()

    def hyperopt(self, name: str) -> Any:
        from hyperopt import hp

        return hp.quniform(name, float(self.low), float(self.high), float(self.q))

    def plain(self, sampled: Any) -> Any:
        # Integer parameters only take quniform with an integer q (``fits``): their samples are ints.
        value = super().plain(sampled)
        return round(value) if self.integral else value


class Choice(_Entry):
    type: Literal["choice"] = "choice"
    options: Annotated[list[Any], Field(min_length=1)]

    def fits(self, name: str, field: ParamField) -> Choice:
        try:
            return Choice(options=[field.lenient().coerce(option) for option in self.options])
        except InvalidValue as exc:
            raise SpecError(str(exc)) from None

    def hyperopt(self, name: str) -> Any:
        from hyperopt import hp

        # Indices, mapped back by ``plain``: hyperopt turns list options (e.g. lags [1, 2]) into tuples.
        return hp.choice(name, list(range(len(self.options))))

    def plain(self, sampled: Any) -> Any:
        return self.options[int(sampled)]

    def metric(self, value: Any) -> float | None:
        # A choice is logged as its option's index (metrics are numbers); -1 for a value not among them.
        return float(self.options.index(value)) if value in self.options else -1.0


SpaceEntry = Annotated[Uniform | LogUniform | QUniform | Choice, Field(discriminator="type")]
_ENTRY: TypeAdapter[Uniform | LogUniform | QUniform | Choice] = TypeAdapter(SpaceEntry)

# What a refused key of an entry means ({kind}: the entry's type).
_KEY_MESSAGES: dict[str, str] = {
    "low": "{kind} needs numeric 'low' and 'high'",
    "high": "{kind} needs numeric 'low' and 'high'",
    "q": "quniform needs a positive 'q'",
    "options": "a choice needs a non-empty 'options' list",
}


def parse_entry(name: str, spec: Any) -> Uniform | LogUniform | QUniform | Choice:
    """One entry of a search space, or SpecError naming the parameter and what is wrong."""
    if not isinstance(spec, dict):
        raise SpecError(f"{name}: expected an object with a 'type'")
    try:
        return _ENTRY.validate_python(spec)
    except ValidationError as exc:
        raise SpecError(f"{name}: {_entry_message(exc, spec)}") from None


def _entry_message(exc: ValidationError, spec: dict[str, Any]) -> str:
    errors = exc.errors()
    kind = spec.get("type")
    if errors[0]["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return f"type {quote(kind)} is not one of {', '.join(SPACE_TYPES)}"
    unknown = sorted(str(e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden")
    if unknown:
        return f"unknown key(s) {', '.join(unknown)}"
    first = errors[0]
    if first["type"] == "value_error":
        return str(first["ctx"]["error"])
    key = next((str(part) for part in first["loc"][1:] if str(part) in _KEY_MESSAGES), "")
    return _KEY_MESSAGES.get(key, f"{kind}: {first['msg']}").format(kind=kind)


def check_space(space: Any, fields: list[ParamField] | tuple[ParamField, ...]) -> dict[str, Any]:
    """A search space checked against the parameters' fields; its normalised JSON (SpecError otherwise)."""
    if space is None:
        return {}
    if not isinstance(space, dict):
        raise SpecError("expected an object {parameter: {type, ...}}")
    by_name = {f.name: f for f in fields}
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if name not in by_name:
            raise SpecError(f"{name}: not a parameter of this algorithm")
        out[name] = parse_entry(name, spec).fits(name, by_name[name]).model_dump()
    return out


def parse_space(space: dict[str, Any]) -> dict[str, Uniform | LogUniform | QUniform | Choice]:
    """Every entry of a search space (already checked by the platform) as its model."""
    return {name: parse_entry(name, spec) for name, spec in space.items()}
