"""One parameter as a form shows it: ``ParamField``, a field of a form_config, and how a value of each field
type is read and checked (``KINDS``).

A field has ``name``, ``type`` (``FIELD_TYPES``) and optionally ``label``, ``default``, ``min``, ``max``,
``options``, ``help``, ``required``, ``item_type`` (list fields only) and ``depends_on`` (``{"other_field":
value}``; a list value means "any of these"). The algorithms' parameter models export their fields as
``ParamField``s (``algorithms.params.model``); the catalog parses the form_configs it stores into the same
model (``catalog.forms``), so both read a value alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from algorithms.params.values import SCALARS, InvalidValue, quote, same

FIELD_TYPES: tuple[str, ...] = ("int", "float", "bool", "str", "choice", "list", "regex_list")
LIST_ITEM_TYPES: tuple[str, ...] = ("int", "float", "str")
NUMERIC: frozenset[str] = frozenset({"int", "float"})
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"

FieldType = Literal["int", "float", "bool", "str", "choice", "list", "regex_list"]
ItemType = Literal["int", "float", "str"]
Number = StrictInt | Annotated[StrictFloat, AllowInfNan(False)]
Plain = StrictBool | StrictInt | StrictFloat | StrictStr


class SpecError(ValueError):
    """A form_config (or a search space) refused; the message starts with the field's name."""


# What a malformed key of a field means, by the key pydantic refused (``options[]``: one of its items).
_KEY_MESSAGES: dict[str, str] = {
    "": "field {index}: expected an object, got {kind}",
    "name": "field {index}: 'name' must be an identifier (letters, digits, underscore), got {value}",
    "type": "{name}: type {value} is not one of " + ", ".join(FIELD_TYPES),
    "item_type": "{name}: item_type {value} is not one of " + ", ".join(LIST_ITEM_TYPES),
    "min": "{name}: 'min' must be a number, got {value}",
    "max": "{name}: 'max' must be a number, got {value}",
    "options": "{name}: 'options' must be a non-empty list",
    "options[]": "{name}: options must be plain values (strings, numbers, booleans)",
    "depends_on": "{name}: 'depends_on' must be an object {{field: value}}",
    "required": "{name}: 'required' must be true or false",
    "label": "{name}: 'label' and 'help' must be strings",
    "help": "{name}: 'label' and 'help' must be strings",
}


