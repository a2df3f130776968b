"""Parameter models (algorithms.params): every preset in catalog/presets/ is its algorithm's declaration (form
fields, defaults, bounds, choices, help, search space); the catalog and the algorithm resolve the same
defaults; the form refuses what an algorithm drops; a declaration that is not a valid form fails when its
class is defined; and the catalog imports the declarations without the algorithms' dependencies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest

from algorithms.base.timeseries import MAX_STEPS
from algorithms.params.model import ParamError, ParamModel, param
from algorithms.params.prophet import HORIZON_MAX
from algorithms.params.space import QUniform, Uniform
from algorithms.registry import ALGORITHMS, get_algorithm
from catalog.errors import ValidationError
from catalog.forms import FormValidationError, validate_params
from catalog.presets import PRESET_DIR

PRESETS: dict[str, dict[str, Any]] = {
    raw["name"]: raw for raw in (json.loads(p.read_text()) for p in sorted(PRESET_DIR.glob("*.json")))
}
ROOT = Path(__file__).resolve().parents[2]


def test_every_algorithm_has_one_preset_and_every_preset_an_algorithm() -> None:
    assert set(PRESETS) == set(ALGORITHMS)
    assert all(PRESETS[name]["scenario"] == cls.scenario for name, cls in ALGORITHMS.items())


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_the_preset_form_is_the_declared_one(name: str) -> None:
    declared = ALGORITHMS[name].param_model.form_config()["fields"]
    shipped = PRESETS[name]["form_config"]["fields"]
    assert [f["name"] for f in shipped] == [f["name"] for f in declared], "the same fields, in the same order"
    for ours, theirs in zip(declared, shipped, strict=True):
        # Type, default, bounds, options, item type, depends_on, required, label and help alike.
        assert theirs == ours, f"{name}.{ours['name']}: the preset should hold\n{json.dumps(ours, indent=2)}"


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_the_preset_search_space_is_the_declared_one(name: str) -> None:
    assert PRESETS[name]["search_space"] == ALGORITHMS[name].param_model.search_space()


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_catalog_and_algorithm_resolve_the_same_defaults_and_resolving_again_changes_nothing(
    name: str,
) -> None:
    algorithm = get_algorithm(name)
    resolved = algorithm.resolve_params({})
    assert validate_params(PRESETS[name]["form_config"], {}) == resolved
    assert algorithm.resolve_params(resolved) == resolved  # train.py resolves, then fit resolves again


def test_the_form_refuses_a_value_for_an_inactive_field_and_the_algorithm_drops_it() -> None:
    form = PRESETS["EWMA"]["form_config"]
    with pytest.raises(FormValidationError) as refused:
        validate_params(form, {"smoothing": "alpha", "span": 9})
    assert refused.value.errors == {"span": "span: only applies when smoothing is 'span'"}
    # Tuning lays sampled values over resolved ones: the span left from "span" smoothing is not an error.
    resolved = get_algorithm("EWMA").resolve_params({"smoothing": "alpha", "span": 9, "alpha": 0.3})
    assert "span" not in resolved and resolved["alpha"] == 0.3


def test_one_problem_worded_for_the_form_and_for_the_job_log() -> None:
    with pytest.raises(FormValidationError) as form:
        validate_params(PRESETS["EWMA"]["form_config"], {"span": 1, "direction": "left"})
    assert form.value.errors == {
        "span": "span: 1 is below the minimum 2",
        "direction": "direction: 'left' is not one of 'both', 'up', 'down'",
    }
    with pytest.raises(ParamError) as log:
        get_algorithm("EWMA").resolve_params({"span": 1, "direction": "left"})
    assert log.value.errors == {
        "span": "span must be in [2, 100000], got 1",
        "direction": "direction must be one of ['both', 'up', 'down'], got 'left'",
    }


def test_unknown_parameters_are_refused_by_every_algorithm() -> None:
    for name in ALGORITHMS:
        with pytest.raises(ParamError, match=rf"unknown parameter\(s\) \['nope'\] for {name}"):
            get_algorithm(name).resolve_params({"nope": 1})


def test_rules_across_parameters_are_the_models() -> None:
    prophet = get_algorithm("Prophet")
    with pytest.raises(ParamError, match="floor 5.0 must be below cap 5.0"):
        prophet.resolve_params({"growth": "logistic", "cap": 5, "floor": 5})
    # The floor of a trend that is not logistic does not apply, so it cannot break the rule.
    assert "floor" not in prophet.resolve_params({"growth": "linear", "floor": 50})
    text = get_algorithm("RandomForest")
    with pytest.raises(ParamError, match=r"char_ngram_max \(2\) must be >= char_ngram_min \(3\)"):
        text.resolve_params({"add_char_ngrams": True, "char_ngram_min": 3, "char_ngram_max": 2})
    assert "char_ngram_min" not in text.resolve_params({"tokenizer": "char", "char_ngram_min": 3})


def test_values_are_read_as_the_form_reads_them() -> None:
    prophet = get_algorithm("Prophet").resolve_params(
        {
            "yearly_seasonality": "false",
            "weekly_seasonality": "TRUE",
            "daily_seasonality": True,
            "horizon": "12",
        }
    )
    assert (prophet["yearly_seasonality"], prophet["weekly_seasonality"], prophet["daily_seasonality"]) == (
        False,
        True,
        True,
    )
    assert prophet["horizon"] == 12
    ecod = get_algorithm("ECOD").resolve_params({"lags": "3, 1, 3", "value_columns": "cpu, mem"})
    assert ecod["lags"] == [1, 3] and ecod["value_columns"] == ["cpu", "mem"]
    with pytest.raises(ParamError, match=r"lags item 2 must be an integer, got 'x'"):
        get_algorithm("ECOD").resolve_params({"lags": [1, "x"]})


def test_the_default_horizon_may_not_exceed_what_a_request_may_ask() -> None:
    assert HORIZON_MAX == MAX_STEPS


def declare(body: dict[str, Any]) -> type[ParamModel]:
    return type("Broken", (ParamModel,), body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"__annotations__": {"n": int}, "n": param(0, ge=1, le=5, label="N", help="h")},
            "default of n: 0 is below the minimum 1",
        ),
        (
            {"__annotations__": {"n": int}, "n": param(1, depends_on={"mode": "a"}, label="N", help="h")},
            "n: depends_on refers to unknown field 'mode'",
        ),
        (
            {
                "__annotations__": {"x": float},
                "x": param(0.5, ge=0.0, le=1.0, label="X", help="h"),
                "TUNING": {"x": Uniform(low=0.5, high=2.0)},
            },
            "x: high 2.0 is above the parameter's maximum 1.0",
        ),
        (
            {
                "__annotations__": {"k": int},
                "k": param(2, ge=1, le=9, label="K", help="h"),
                "TUNING": {"k": QUniform(low=1, high=9, q=0.5)},
            },
            "k: an integer parameter needs 'quniform' with an integer q",
        ),
    ],
)
def test_a_declaration_that_is_no_valid_form_fails_when_defined(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        declare(body)


def test_a_type_no_form_field_has_is_refused_not_guessed() -> None:
    with pytest.raises(TypeError, match="mode: .* is not a parameter type"):
        declare({"__annotations__": {"mode": dict[str, int]}, "mode": param({}, label="Mode", help="h")})


def test_a_declaration_derives_its_whole_form() -> None:
    class Small(ParamModel):
        mode: Literal["a", "b"] = param("a", label="Mode", help="Which one.")
        size: int = param(3, ge=1, le=9, depends_on={"mode": "b"}, label="Size", help="How big.")
        TUNING: ClassVar = {"size": QUniform(low=2, high=8, q=2)}

    assert Small.form_config() == {
        "fields": [
            {
                "name": "mode",
                "type": "choice",
                "label": "Mode",
                "default": "a",
                "options": ["a", "b"],
                "help": "Which one.",
            },
            {
                "name": "size",
                "type": "int",
                "label": "Size",
                "default": 3,
                "min": 1,
                "max": 9,
                "depends_on": {"mode": "b"},
                "help": "How big.",
            },
        ]
    }
    assert Small.search_space() == {"size": {"type": "quniform", "low": 2, "high": 8, "q": 2}}
    assert Small.resolve({"mode": "B", "size": "4"}, algorithm="Small") == {"mode": "b", "size": 4}


def test_the_catalog_imports_the_declarations_without_the_algorithms_dependencies() -> None:
    code = (
        "import sys, catalog.forms, catalog.presets\n"
        "import algorithms.params.anomaly, algorithms.params.prophet, algorithms.params.spell\n"
        "import algorithms.params.text, algorithms.params.yolo\n"
        "heavy = {'numpy', 'pandas', 'mlflow', 'torch', 'ultralytics', 'prophet', 'sklearn', 'algorithms.base'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_form_config_still_refuses_what_it_refused() -> None:
    with pytest.raises(ValidationError, match="invalid form_config: x: type 'complex' is not one of"):
        validate_params({"fields": [{"name": "x", "type": "complex"}]}, {})
