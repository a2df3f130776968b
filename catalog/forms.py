"""Algorithm hyperparameter forms: the ``form_config`` schema, its search space, and parameter validation.

A form_config is ``{"fields": [field, ...]}``; each field has ``name``, ``type`` (see ``FIELD_TYPES``) and
optionally ``label``, ``default``, ``min``, ``max``, ``options``, ``help``, ``required``, ``item_type`` (list
fields only) and ``depends_on`` (``{"other_field": value}``; a list value means "any of these"). A field
whose ``depends_on`` is not met is inactive: it takes no value and may not be given one.

A search space is hyperopt-style, ``{"param": {"type": "uniform"|"loguniform"|"quniform"|"choice", ...}}``.
``low``/``high`` are in the parameter's own units for every type (also ``loguniform``: the training side
takes their logarithm for hyperopt).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from catalog.errors import ValidationError, quote

FIELD_TYPES = ("int", "float", "bool", "str", "choice", "list", "regex_list")
LIST_ITEM_TYPES = ("int", "float", "str")
SPACE_TYPES = ("uniform", "loguniform", "quniform", "choice")

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIELD_KEYS = {
    "name", "type", "label", "default", "min", "max", "options", "help", "depends_on", "required", "item_type"
}
_SPACE_KEYS = {"type", "low", "high", "q", "options"}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class InvalidValue(ValueError):
    """One value or one field definition refused; the message starts with the field's name."""


class FormValidationError(ValidationError):
    """Parameters refused; ``errors`` maps each offending field (or ``"*"``) to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class FormField:
    """One field of a form_config, parsed; what a UI needs to render it."""

    name: str
    type: str
    label: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    options: tuple[Any, ...] | None = None
    help: str = ""
    required: bool = False
    item_type: str = "str"
    depends_on: dict[str, Any] = field(default_factory=dict)

    def is_active(self, values: dict[str, Any]) -> bool:
        """Whether this field applies given the (already resolved) values of the fields it depends on."""
        for dep, expected in self.depends_on.items():
            if dep not in values:
                return False
            actual = values[dep]
            if isinstance(expected, list) and not any(_same(actual, e) for e in expected):
                return False
            if not isinstance(expected, list) and not _same(actual, expected):
                return False
        return True


def _same(a: Any, b: Any) -> bool:
    # True == 1 in Python; a bool option must only match a bool value.
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ---------------------------------------------------------------- value coercion (one field, one value)


def _coerce_scalar(kind: str, value: Any, label: str) -> Any:
    """Value as ``kind`` (int/float/str/bool), accepting the string forms a CLI or a form would send."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise InvalidValue(f"{label}: {quote(value)} is not a boolean (true or false)")
    if kind == "int":
        if isinstance(value, str):
            try:
                value = float(value.strip()) if "." in value or "e" in value.lower() else int(value.strip())
            except ValueError:
                raise InvalidValue(f"{label}: {quote(value)} is not an integer") from None
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise InvalidValue(f"{label}: {quote(value)} is not an integer")
    if kind == "float":
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise InvalidValue(f"{label}: {quote(value)} is not a number") from None
        if _number(value) and math.isfinite(value):
            return float(value)
        raise InvalidValue(f"{label}: {quote(value)} is not a finite number")
    if isinstance(value, str):
        return value
    raise InvalidValue(f"{label}: {quote(value)} is not a string")


def _check_range(f: FormField, value: float, label: str) -> None:
    if f.min is not None and value < f.min:
        raise InvalidValue(f"{label}: {quote(value)} is below the minimum {quote(f.min)}")
    if f.max is not None and value > f.max:
        raise InvalidValue(f"{label}: {quote(value)} is above the maximum {quote(f.max)}")


def _split_text(value: str, sep: str) -> list[str]:
    return [part.strip() for part in value.split(sep) if part.strip()]


