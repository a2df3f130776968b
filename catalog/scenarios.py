"""The six algorithm scenarios: one catalog serves them all through a ``scenario`` field."""

from __future__ import annotations

from enum import StrEnum

from catalog.errors import quote


class Scenario(StrEnum):
    ANOMALY_DETECTION = "anomaly_detection"
    TIMESERIES_PREDICT = "timeseries_predict"
    LOG_CLUSTERING = "log_clustering"
    TEXT_CLASSIFICATION = "text_classification"
    IMAGE_CLASSIFICATION = "image_classification"
    OBJECT_DETECTION = "object_detection"

    @property
    def display_name(self) -> str:
        return DISPLAY_NAMES[self]


DISPLAY_NAMES: dict[Scenario, str] = {
    Scenario.ANOMALY_DETECTION: "Anomaly detection",
    Scenario.TIMESERIES_PREDICT: "Time-series forecasting",
    Scenario.LOG_CLUSTERING: "Log clustering",
    Scenario.TEXT_CLASSIFICATION: "Text classification",
    Scenario.IMAGE_CLASSIFICATION: "Image classification",
    Scenario.OBJECT_DETECTION: "Object detection",
}


def parse_scenario(value: str) -> Scenario:
    """Scenario from its name, with an error that lists the valid ones."""
    try:
        return Scenario(value)
    except ValueError:
        valid = ", ".join(s.value for s in Scenario)
        raise ValueError(f"unknown scenario {quote(value)}; expected one of: {valid}") from None
