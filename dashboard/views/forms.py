"""Widgets generated from an algorithm's form_config, validated as they are filled in.

The form_config is parsed and every value checked by ``catalog.forms`` (the same code the training service
runs on submit), so the page can refuse before submitting exactly what the service would refuse: each field
shows its own error under it, and ``FormState.params`` is the validated parameters or None.

Field types: int and float → number inputs with their min/max; bool → checkbox; choice → select box; str →
text input; list → multiselect when it has options, otherwise comma-separated text; regex_list → one
expression per line. A field whose ``depends_on`` is not met is not shown (it takes no value). An optional
field without a default may be left empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from catalog.errors import ValidationError
from catalog.forms import FormField, FormValidationError, coerce_value, parse_form, validate_params


@dataclass
class FormState:
    """What the user entered: ``params`` validated (None while anything is wrong) and the errors by field."""

    params: dict[str, Any] | None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.params is not None


def display_order(fields: list[FormField]) -> list[FormField]:
    """Form order, except that a field comes after the fields it depends on (parse_form refused cycles)."""
    placed: dict[str, FormField] = {}
    pending = list(fields)
    while pending:
        rest = [f for f in pending if not all(dep in placed for dep in f.depends_on)]
        for f in pending:
            if f not in rest:
                placed[f.name] = f
        if len(rest) == len(pending):  # unreachable after parse_form; never loop forever
            placed.update({f.name: f for f in rest})
            break
        pending = rest
    return list(placed.values())


def _int_bounds(f: FormField) -> tuple[int | None, int | None]:
    lo = None if f.min is None else math.ceil(f.min)
    hi = None if f.max is None else math.floor(f.max)
    return lo, hi


def _help(f: FormField, extra: str = "") -> str | None:
    text = " ".join(part for part in (f.help, extra) if part)
    return text or None


def _widget(f: FormField, wkey: str) -> Any:
    """The widget of one field; returns the raw value (None for "left empty")."""
    label = f.label + (" *" if f.required else "")
    default = f.default
    if f.type == "bool":
        return st.checkbox(label, value=bool(default), help=_help(f), key=wkey)
    if f.type == "choice":
        options = list(f.options or ())
        index = options.index(default) if default in options else (0 if f.required else None)
        return st.selectbox(label, options, index=index, help=_help(f), key=wkey, format_func=str)
    if f.type == "int":
        lo, hi = _int_bounds(f)
        start = default if default is not None else (lo if f.required and lo is not None else None)
        return st.number_input(
            label, value=start, step=1, min_value=lo, max_value=hi, help=_help(f), key=wkey
        )
    if f.type == "float":
        lo = None if f.min is None else float(f.min)
        hi = None if f.max is None else float(f.max)
        start = float(default) if default is not None else (lo if f.required and lo is not None else None)
        return st.number_input(
            label, value=start, min_value=lo, max_value=hi, format="%.6g", help=_help(f), key=wkey
        )
    if f.type == "list" and f.options:
        chosen = [o for o in (default or []) if o in f.options]
        return st.multiselect(
            label, list(f.options), default=chosen, help=_help(f), key=wkey, format_func=str
        )
    if f.type == "list":
        text = st.text_input(
            label,
            value=", ".join(map(str, default or [])),
            help=_help(f, f"Comma-separated {f.item_type} values."),
            key=wkey,
        )
        return text if text.strip() else None
    if f.type == "regex_list":
        text = st.text_area(
            label,
            value="\n".join(map(str, default or [])),
            help=_help(f, "One regular expression per line."),
            key=wkey,
        )
        return text if text.strip() else None
    text = st.text_input(label, value="" if default is None else str(default), help=_help(f), key=wkey)
    return text if text != "" else None


def render_form(form_config: dict[str, Any], *, key: str) -> FormState:
    """Draw the form and validate what it holds; errors appear under their fields."""
    try:
        fields = parse_form(form_config)
    except ValidationError as exc:
        st.error(f"This algorithm's form cannot be used: {exc}")
        return FormState(params=None, errors={"*": str(exc)})
    raw: dict[str, Any] = {}
    resolved: dict[str, Any] = {}  # coerced values so far, to decide which dependent fields apply
    errors: dict[str, str] = {}
    for f in display_order(fields):
        if any(dep in errors for dep in f.depends_on) or not f.is_active(resolved):
            continue
        value = _widget(f, f"{key}_{f.name}")
        raw[f.name] = value
        try:
            resolved[f.name] = coerce_value(f, f.default if value is None else value)
        except ValueError as exc:
            errors[f.name] = str(exc)
            st.error(str(exc))
    if errors:
        return FormState(params=None, errors=errors)
    try:
        return FormState(params=validate_params(form_config, raw))
    except FormValidationError as exc:
        for message in exc.errors.values():
            st.error(message)
        return FormState(params=None, errors=dict(exc.errors))