def coerce_value(f: FormField, value: Any) -> Any:
    """``value`` converted to the field's type and checked against its bounds and options (InvalidValue)."""
    if value is None:
        if f.required:
            raise InvalidValue(f"{f.name}: a value is required")
        return None
    if f.type in ("int", "float"):
        result = _coerce_scalar(f.type, value, f.name)
        _check_range(f, result, f.name)
        return result
    if f.type in ("bool", "str"):
        return _coerce_scalar(f.type, value, f.name)
    if f.type == "choice":
        options = f.options or ()
        for option in options:
            if _same(value, option):
                return option
        # A CLI or a text input sends strings; accept the spelling of an option too.
        if isinstance(value, str):
            for option in options:
                if isinstance(option, str | int | float | bool) and str(option).lower() == value.strip().lower():
                    return option
        valid = ", ".join(repr(o) for o in options)
        raise InvalidValue(f"{f.name}: {quote(value)} is not one of {valid}")
    if f.type == "regex_list":
        items = _split_text(value, "\n") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise InvalidValue(f"{f.name}: expected a list of regular expressions")
        for i, item in enumerate(items, 1):
            if not isinstance(item, str):
                raise InvalidValue(f"{f.name}: item {i} ({quote(item)}) is not a string")
            try:
                re.compile(item)
            except re.error as exc:
                raise InvalidValue(f"{f.name}: item {i} ({quote(item)}) is not a valid regular expression: {exc}") from None
        return list(items)
    # list
    items = _split_text(value, ",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise InvalidValue(f"{f.name}: expected a list of {f.item_type} values")
    result_items = []
    for i, item in enumerate(items, 1):
        label = f"{f.name} item {i}"
        item = _coerce_scalar(f.item_type, item, label)
        if f.item_type in ("int", "float"):
            _check_range(f, item, label)
        if f.options is not None and not any(_same(item, o) for o in f.options):
            valid = ", ".join(repr(o) for o in f.options)
            raise InvalidValue(f"{label}: {quote(item)} is not one of {valid}")
        result_items.append(item)
    return result_items


# ---------------------------------------------------------------- form_config structure


def _parse_field(raw: Any, index: int) -> FormField:
    if not isinstance(raw, dict):
        raise InvalidValue(f"field {index}: expected an object, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidValue(f"field {index}: 'name' must be an identifier (letters, digits, underscore), got {quote(name)}")
    unknown = sorted(set(raw) - _FIELD_KEYS)
    if unknown:
        raise InvalidValue(f"{name}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_FIELD_KEYS))}")
    ftype = raw.get("type")
    if ftype not in FIELD_TYPES:
        raise InvalidValue(f"{name}: type {quote(ftype)} is not one of {', '.join(FIELD_TYPES)}")
    item_type = raw.get("item_type") or "str"
    if raw.get("item_type") is not None and ftype != "list":
        raise InvalidValue(f"{name}: 'item_type' only applies to list fields")
    if item_type not in LIST_ITEM_TYPES:
        raise InvalidValue(f"{name}: item_type {quote(item_type)} is not one of {', '.join(LIST_ITEM_TYPES)}")
    numeric = ftype in ("int", "float") or (ftype == "list" and item_type in ("int", "float"))
    bounds: dict[str, float | None] = {}
    for key in ("min", "max"):
        bound = raw.get(key)
        if bound is not None and not numeric:
            raise InvalidValue(f"{name}: '{key}' only applies to numeric fields")
        if bound is not None and not (_number(bound) and math.isfinite(bound)):
            raise InvalidValue(f"{name}: '{key}' must be a number, got {quote(bound)}")
        bounds[key] = bound
    if bounds["min"] is not None and bounds["max"] is not None and bounds["min"] > bounds["max"]:
        raise InvalidValue(f"{name}: min {quote(bounds['min'])} is above max {quote(bounds['max'])}")
    options = raw.get("options")
    if options is not None and ftype not in ("choice", "list"):
        raise InvalidValue(f"{name}: 'options' only applies to choice and list fields")
    if ftype == "choice" and (not isinstance(options, list) or not options):
        raise InvalidValue(f"{name}: a choice field needs a non-empty 'options' list")
    if options is not None:
        if not isinstance(options, list) or not options:
            raise InvalidValue(f"{name}: 'options' must be a non-empty list")
        if any(isinstance(o, dict | list) for o in options):
            raise InvalidValue(f"{name}: options must be plain values (strings, numbers, booleans)")
    depends_on = raw.get("depends_on") or {}
    if not isinstance(depends_on, dict):
        raise InvalidValue(f"{name}: 'depends_on' must be an object {{field: value}}")
    required = raw.get("required", False)
    if not isinstance(required, bool):
        raise InvalidValue(f"{name}: 'required' must be true or false")
    if any(raw.get(key) is not None and not isinstance(raw[key], str) for key in ("label", "help")):
        raise InvalidValue(f"{name}: 'label' and 'help' must be strings")
    parsed = FormField(
        name=name, type=ftype, label=raw.get("label") or name, default=raw.get("default"),
        min=bounds["min"], max=bounds["max"], options=tuple(options) if options is not None else None,
        help=raw.get("help") or "", required=required, item_type=item_type, depends_on=dict(depends_on),
    )
    if parsed.default is not None:
        try:
            coerced = coerce_value(parsed, parsed.default)
        except ValueError as exc:
            raise InvalidValue(f"default of {exc}") from None
        parsed = FormField(**{**parsed.__dict__, "default": coerced})
    return parsed


def _ordered(fields: list[FormField]) -> list[FormField]:
    """Fields with every dependency before its dependents (a cycle is refused)."""
    by_name = {f.name: f for f in fields}
    done: dict[str, FormField] = {}
    visiting: set[str] = set()

    def visit(f: FormField) -> None:
        if f.name in done:
            return
        if f.name in visiting:
            raise InvalidValue(f"{f.name}: depends_on forms a cycle")
        visiting.add(f.name)
        for dep in f.depends_on:
            visit(by_name[dep])
        visiting.discard(f.name)
        done[f.name] = f

    for f in fields:
        visit(f)
    return list(done.values())


def parse_form(form_config: Any) -> list[FormField]:
    """The fields of a form_config in display order, or ValidationError saying what is malformed."""
    try:
        if not isinstance(form_config, dict) or not isinstance(form_config.get("fields"), list):
            raise InvalidValue('form_config must be an object with a "fields" list')
        extra = sorted(set(form_config) - {"fields"})
        if extra:
            raise InvalidValue(f"form_config: unknown key(s) {', '.join(extra)}")
        fields = [_parse_field(raw, i) for i, raw in enumerate(form_config["fields"], 1)]
        by_name: dict[str, FormField] = {}
        for f in fields:
            if f.name in by_name:
                raise InvalidValue(f"{f.name}: defined twice")
            by_name[f.name] = f
        for f in fields:
            for dep, expected in f.depends_on.items():
                if dep == f.name or dep not in by_name:
                    raise InvalidValue(f"{f.name}: depends_on refers to unknown field {quote(dep)}")
                target = by_name[dep]
                if target.type in ("list", "regex_list"):
                    raise InvalidValue(f"{f.name}: cannot depend on list field {quote(dep)}")
                for value in expected if isinstance(expected, list) else [expected]:
                    try:
                        coerce_value(FormField(**{**target.__dict__, "required": False}), value)
                    except ValueError as exc:
                        raise InvalidValue(f"{f.name}: depends_on value is impossible: {exc}") from None
        _ordered(fields)
    except ValueError as exc:
        raise ValidationError(f"invalid form_config: {exc}") from None
    return fields


def validate_form_config(form_config: Any) -> dict[str, Any]:
    """Check a form_config's structure (used when admins edit it); returns it with defaults normalised."""
    fields = parse_form(form_config)
    out = []
    for raw, parsed in zip(form_config["fields"], fields, strict=True):
        item = dict(raw)
        if parsed.default is not None:
            item["default"] = parsed.default
        out.append(item)
    return {"fields": out}


# ---------------------------------------------------------------- parameters and search spaces


def validate_params(form_config: Any, params: dict[str, Any] | None) -> dict[str, Any]:
    """Parameters checked against the form: defaults filled, values coerced, every error named by field.

    The result holds every active field (None for an optional field left empty) in form order.
    """
    fields = parse_form(form_config)
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise FormValidationError({"*": "parameters must be an object {name: value}"})
    errors: dict[str, str] = {}
    by_name = {f.name: f for f in fields}
    unknown = [k for k in params if k not in by_name]
    if unknown:
        names = ", ".join(str(k) if len(str(k)) <= 40 else quote(str(k), 40) for k in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        errors["*"] = f"unknown parameter(s): {names}{more}; expected: {', '.join(by_name)}"
    values: dict[str, Any] = {}
    failed: set[str] = set()
    for f in _ordered(fields):
        if any(dep in failed for dep in f.depends_on):
            failed.add(f.name)
            continue
        if not f.is_active(values):
            if params.get(f.name) is not None:
                conditions = " and ".join(f"{d} is {quote(v)}" for d, v in f.depends_on.items())
                errors[f.name] = f"{f.name}: only applies when {conditions}"
            continue
        # None is what an empty form input sends: it means "not given", so the default applies.
        raw = f.default if params.get(f.name) is None else params[f.name]
        try:
            values[f.name] = coerce_value(f, raw)
        except ValueError as exc:
            errors[f.name] = str(exc)
            failed.add(f.name)
    if errors:
        raise FormValidationError(errors)
    return {f.name: values[f.name] for f in fields if f.name in values}


def _space_entry(name: str, spec: Any, f: FormField) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise InvalidValue(f"{name}: expected an object with a 'type'")
    unknown = sorted(set(spec) - _SPACE_KEYS)
    if unknown:
        raise InvalidValue(f"{name}: unknown key(s) {', '.join(unknown)}")
    kind = spec.get("type")
    if kind not in SPACE_TYPES:
        raise InvalidValue(f"{name}: type {quote(kind)} is not one of {', '.join(SPACE_TYPES)}")
    if kind == "choice":
        options = spec.get("options")
        if not isinstance(options, list) or not options:
            raise InvalidValue(f"{name}: a choice needs a non-empty 'options' list")
        lenient = FormField(**{**f.__dict__, "required": False})
        return {"type": "choice", "options": [coerce_value(lenient, o) for o in options]}
    if f.type not in ("int", "float"):
        raise InvalidValue(f"{name}: only numeric parameters take {kind}; use 'choice' for a {f.type} field")
    low, high = spec.get("low"), spec.get("high")
    if not (_number(low) and _number(high)) or not (math.isfinite(low) and math.isfinite(high)):
        raise InvalidValue(f"{name}: {kind} needs numeric 'low' and 'high'")
    if low >= high:
        raise InvalidValue(f"{name}: low {quote(low)} must be below high {quote(high)}")
    if f.min is not None and low < f.min:
        raise InvalidValue(f"{name}: low {quote(low)} is below the parameter's minimum {quote(f.min)}")
    if f.max is not None and high > f.max:
        raise InvalidValue(f"{name}: high {quote(high)} is above the parameter's maximum {quote(f.max)}")
    if kind == "loguniform" and low <= 0:
        raise InvalidValue(f"{name}: loguniform needs low > 0")
    entry: dict[str, Any] = {"type": kind, "low": low, "high": high}
    if kind == "quniform":
        q = spec.get("q")
        if not _number(q) or q <= 0:
            raise InvalidValue(f"{name}: quniform needs a positive 'q'")
        entry["q"] = q
    if f.type == "int" and (kind != "quniform" or not float(entry["q"]).is_integer()):
        raise InvalidValue(f"{name}: an integer parameter needs 'quniform' with an integer q, or 'choice'")
    return entry


def validate_search_space(space: Any, form_config: Any) -> dict[str, Any]:
    """A hyperopt-style search space checked against the form's fields; returns a normalised copy."""
    fields = {f.name: f for f in parse_form(form_config)}
    if space is None:
        return {}
    if not isinstance(space, dict):
        raise ValidationError("invalid search space: expected an object {parameter: {type, ...}}")
    out: dict[str, Any] = {}
    try:
        for name, spec in space.items():
            if name not in fields:
                raise InvalidValue(f"{name}: not a parameter of this algorithm")
            out[name] = _space_entry(name, spec, fields[name])
    except ValueError as exc:
        raise ValidationError(f"invalid search space: {exc}") from None
    return out
