"""Forms generated from a form_config (Streamlit AppTest): one widget per field type with its default, range,
options and help; dependent fields shown only when their condition holds; every value checked by
``catalog.forms`` as it is entered, each error under its field, and no parameters until all is valid."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

FORM: dict[str, Any] = {
    "fields": [
        {
            "name": "method",
            "type": "choice",
            "options": ["fast", "exact"],
            "default": "fast",
            "help": "How to fit",
        },
        {"name": "n", "type": "int", "label": "Neighbours", "min": 1, "max": 10, "default": 3},
        {
            "name": "tol",
            "type": "float",
            "min": 0.0,
            "max": 1.0,
            "default": 0.1,
            "depends_on": {"method": "exact"},
        },
        {"name": "scale", "type": "bool", "default": True},
        {"name": "lags", "type": "list", "item_type": "int", "min": 0},
        {"name": "colors", "type": "list", "options": ["red", "green"], "default": ["red"]},
        {"name": "patterns", "type": "regex_list"},
        {"name": "note", "type": "str", "required": True},
    ]
}


def script(form: dict) -> None:  # type: ignore[type-arg]  (AppTest runs its source alone)
    import streamlit as st

    from dashboard.views.forms import render_form

    state = render_form(form, key="f")
    st.session_state["result"] = (state.params, state.errors)


def run(form: dict[str, Any] = FORM) -> AppTest:
    at = AppTest.from_function(script, kwargs={"form": form}, default_timeout=30).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def result(at: AppTest) -> tuple[dict[str, Any] | None, dict[str, str]]:
    return at.session_state["result"]  # type: ignore[no-any-return]


def test_widgets_follow_the_field_definitions() -> None:
    at = run()
    method = at.selectbox(key="f_method")
    assert method.options == ["fast", "exact"] and method.value == "fast" and method.help == "How to fit"
    n = at.number_input(key="f_n")
    assert (n.label, n.value, n.min, n.max) == ("Neighbours", 3, 1, 10)
    assert at.checkbox(key="f_scale").value is True
    assert at.multiselect(key="f_colors").value == ["red"]
    assert at.text_area(key="f_patterns").value == ""
    assert at.text_input(key="f_note").label == "note *"  # required
    assert not [w for w in at.number_input if w.key == "f_tol"], "tol only applies when method is exact"


def test_a_required_field_blocks_until_filled() -> None:
    at = run()
    params, errors = result(at)
    assert params is None and errors == {"note": "note: a value is required"}
    assert "note: a value is required" in [e.value for e in at.error]
    at.text_input(key="f_note").input("hello").run()
    params, errors = result(at)
    assert errors == {} and params == {
        "method": "fast",
        "n": 3,
        "scale": True,
        "lags": None,
        "colors": ["red"],
        "patterns": None,
        "note": "hello",
    }


def test_dependent_field_appears_and_is_validated() -> None:
    at = run()
    at.text_input(key="f_note").input("x")
    at.selectbox(key="f_method").set_value("exact").run()
    assert at.number_input(key="f_tol").value == 0.1
    params, _ = result(at)
    assert params is not None and params["tol"] == 0.1 and params["method"] == "exact"
    at.selectbox(key="f_method").set_value("fast").run()
    params, _ = result(at)
    assert params is not None and "tol" not in params, "an inactive field takes no value"


def test_bad_list_and_regex_values_are_named() -> None:
    at = run()
    at.text_input(key="f_note").input("x")
    at.text_input(key="f_lags").input("1, two, -3")
    at.text_area(key="f_patterns").input("ok\n(unclosed").run()
    params, errors = result(at)
    assert params is None
    assert errors["lags"] == "lags item 2: 'two' is not an integer"
    assert errors["patterns"].startswith("patterns: item 2 ('(unclosed') is not a valid regular expression")
    shown = [e.value for e in at.error]
    assert errors["lags"] in shown and errors["patterns"] in shown
    at.text_input(key="f_lags").input("1, 2").run()
    _, errors = result(at)
    assert set(errors) == {"patterns"}


def test_a_malformed_form_config_is_reported_not_raised() -> None:
    at = run({"fields": [{"name": "x", "type": "nope"}]})
    params, errors = result(at)
    assert params is None and "type 'nope'" in errors["*"]
    assert any("cannot be used" in e.value for e in at.error)


def test_optional_number_without_default_may_stay_empty() -> None:
    at = run({"fields": [{"name": "seed", "type": "int", "min": 0}]})
    assert at.number_input(key="f_seed").value is None
    assert result(at) == ({"seed": None}, {})
    at.number_input(key="f_seed").set_value(7).run()
    assert result(at) == ({"seed": 7}, {})
