"""Scenario name → predict contract. New scenarios add their contract here."""

from __future__ import annotations

from algorithms.base.anomaly import AnomalyContract
from algorithms.base.contracts import ScenarioContract

CONTRACTS: dict[str, type[ScenarioContract]] = {
    AnomalyContract.scenario: AnomalyContract,
}


def get_contract(scenario: str) -> ScenarioContract:
    try:
        return CONTRACTS[scenario]()
    except KeyError:
        raise KeyError(f"no predict contract for scenario {scenario!r}; known: {sorted(CONTRACTS)}") from None
