"""Widgets generated from an algorithm's form_config (field types, defaults, ranges, options, help)."""

from __future__ import annotations

from typing import Any

import streamlit as st


def _same(a: Any, b: Any) -> bool:
    # True == 1 in Python; a form value of 1 must not satisfy a dependency on True.
    return type(a) is type(b) and a == b


def _visible(field: dict[str, Any], values: dict[str, Any]) -> bool:
    depends = field.get("depends_on") or {}
    for key, want in depends.items():
        got = values.get(key)
        options = want if isinstance(want, list) else [want]
        if not any(_same(got, w) for w in options):
            return False
    return True


def render_form(form_config: dict[str, Any], *, key: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in form_config.get("fields", []):
        if not _visible(field, values):
            continue
        name, kind = field["name"], field.get("type", "str")
        label, help_text, default = field.get("label") or name, field.get("help"), field.get("default")
        wkey = f"{key}_{name}"
        if kind == "bool":
            values[name] = st.checkbox(label, value=bool(default), help=help_text, key=wkey)
        elif kind == "choice":
            options = list(field.get("options") or [])
            index = options.index(default) if default in options else 0
            values[name] = st.selectbox(label, options, index=index, help=help_text, key=wkey)
        elif kind == "int":
            start = default if default is not None else (field.get("min") or 0)
            values[name] = int(st.number_input(label, value=int(start), step=1, help=help_text, key=wkey,
                                               min_value=field.get("min"), max_value=field.get("max")))
        elif kind == "float":
            lo, hi = field.get("min"), field.get("max")
            start = default if default is not None else (lo if lo is not None else 0.0)
            values[name] = float(st.number_input(label, value=float(start), help=help_text, key=wkey,
                                                 min_value=None if lo is None else float(lo),
                                                 max_value=None if hi is None else float(hi), format="%.6g"))
        elif kind in ("list", "regex_list"):
            text = st.text_area(label, value="\n".join(map(str, default or [])), help=help_text, key=wkey)
            values[name] = [line for line in text.splitlines() if line.strip()]
        else:
            values[name] = st.text_input(label, value="" if default is None else str(default), help=help_text,
                                         key=wkey)
    return values