class ParamField(BaseModel):
    """One field of a form_config: what a UI needs to render it and what ``coerce`` checks a value against."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[StrictStr, StringConstraints(pattern=IDENTIFIER)]
    type: FieldType
    label: StrictStr = ""
    default: Any = None
    min: Number | None = None
    max: Number | None = None
    options: tuple[Plain, ...] | None = None
    help: StrictStr = ""
    required: StrictBool = False
    item_type: ItemType = "str"
    depends_on: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _consistent(cls, raw: Any, handler: ValidatorFunctionWrapHandler) -> ParamField:
        if isinstance(raw, dict):
            # An absent key and a null one mean the same; a field without a label shows its name.
            raw = {k: v for k, v in raw.items() if v is not None or k == "required"}
            raw["label"] = raw.get("label") or raw.get("name")
        field: ParamField = handler(raw)
        broken = next((message for message, rule in _RULES if rule(field)), None)
        if broken:
            raise ValueError(broken.format(name=field.name, min=quote(field.min), max=quote(field.max)))
        if field.default is None or not isinstance(raw, dict):
            return field
        try:
            default = field.coerce(field.default)
        except InvalidValue as exc:
            raise ValueError(f"default of {exc}") from None
        # Built again with the default as read (a "3" given for an int becomes 3): the model is frozen.
        return handler({**raw, "default": default})  # type: ignore[no-any-return]

    @classmethod
    def parse(cls, raw: Any, index: int | str = "?") -> ParamField:
        """A field from its JSON (``index``: its place in the form, for messages), or SpecError saying what
        is malformed."""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise SpecError(_field_message(exc, raw, index)) from None

    @property
    def numeric(self) -> bool:
        """Whether ``min``/``max`` apply: numbers, and lists of numbers (to each item)."""
        return self.type in NUMERIC or (self.type == "list" and self.item_type in NUMERIC)

    def is_active(self, values: dict[str, Any]) -> bool:
        """Whether this field applies given the (already resolved) values of the fields it depends on."""
        for dep, expected in self.depends_on.items():
            if dep not in values:
                return False
            choices = expected if isinstance(expected, list) else [expected]
            if not any(same(values[dep], e) for e in choices):
                return False
        return True

    def coerce(self, value: Any) -> Any:
        """``value`` converted to the field's type and checked against its bounds and options (InvalidValue);
        None is "no value", refused only when the field is required."""
        if value is None:
            if self.required:
                raise InvalidValue("required", self.name)
            return None
        return KINDS[self.type](self, value)

    def lenient(self) -> ParamField:
        """The same field, not required: for checking candidate values (search space options, depends_on)."""
        return self.model_copy(update={"required": False})

    def form_entry(self) -> dict[str, Any]:
        """The field as a form_config holds it (keys left out when they say nothing)."""
        entry: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "label": self.label,
            "default": self.default,
        }
        optional = {
            "min": self.min,
            "max": self.max,
            "options": list(self.options) if self.options is not None else None,
            "item_type": self.item_type if self.type == "list" else None,
            "depends_on": self.depends_on or None,
            "required": self.required or None,
        }
        return entry | {k: v for k, v in optional.items() if v is not None} | {"help": self.help}


# Rules across a field's keys, checked in order once each key is well-formed: (message, broken when).
_RULES: tuple[tuple[str, Callable[[ParamField], bool]], ...] = (
    (
        "{name}: 'item_type' only applies to list fields",
        lambda f: "item_type" in f.model_fields_set and f.type != "list",
    ),
    ("{name}: 'min' only applies to numeric fields", lambda f: f.min is not None and not f.numeric),
    ("{name}: 'max' only applies to numeric fields", lambda f: f.max is not None and not f.numeric),
    (
        "{name}: min {min} is above max {max}",
        lambda f: f.min is not None and f.max is not None and f.min > f.max,
    ),
    (
        "{name}: 'options' only applies to choice and list fields",
        lambda f: f.options is not None and f.type not in ("choice", "list"),
    ),
    (
        "{name}: a choice field needs a non-empty 'options' list",
        lambda f: f.type == "choice" and not f.options,
    ),
    ("{name}: 'options' must be a non-empty list", lambda f: f.options == ()),
)


def _field_message(exc: ValidationError, raw: Any, index: int | str) -> str:
    """The one message for a refused field: a bad name first (every other message starts with it), then
    unknown keys, then the first other problem."""
    errors = exc.errors()
    given = raw if isinstance(raw, dict) else {}
    facts = {"index": index, "kind": type(raw).__name__, "name": given.get("name")}
    for key in ("", "name"):
        if any(_key(e["loc"]) == key and e["type"] != "value_error" for e in errors):
            return _KEY_MESSAGES[key].format(**facts, value=quote(given.get(key)))
    unknown = [str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        allowed = ", ".join(sorted(ParamField.model_fields))
        return f"{facts['name']}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {allowed}"
    first = errors[0]
    if first["type"] == "value_error":
        return str(first["ctx"]["error"])
    key = _key(first["loc"])
    message = _KEY_MESSAGES.get(
        key, "{name}: " + key + ": " + first["msg"].replace("{", "{{").replace("}", "}}")
    )
    return message.format(**facts, value=quote(given.get(key)))


def _key(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return ""
    return "options[]" if loc[0] == "options" and len(loc) > 1 else str(loc[0])


# ---------------------------------------------------------------- reading a value, by field type


def _bound(value: float | None, unbounded: str) -> str:
    return unbounded if value is None else quote(value)


def _in_range(f: ParamField, value: float, label: str) -> float:
    facts = {"value": quote(value), "min": _bound(f.min, "-inf"), "max": _bound(f.max, "inf")}
    if f.min is not None and value < f.min:
        raise InvalidValue("below", label, **facts)
    if f.max is not None and value > f.max:
        raise InvalidValue("above", label, **facts)
    return value


def _options(options: tuple[Any, ...] | None) -> str:
    return ", ".join(repr(o) for o in options or ())


def _scalar(f: ParamField, value: Any) -> Any:
    result = SCALARS[f.type](value, f.name)
    return _in_range(f, result, f.name) if f.type in NUMERIC else result


def _choice(f: ParamField, value: Any) -> Any:
    options = f.options or ()
    exact = next((o for o in options if same(value, o)), None)
    if exact is not None:
        return exact
    # A CLI or a text input sends strings: an option's spelling matches it too (either case).
    spelling = value.strip().lower() if isinstance(value, str) else None
    spelt = next((o for o in options if str(o).lower() == spelling), None)
    if spelt is not None:
        return spelt
    raise InvalidValue("not_option", f.name, value=quote(value), options=_options(options))


def _split(value: str, separator: str) -> list[str]:
    return [part.strip() for part in value.split(separator) if part.strip()]


def _list(f: ParamField, value: Any) -> list[Any]:
    items = _split(value, ",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise InvalidValue("not_list", f.name, item_type=f.item_type, value=quote(value))
    return [_item(f, item, f"{f.name} item {i}") for i, item in enumerate(items, 1)]


def _item(f: ParamField, item: Any, label: str) -> Any:
    item = SCALARS[f.item_type](item, label)
    if f.item_type in NUMERIC:
        _in_range(f, item, label)
    if f.options is not None and not any(same(item, o) for o in f.options):
        raise InvalidValue("not_option", label, value=quote(item), options=_options(f.options))
    return item


def _regex_list(f: ParamField, value: Any) -> list[str]:
    items = _split(value, "\n") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise InvalidValue("not_regex_list", f.name, value=quote(value))
    for i, item in enumerate(items, 1):
        if not isinstance(item, str):
            raise InvalidValue("item_not_str", f.name, item=i, value=quote(item))
        try:
            re.compile(item)
        except re.error as exc:
            raise InvalidValue("bad_regex", f.name, item=i, value=quote(item), error=exc) from None
    return list(items)


# Field type → how one value of it is read.
KINDS: dict[str, Callable[[ParamField, Any], Any]] = {
    "int": _scalar,
    "float": _scalar,
    "bool": _scalar,
    "str": _scalar,
    "choice": _choice,
    "list": _list,
    "regex_list": _regex_list,
}
