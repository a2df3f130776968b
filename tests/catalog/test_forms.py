"""Form schema, search space and parameter validation (catalog.forms)."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.errors import ValidationError
from catalog.forms import (
    FormValidationError,
    parse_form,
    validate_form_config,
    validate_params,
    validate_search_space,
)

FORM: dict[str, Any] = {
    "fields": [
        {
            "name": "contamination",
            "type": "float",
            "label": "Contamination",
            "default": 0.1,
            "min": 0.001,
            "max": 0.5,
        },
        {"name": "n_consecutive", "type": "int", "default": 1, "min": 1, "max": 100},
        {"name": "standardize", "type": "bool", "default": True},
        {"name": "smoothing", "type": "choice", "default": "span", "options": ["span", "alpha"]},
        {"name": "span", "type": "int", "default": 20, "min": 2, "depends_on": {"smoothing": "span"}},
        {
            "name": "alpha",
            "type": "float",
            "default": 0.1,
            "min": 0.0,
            "max": 1.0,
            "depends_on": {"smoothing": "alpha"},
        },
        {"name": "lags", "type": "list", "item_type": "int", "default": [], "min": 1},
        {"name": "masking", "type": "regex_list", "default": [r"\d+"]},
        {"name": "log_format", "type": "str", "default": "<Content>"},
        {"name": "weights", "type": "str"},
        {"name": "cap", "type": "float", "required": True},
    ]
}


def params(**values: Any) -> dict[str, Any]:
    return validate_params(FORM, {"cap": 1.0, **values})


def test_defaults_are_filled_and_inactive_fields_left_out() -> None:
    out = params()
    assert out == {
        "contamination": 0.1,
        "n_consecutive": 1,
        "standardize": True,
        "smoothing": "span",
        "span": 20,
        "lags": [],
        "masking": [r"\d+"],
        "log_format": "<Content>",
        "weights": None,
        "cap": 1.0,
    }
    assert "alpha" not in out


def test_strings_from_a_cli_are_coerced() -> None:
    out = params(contamination="0.2", n_consecutive="3", standardize="false", lags="1, 2,3", cap="5")
    assert out["contamination"] == 0.2
    assert out["n_consecutive"] == 3 and isinstance(out["n_consecutive"], int)
    assert out["standardize"] is False
    assert out["lags"] == [1, 2, 3]
    assert out["cap"] == 5.0


def test_integral_float_accepted_for_int_but_fraction_refused() -> None:
    assert params(n_consecutive=4.0)["n_consecutive"] == 4
    with pytest.raises(ValidationError, match=r"n_consecutive: 2\.5 is not an integer"):
        params(n_consecutive=2.5)


def test_range_messages_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"^contamination: 0\.9 is above the maximum 0\.5$"):
        params(contamination=0.9)
    with pytest.raises(ValidationError, match=r"n_consecutive: 0 is below the minimum 1"):
        params(n_consecutive=0)
    with pytest.raises(ValidationError, match=r"lags item 2: 0 is below the minimum 1"):
        params(lags=[3, 0])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"standardize": "maybe"}, "standardize: 'maybe' is not a boolean"),
        ({"contamination": "lots"}, "contamination: 'lots' is not a number"),
        ({"contamination": float("nan")}, "contamination: nan is not a finite number"),
        ({"n_consecutive": True}, "n_consecutive: True is not an integer"),
        ({"log_format": 12}, "log_format: 12 is not a string"),
        ({"smoothing": "median"}, "smoothing: 'median' is not one of 'span', 'alpha'"),
        ({"masking": ["(unclosed"]}, "masking: item 1 ('(unclosed') is not a valid regular expression"),
        ({"lags": {"a": 1}}, "lags: expected a list of int values"),
    ],
)
def test_wrong_types_and_options_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(FormValidationError) as info:
        params(**values)
    assert message in str(info.value)
    assert set(info.value.errors) == set(values)


def test_none_means_not_given() -> None:
    out = params(contamination=None, weights=None)
    assert out["contamination"] == 0.1 and out["weights"] is None
    with pytest.raises(ValidationError, match="cap: a value is required"):
        validate_params(FORM, {"cap": None})


def test_choice_accepts_case_insensitive_spelling() -> None:
    assert params(smoothing="SPAN")["smoothing"] == "span"


def test_unknown_keys_refused_and_listed() -> None:
    with pytest.raises(FormValidationError, match="unknown parameter\\(s\\): gamma, delta") as info:
        params(gamma=1, delta=2)
    assert "*" in info.value.errors


def test_required_field_without_value() -> None:
    with pytest.raises(ValidationError, match="cap: a value is required"):
        validate_params(FORM, {})


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(FormValidationError) as info:
        params(contamination=2, n_consecutive=-1, standardize="x")
    assert set(info.value.errors) == {"contamination", "n_consecutive", "standardize"}


def test_depends_on_switches_fields() -> None:
    out = params(smoothing="alpha", alpha=0.3)
    assert out["alpha"] == 0.3 and "span" not in out
    with pytest.raises(ValidationError, match="span: only applies when smoothing is 'span'"):
        params(smoothing="alpha", span=10)
    # A None for an inactive field is what a form sends for a hidden input: not an error.
    assert "span" not in params(smoothing="alpha", span=None)


def test_chained_depends_on_and_any_of() -> None:
    form = {
        "fields": [
            {"name": "tokenizer", "type": "choice", "default": "word", "options": ["word", "jieba", "char"]},
            {
                "name": "add_char",
                "type": "bool",
                "default": False,
                "depends_on": {"tokenizer": ["word", "jieba"]},
            },
            {"name": "char_max", "type": "int", "default": 4, "depends_on": {"add_char": True}},
        ]
    }
    assert validate_params(form, {"tokenizer": "jieba", "add_char": True}) == {
        "tokenizer": "jieba",
        "add_char": True,
        "char_max": 4,
    }
    assert validate_params(form, {"tokenizer": "char"}) == {"tokenizer": "char"}
    with pytest.raises(ValidationError, match="char_max: only applies"):
        validate_params(form, {"tokenizer": "char", "char_max": 3})


def test_params_must_be_an_object() -> None:
    with pytest.raises(ValidationError, match="parameters must be an object"):
        validate_params(FORM, [1, 2])  # type: ignore[arg-type]


# ---------------------------------------------------------------- form_config structure


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"name": "x", "type": "complex"}, "x: type 'complex' is not one of"),
        ({"name": "x y", "type": "int"}, "'name' must be an identifier"),
        ({"name": "x", "type": "int", "default": 9, "max": 5}, "default of x: 9 is above the maximum 5"),
        ({"name": "x", "type": "int", "min": 5, "max": 1}, "x: min 5 is above max 1"),
        (
            {"name": "x", "type": "choice", "options": []},
            "x: a choice field needs a non-empty 'options' list",
        ),
        (
            {"name": "x", "type": "choice", "options": ["a"], "default": "b"},
            "default of x: 'b' is not one of 'a'",
        ),
        ({"name": "x", "type": "str", "min": 1}, "x: 'min' only applies to numeric fields"),
        ({"name": "x", "type": "int", "maximum": 3}, "x: unknown key(s) maximum"),
        (
            {"name": "x", "type": "int", "depends_on": {"nope": 1}},
            "x: depends_on refers to unknown field 'nope'",
        ),
        ({"name": "x", "type": "int", "depends_on": {"x": 1}}, "x: depends_on refers to unknown field 'x'"),
        ({"name": "x", "type": "int", "depends_on": {"mode": "c"}}, "x: depends_on value is impossible"),
        ({"name": "x", "type": "int", "item_type": "int"}, "'item_type' only applies to list fields"),
    ],
)
def test_malformed_form_config_refused(field: dict[str, Any], message: str) -> None:
    form = {"fields": [{"name": "mode", "type": "choice", "options": ["a", "b"], "default": "a"}, field]}
    with pytest.raises(ValidationError) as info:
        validate_form_config(form)
    assert message in str(info.value)


def test_form_config_cycles_and_duplicates_refused() -> None:
    cycle = {
        "fields": [
            {"name": "a", "type": "bool", "default": True, "depends_on": {"b": True}},
            {"name": "b", "type": "bool", "default": True, "depends_on": {"a": True}},
        ]
    }
    with pytest.raises(ValidationError, match="cycle"):
        validate_form_config(cycle)
    with pytest.raises(ValidationError, match="a: defined twice"):
        validate_form_config({"fields": [{"name": "a", "type": "int"}, {"name": "a", "type": "int"}]})
    with pytest.raises(ValidationError, match='"fields" list'):
        validate_form_config({"field": []})


def test_validate_form_config_normalises_defaults_and_parse_gives_labels() -> None:
    out = validate_form_config({"fields": [{"name": "n", "type": "int", "default": "3"}]})
    assert out["fields"][0]["default"] == 3
    (field,) = parse_form(out)
    assert field.label == "n" and field.is_active({})


# ---------------------------------------------------------------- search space


def test_valid_search_space_is_normalised() -> None:
    space = validate_search_space(
        {
            "contamination": {"type": "uniform", "low": 0.01, "high": 0.3},
            "alpha": {"type": "loguniform", "low": 0.01, "high": 1.0},
            "n_consecutive": {"type": "quniform", "low": 1, "high": 5, "q": 1},
            "lags": {"type": "choice", "options": [[], "1,2"]},
        },
        FORM,
    )
    assert space["lags"] == {"type": "choice", "options": [[], [1, 2]]}
    assert space["n_consecutive"]["q"] == 1


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"gamma": {"type": "uniform", "low": 0, "high": 1}}, "gamma: not a parameter of this algorithm"),
        ({"contamination": {"type": "normal", "low": 0, "high": 1}}, "type 'normal' is not one of"),
        ({"contamination": {"type": "uniform", "low": 0.3, "high": 0.1}}, "low 0.3 must be below high 0.1"),
        (
            {"contamination": {"type": "uniform", "low": 0.1, "high": 0.9}},
            "high 0.9 is above the parameter's maximum",
        ),
        ({"alpha": {"type": "loguniform", "low": 0.0, "high": 1.0}}, "loguniform needs low > 0"),
        (
            {"n_consecutive": {"type": "uniform", "low": 1, "high": 5}},
            "an integer parameter needs 'quniform'",
        ),
        (
            {"n_consecutive": {"type": "quniform", "low": 1, "high": 5, "q": 0.5}},
            "needs 'quniform' with an integer q",
        ),
        ({"smoothing": {"type": "uniform", "low": 0, "high": 1}}, "use 'choice' for a choice field"),
        ({"smoothing": {"type": "choice", "options": ["span", "median"]}}, "'median' is not one of"),
        ({"contamination": {"type": "uniform", "low": 0.1, "high": 0.2, "step": 1}}, "unknown key(s) step"),
    ],
)
def test_invalid_search_space_refused(space: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_search_space(space, FORM)
    assert message in str(info.value)


def test_huge_bad_values_are_quoted_as_short_excerpts() -> None:
    huge = "7" * 3_000_000 + "x"
    with pytest.raises(FormValidationError) as refused:
        params(n_consecutive=huge, smoothing=huge, lags=[1, huge], masking=["(" + huge], **{huge: 1})
    message = str(refused.value)
    assert len(message) < 2000, len(message)
    assert "3000001 characters" in refused.value.errors["n_consecutive"]
    assert set(refused.value.errors) == {"*", "n_consecutive", "smoothing", "lags", "masking"}
    assert all(len(text) < 600 for text in refused.value.errors.values())
