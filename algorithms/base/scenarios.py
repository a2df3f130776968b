"""Scenario name → predict contract. New scenarios add their contract here."""

from __future__ import annotations

from algorithms.base.anomaly import AnomalyContract
from algorithms.base.contracts import ScenarioContract
from algorithms.base.images import ImageClassificationContract, ObjectDetectionContract
from algorithms.base.logs import LogClusteringContract
from algorithms.base.text import TextClassificationContract
from algorithms.base.timeseries import TimeseriesContract

CONTRACTS: dict[str, type[ScenarioContract]] = {
    AnomalyContract.scenario: AnomalyContract,
    TimeseriesContract.scenario: TimeseriesContract,
    LogClusteringContract.scenario: LogClusteringContract,
    TextClassificationContract.scenario: TextClassificationContract,
    ImageClassificationContract.scenario: ImageClassificationContract,
    ObjectDetectionContract.scenario: ObjectDetectionContract,
}


def get_contract(scenario: str) -> ScenarioContract:
    try:
        return CONTRACTS[scenario]()
    except KeyError:
        raise KeyError(f"no predict contract for scenario {scenario!r}; known: {sorted(CONTRACTS)}") from None
