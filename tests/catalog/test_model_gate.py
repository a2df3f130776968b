"""The promotion gate's decision and the rollback replay, pure (catalog.model_gate): no database, no server."""

from __future__ import annotations

import math

import pytest

from catalog.errors import ValidationError
from catalog.model_gate import (
    SCENARIO_METRICS,
    Gate,
    Move,
    choose_metric,
    decide,
    gate_metric,
    parse_version_ref,
    rollback_target,
)
from catalog.scenarios import Scenario

AD = Scenario.ANOMALY_DETECTION.value
TS = Scenario.TIMESERIES_PREDICT.value
OPEN = Gate(metric=None, threshold=None, tolerance=0.0)


def test_every_scenario_has_metrics_named_like_the_evaluation() -> None:
    assert set(SCENARIO_METRICS) == {s.value for s in Scenario}
    # The evaluation container (algorithms.evaluation) reports these names.
    names = {s: [m.name for m in ms] for s, ms in SCENARIO_METRICS.items()}
    assert names[AD] == ["f1", "roc_auc", "anomaly_rate"]
    assert names[TS] == ["mape", "rmse"]
    assert names["object_detection"] == ["mAP50", "mAP50-95"]
    assert all(m.direction in ("max", "min") for ms in SCENARIO_METRICS.values() for m in ms)


def test_choose_metric_prefers_labelled_metrics_and_skips_missing_or_non_finite_values() -> None:
    assert choose_metric(AD, OPEN, {"f1": 0.5, "anomaly_rate": 0.1}).name == "f1"  # type: ignore[union-attr]
    # No labels: only the anomaly rate was computed.
    assert choose_metric(AD, OPEN, {"anomaly_rate": 0.1}).name == "anomaly_rate"  # type: ignore[union-attr]
    # NaN, infinities, booleans and text are no values.
    for bad in (math.nan, math.inf, True, "0.9", None):
        assert choose_metric(AD, OPEN, {"f1": bad, "roc_auc": 0.7}).name == "roc_auc"  # type: ignore[union-attr]
    assert choose_metric(AD, OPEN, {"precision": 1.0}) is None
    # A configured metric wins even when the evaluation lacks it; an unknown one is refused by name.
    assert choose_metric(AD, Gate("roc_auc", None, 0.0), {"f1": 1.0}).name == "roc_auc"  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="'mape' is not a gate metric of anomaly_detection"):
        choose_metric(AD, Gate("mape", None, 0.0), {"f1": 1.0})


def test_first_champion_passes_when_it_meets_the_threshold() -> None:
    d = decide(AD, OPEN, candidate_version=1, candidate={"f1": 0.8}, champion_version=None, champion=None)
    assert d.promote and d.metric == "f1" and d.candidate_value == 0.8 and d.champion_value is None
    assert d.reason == "v1 is the first champion (f1 0.8)"
    below = decide(
        AD,
        Gate(None, 0.9, 0.0),
        candidate_version=1,
        candidate={"f1": 0.8},
        champion_version=None,
        champion=None,
    )
    assert not below.promote and below.reason == "f1 0.8 of v1 is below the threshold 0.9"
    # The threshold itself passes.
    at = decide(
        AD,
        Gate(None, 0.8, 0.0),
        candidate_version=1,
        candidate={"f1": 0.8},
        champion_version=None,
        champion=None,
    )
    assert at.promote


def test_lower_is_better_metrics_compare_the_other_way() -> None:
    above = decide(
        TS,
        Gate(None, 0.1, 0.0),
        candidate_version=2,
        candidate={"mape": 0.2},
        champion_version=None,
        champion=None,
    )
    assert not above.promote and "above the threshold 0.1" in above.reason and above.direction == "min"
    better = decide(
        TS, OPEN, candidate_version=2, candidate={"mape": 0.05}, champion_version=1, champion={"mape": 0.1}
    )
    assert better.promote and better.champion_value == 0.1
    worse = decide(
        TS, OPEN, candidate_version=2, candidate={"mape": 0.15}, champion_version=1, champion={"mape": 0.1}
    )
    assert not worse.promote
    assert worse.reason == (
        "mape 0.15 of v2 is worse than champion v1's 0.1 by 0.05, more than the tolerance 0"
    )


