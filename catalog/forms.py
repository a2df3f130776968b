"""Algorithm hyperparameter forms as the catalog stores them: a ``form_config`` checked (admins edit it), a
job's parameters checked against it, and the search space offered for tuning.

A form_config is ``{"fields": [field, ...]}``; each field has ``name``, ``type`` (int, float, bool, str,
choice, list, regex_list) and optionally ``label``, ``default``, ``min``, ``max``, ``options``, ``help``,
``required``, ``item_type`` (list fields only) and ``depends_on`` (``{"other_field": value}``; a list value
means "any of these"). A field whose ``depends_on`` is not met is inactive: it takes no value and may not be
given one.

A search space is hyperopt-style, ``{"param": {"type": "uniform"|"loguniform"|"quniform"|"choice", ...}}``.
``low``/``high`` are in the parameter's own units for every type (also ``loguniform``: the training side
takes their logarithm for hyperopt).

The form machinery is the algorithms' own (``algorithms.params``: ``ParamField``, the model every algorithm's
parameters are declared by and derive their preset's form from), so a form reads a value exactly as the
algorithm will; this module turns what it refuses into the catalog's errors, each message naming its field.
"""

from __future__ import annotations

from typing import Any

from algorithms.params.fields import ParamField, SpecError
from algorithms.params.form import parse_form as parse_fields
from algorithms.params.form import resolve_values
from algorithms.params.space import check_space
from catalog.errors import ValidationError, quote

# One field of a form, parsed: what a UI needs to render it.
FormField = ParamField


class FormValidationError(ValidationError):
    """Parameters refused; ``errors`` maps each offending field (or ``"*"``) to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def coerce_value(f: FormField, value: Any) -> Any:
    """``value`` converted to the field's type and checked against its bounds and options (ValueError)."""
    return f.coerce(value)


def parse_form(form_config: Any) -> list[FormField]:
    """The fields of a form_config in display order, or ValidationError saying what is malformed."""
    try:
        return parse_fields(form_config)
    except SpecError as exc:
        raise ValidationError(f"invalid form_config: {exc}") from None


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


def validate_params(form_config: Any, params: dict[str, Any] | None) -> dict[str, Any]:
    """Parameters checked against the form: defaults filled, values coerced, every error named by field.

    The result holds every active field (None for an optional field left empty) in form order.
    """
    fields = parse_form(form_config)
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise FormValidationError({"*": "parameters must be an object {name: value}"})
    errors: dict[str, str] = {}
    names = [f.name for f in fields]
    unknown = [k for k in params if k not in names]
    if unknown:
        listed = ", ".join(str(k) if len(str(k)) <= 40 else quote(str(k), 40) for k in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        errors["*"] = f"unknown parameter(s): {listed}{more}; expected: {', '.join(names)}"
    values, problems = resolve_values(fields, params, inactive="refuse")
    errors |= {name: str(problem) for name, problem in problems.items()}
    if errors:
        raise FormValidationError(errors)
    return values


def validate_search_space(space: Any, form_config: Any) -> dict[str, Any]:
    """A hyperopt-style search space checked against the form's fields; returns a normalised copy."""
    fields = parse_form(form_config)
    try:
        return check_space(space, fields)
    except SpecError as exc:
        raise ValidationError(f"invalid search space: {exc}") from None
