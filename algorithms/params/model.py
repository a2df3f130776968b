"""``ParamModel``: the one declaration of an algorithm's parameters, and what is derived from it.

Each parameter is a pydantic field declared with ``param``: its type (``int``, ``float``, ``bool``, ``str``, a
``Literal`` of choices, a ``list`` of those — bounds of a list's items on the item type —, or ``RegexList``),
default, bounds (``ge``/``le``), label and help, and when it applies (``depends_on``). ``TUNING`` is the search
space offered for tuning, checked against the fields. Rules across fields are the model's own validators.

Derived: ``fields()`` (the ``ParamField``s a form shows), ``form_config()`` and ``search_space()`` (what the
algorithm's preset in ``catalog/presets/`` must hold; tests/algorithms/test_params.py holds every preset to
them), and ``resolve()``, the parameters an algorithm trains with. A declaration that is not a valid form —
a default outside its bounds, a depends_on naming no field, a search space outside a parameter's range —
fails when its class is defined.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from algorithms.params.fields import ParamField
from algorithms.params.form import check_fields, resolve_values
from algorithms.params.space import Choice, LogUniform, QUniform, Uniform, check_space


class _RegexListMarker:
    def __repr__(self) -> str:
        return "REGEX_LIST"


REGEX_LIST = _RegexListMarker()
# A list of regular expressions (a form's ``regex_list``: one per line in a text input).
RegexList = Annotated[list[str], REGEX_LIST]
# Python type of a parameter (or of a list's items) → its form field type.
_FIELD_TYPES: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}


class ParamError(ValueError):
    """Parameters refused; ``errors`` maps each offending parameter (or ``"*"``) to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def param(
    default: Any,
    *,
    label: str,
    help: str,
    ge: float | None = None,
    le: float | None = None,
    depends_on: dict[str, Any] | None = None,
    required: bool = False,
) -> Any:
    """One parameter's declaration (a pydantic ``Field``): ``label`` and ``help`` are what a form shows,
    ``depends_on`` when it applies, ``required`` that a form must be given a value (for a None default)."""
    extra = {"depends_on": depends_on or {}, "required": required}
    return Field(default, title=label, description=help, ge=ge, le=le, json_schema_extra=extra)


class ParamModel(BaseModel):
    """Base of the algorithms' parameter models; a resolved set of parameters is one of its instances."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    #: The search space an algorithm's preset offers (parameter → entry).
    TUNING: ClassVar[dict[str, Uniform | LogUniform | QUniform | Choice]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.search_space()  # derives (and so checks) the fields and the search space now

    @classmethod
    def fields(cls) -> tuple[ParamField, ...]:
        """The parameters as form fields, in declaration order."""
        return _fields_of(cls)

    @classmethod
    def form_config(cls) -> dict[str, Any]:
        """The form_config of the algorithm's preset."""
        return {"fields": [f.form_entry() for f in cls.fields()]}

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """``TUNING`` as the preset's search_space JSON, checked against the fields (SpecError otherwise)."""
        return check_space({name: entry.model_dump() for name, entry in cls.TUNING.items()}, cls.fields())

    @classmethod
    def resolve(cls, params: Mapping[str, Any], *, algorithm: str) -> dict[str, Any]:
        """Parameters to train with: defaults filled in, values read as their fields read them, the model's
        rules checked; only the fields that apply (ParamError naming each bad one otherwise).

        A value for a field whose depends_on is not met is dropped, not refused: tuning lays sampled values
        over resolved ones (``Algorithm.tuning_params``), so such values are expected there."""
        fields = cls.fields()
        known = [f.name for f in fields]
        unknown = sorted(str(name) for name in set(params) - set(known))
        if unknown:
            raise ParamError({"*": f"unknown parameter(s) {unknown} for {algorithm}; known: {sorted(known)}"})
        values, problems = resolve_values(fields, params, inactive="drop")
        if problems:
            raise ParamError({name: problem.say("log") for name, problem in problems.items()})
        try:
            resolved = cls.model_validate(values)
        except ValidationError as exc:
            raise ParamError(_rule_errors(exc)) from None
        return resolved.model_dump(include=set(values))


def _rule_errors(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else "*"
        cause = (error.get("ctx") or {}).get("error")
        out[key] = str(cause) if cause is not None else f"{key}: {error['msg']}"
    return out


@cache
def _fields_of(model: type[ParamModel]) -> tuple[ParamField, ...]:
    fields = tuple(_field_of(name, info) for name, info in model.model_fields.items())
    check_fields(fields)
    return fields


def _field_of(name: str, info: FieldInfo) -> ParamField:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    try:
        facts = _describe(_without_none(info.annotation), info.metadata)
    except TypeError as exc:
        raise TypeError(f"{name}: {exc}") from None
    declared = {
        "name": name,
        "label": info.title or name,
        "help": info.description or "",
        "default": info.get_default(call_default_factory=True),
        "required": bool(extra.get("required")),
        "depends_on": extra.get("depends_on") or {},
    }
    return ParamField.parse(declared | facts, name)


def _describe(annotation: Any, metadata: list[Any]) -> dict[str, Any]:
    """The form field facts a type states: its field type, bounds, options (and a list's item type)."""
    origin = get_origin(annotation)
    if origin is Literal:
        return {"type": "choice", "options": get_args(annotation)}
    if origin is list and REGEX_LIST in metadata:
        return {"type": "regex_list"}
    if origin is list:
        item, item_metadata = _unwrap(get_args(annotation)[0])
        facts = _describe(item, item_metadata)
        options = facts.get("options")
        item_type = _FIELD_TYPES[type(options[0])] if options else facts["type"]
        return facts | {"type": "list", "item_type": item_type}
    if annotation not in _FIELD_TYPES:
        raise TypeError(
            f"{annotation!r} is not a parameter type: int, float, bool, str, a Literal, a list of those or RegexList"
        )
    return {"type": _FIELD_TYPES[annotation], **_bounds(metadata)}


def _bounds(metadata: list[Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in metadata:
        if isinstance(item, FieldInfo):
            out |= _bounds(item.metadata)
        if getattr(item, "ge", None) is not None:
            out["min"] = item.ge
        if getattr(item, "le", None) is not None:
            out["max"] = item.le
    return out


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        return base, metadata
    return annotation, []


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        (kept,) = [arg for arg in get_args(annotation) if arg is not type(None)]
        return kept
    return annotation