def test_tolerance_lets_a_slightly_worse_candidate_through_and_no_further() -> None:
    gate = Gate(None, None, 0.05)
    within = decide(
        AD, gate, candidate_version=3, candidate={"f1": 0.86}, champion_version=2, champion={"f1": 0.9}
    )
    assert within.promote and "tolerance 0.05" in within.reason
    beyond = decide(
        AD, gate, candidate_version=3, candidate={"f1": 0.84}, champion_version=2, champion={"f1": 0.9}
    )
    assert not beyond.promote and "more than the tolerance 0.05" in beyond.reason
    # Equal metrics with no tolerance: no worse, so promoted (a retrain that reproduces its champion).
    same = decide(
        AD, OPEN, candidate_version=3, candidate={"f1": 0.9}, champion_version=2, champion={"f1": 0.9}
    )
    assert same.promote


def test_missing_values_reject_or_replace_as_documented() -> None:
    # The evaluation computed none of the scenario's metrics.
    none = decide(AD, OPEN, candidate_version=4, candidate={}, champion_version=1, champion={"f1": 1.0})
    assert not none.promote and none.metric is None
    assert none.reason == "the evaluation of v4 computed none of f1, roc_auc, anomaly_rate"
    # The gate's metric is not in the candidate's evaluation (e.g. F1 on an unlabelled release).
    missing = decide(
        AD,
        Gate("f1", None, 0.0),
        candidate_version=4,
        candidate={"anomaly_rate": 0.1},
        champion_version=None,
        champion=None,
    )
    assert not missing.promote and missing.reason == "the evaluation of v4 has no f1"
    # The champion has no value on the evaluation release: the candidate takes its place.
    replaced = decide(
        AD,
        OPEN,
        candidate_version=4,
        candidate={"f1": 0.2},
        champion_version=1,
        champion={"anomaly_rate": 0.5},
    )
    assert replaced.promote and "champion v1 has no f1 on the evaluation release" in replaced.reason
    nan_champion = decide(
        AD, OPEN, candidate_version=4, candidate={"f1": 0.2}, champion_version=1, champion={"f1": math.nan}
    )
    assert nan_champion.promote and nan_champion.champion_value is None
    # The threshold is checked before the champion: a candidate below it never replaces a broken champion.
    blocked = decide(
        AD,
        Gate(None, 0.5, 0.0),
        candidate_version=4,
        candidate={"f1": 0.2},
        champion_version=1,
        champion=None,
    )
    assert not blocked.promote and "below the threshold" in blocked.reason


def test_rollback_replays_the_champion_history_as_a_stack() -> None:
    def moves(*steps: tuple[int | None, str]) -> list[Move]:
        return [Move("champion", v, cause) for v, cause in steps]

    assert rollback_target([]) is None
    assert rollback_target(moves((1, "promotion"))) is None
    assert rollback_target(moves((1, "promotion"), (2, "promotion"))) == 1
    # Rolled back to 1 once: the next rollback has nothing earlier than 1 (never forwards to 2 again).
    assert rollback_target(moves((1, "promotion"), (2, "promotion"), (1, "rollback"))) is None
    # Repeated rollbacks walk back through every earlier champion.
    history = moves((1, "promotion"), (2, "promotion"), (3, "promotion"), (2, "rollback"))
    assert rollback_target(history) == 1
    # A move by hand counts like a promotion; moving to the version already held is no step.
    assert rollback_target(moves((1, "promotion"), (2, "manual"), (2, "manual"))) == 1
    # Other aliases' moves are not the champion's history.
    mixed = [Move("challenger", 5, "manual"), *moves((1, "promotion")), Move("challenger", 6, "manual")]
    assert rollback_target(mixed) is None and rollback_target(mixed, alias="challenger") == 5
    # A cleared champion is a step too: rolling back over it clears nothing, it lands on None (no target).
    assert rollback_target(moves((1, "promotion"), (None, "manual"), (3, "promotion"))) is None
    assert rollback_target(moves((1, "promotion"), (None, "manual"))) == 1


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (None, "latest"),
        ("latest", "latest"),
        ("@champion", "champion"),
        ("challenger", "challenger"),
        (3, "3"),
        (" 12 ", "12"),
    ],
)
def test_version_references(ref: object, expected: str) -> None:
    assert parse_version_ref(ref) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("ref", ["0", "-1", "v2", "champ", "1.5", "x" * 300])
def test_bad_version_references_are_refused_with_a_short_excerpt(ref: str) -> None:
    with pytest.raises(ValidationError, match="must be 'latest', an alias") as err:
        parse_version_ref(ref)
    assert len(str(err.value)) < 300


def test_gate_metric_lookup() -> None:
    assert gate_metric(TS, "rmse").direction == "min"
    with pytest.raises(ValidationError, match="its metrics: mape, rmse"):
        gate_metric(TS, "f1")
