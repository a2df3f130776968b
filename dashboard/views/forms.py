"""Widgets generated from an algorithm's form_config (field types, defaults, ranges, options, help)."""

from __future__ import annotations

from typing import Any

import streamlit as st


def _visible(field: dict[str, Any], values: dict[str, Any]) -> bool:
    depends = field.get("depends_on") or {}
    return all(values.get(k) == v or (isinstance(v, list) and values.get(k) in v) for k, v in depends.items())


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
            values[name] = int(st.number_input(label, value=int(default or 0), step=1, help=help_text, key=wkey,
                                               min_value=field.get("min"), max_value=field.get("max")))
        elif kind == "float":
            lo, hi = field.get("min"), field.get("max")
            values[name] = float(st.number_input(label, value=float(default or 0.0), help=help_text, key=wkey,
                                                 min_value=None if lo is None else float(lo),
                                                 max_value=None if hi is None else float(hi), format="%.6g"))
        elif kind in ("list", "regex_list"):
            text = st.text_area(label, value="\n".join(map(str, default or [])), help=help_text, key=wkey)
            values[name] = [line for line in text.splitlines() if line.strip()]
        else:
            values[name] = st.text_input(label, value="" if default is None else str(default), help=help_text,
                                         key=wkey)
    return values
