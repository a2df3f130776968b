"""Parameters of the anomaly_detection algorithms: ``EcodParams`` (``algorithms.ecod``), ``EwmaParams``
(``algorithms.ewma``) and ``PeltParams`` (``algorithms.pelt``)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, get_args

from pydantic import Field, field_validator

from algorithms.params.model import ParamModel, param
from algorithms.params.space import Choice, LogUniform, QUniform, Uniform

RollingStat = Literal["mean", "std", "min", "max", "median"]
# Canonical order of the rolling statistics: the feature layout of a model follows it.
ROLLING_STATS: tuple[str, ...] = get_args(RollingStat)
DEFAULT_ROLLING_STATS: tuple[str, ...] = ("mean", "std")
Lag = Annotated[int, Field(ge=1, le=10_000)]
Window = Annotated[int, Field(ge=2, le=100_000)]


def value_columns(what: str) -> list[str]:
    """The ``value_columns`` parameter of a detector (``what``: what it does to each column)."""
    return param(
        [],
        label="Value columns",
        help=f"Columns to {what}, comma-separated (e.g. cpu, mem). Empty: every numeric column but label and "
        "timestamp.",
    )


class EcodParams(ParamModel):
    contamination: float = param(
        0.1,
        ge=0.001,
        le=0.5,
        label="Contamination",
        help="Expected share of anomalies; sets the score threshold above which a point is labelled anomalous.",
    )
    lags: list[Lag] = param(
        [],
        label="Lags",
        help="Add the value columns shifted by these many points as extra features, e.g. 1, 2, 3. Empty: none.",
    )
    rolling_windows: list[Window] = param(
        [],
        label="Rolling windows",
        help="Add rolling statistics of the value columns over these window sizes (in points). Empty: none.",
    )
    rolling_stats: list[RollingStat] = param(
        list(DEFAULT_ROLLING_STATS),
        label="Rolling statistics",
        help="Statistics computed over each rolling window.",
    )
    value_columns: list[str] = value_columns("score")

    TUNING: ClassVar = {
        "contamination": Uniform(low=0.01, high=0.3),
        "lags": Choice(options=[[], [1], [1, 2, 3]]),
        "rolling_windows": Choice(options=[[], [5], [5, 20]]),
    }

    @field_validator("lags", "rolling_windows")
    @classmethod
    def _distinct_ascending(cls, values: list[int]) -> list[int]:
        return sorted(set(values))

    @field_validator("rolling_stats")
    @classmethod
    def _canonical_order(cls, stats: list[str]) -> list[str]:
        # None chosen means the default; the order is the features' (ROLLING_STATS), not the user's.
        return [s for s in ROLLING_STATS if s in stats] or list(DEFAULT_ROLLING_STATS)


class EwmaParams(ParamModel):
    smoothing: Literal["span", "alpha"] = param(
        "span",
        label="Smoothing given by",
        help="Set the EWMA smoothing by its span (in points) or directly by its alpha.",
    )
    span: int = param(
        20,
        ge=2,
        le=100_000,
        depends_on={"smoothing": "span"},
        label="Span",
        help="Span of the moving average in points (alpha = 2 / (span + 1)).",
    )
    alpha: float = param(
        0.1,
        ge=0.0001,
        le=1.0,
        depends_on={"smoothing": "alpha"},
        label="Alpha",
        help="Smoothing factor: higher follows the series more closely.",
    )
    threshold: float = param(
        3.0,
        ge=0.5,
        le=50.0,
        label="Threshold (z)",
        help="A residual more than this many standard deviations from zero counts as an outlying point.",
    )
    n_consecutive: int = param(
        1,
        ge=1,
        le=10_000,
        label="Consecutive points",
        help="Outlying points needed in a row before they are reported as an anomaly.",
    )
    direction: Literal["both", "up", "down"] = param(
        "both",
        label="Direction",
        help="Report spikes above the average, dips below it, or both.",
    )
    value_columns: list[str] = value_columns("score")

    TUNING: ClassVar = {
        "span": QUniform(low=5, high=200, q=1),
        "threshold": Uniform(low=2.0, high=6.0),
        "n_consecutive": QUniform(low=1, high=5, q=1),
    }


class PeltParams(ParamModel):
    cost: Literal["l1", "l2", "rbf", "normal"] = param(
        "l2",
        label="Cost function",
        help="l2: shifts in mean; l1: robust shifts in median; normal: mean and variance; rbf: any change in "
        "distribution (slower).",
    )
    penalty: Literal["BIC", "MBIC", "value"] = param(
        "MBIC",
        label="Penalty",
        help="BIC or MBIC derive the penalty from the series length (as R's changepoint package does; MBIC is "
        "stricter); 'value' uses the number below.",
    )
    penalty_value: float = param(
        10.0,
        ge=0.0,
        le=1e9,
        depends_on={"penalty": "value"},
        label="Penalty value",
        help="Penalty added per change point: higher finds fewer change points.",
    )
    min_size: int = param(
        2,
        ge=1,
        le=100_000,
        label="Minimum segment length",
        help="Fewest points between two change points.",
    )
    jump: int = param(
        5,
        ge=1,
        le=100_000,
        label="Jump",
        help="Only every jump-th point is a candidate change point: higher is faster and coarser.",
    )
    event_window: int = param(
        5,
        ge=0,
        le=100_000,
        label="Event window",
        help="Points on each side of a change point that are marked as anomalous.",
    )
    normalize: Literal["zscore", "robust", "train"] = param(
        "zscore",
        label="Normalisation",
        help="How each series is scaled before segmenting: zscore by its own mean and standard deviation; robust "
        "by its median and noise level (not inflated by level shifts); train by the training data's mean and "
        "standard deviation.",
    )
    margin: int = param(
        5,
        ge=0,
        le=100_000,
        label="Evaluation margin",
        help="A detected change point within this many points of a true one counts as correct (change-point F1).",
    )
    value_columns: list[str] = value_columns("segment")

    TUNING: ClassVar = {
        "cost": Choice(options=["l1", "l2", "normal"]),
        "penalty": Choice(options=["BIC", "MBIC", "value"]),
        "penalty_value": LogUniform(low=0.5, high=1000.0),
        "min_size": QUniform(low=2, high=30, q=1),
        "jump": QUniform(low=1, high=10, q=1),
        "normalize": Choice(options=["zscore", "robust"]),
    }
