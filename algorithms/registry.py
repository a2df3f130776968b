"""Algorithm name → class. The job config's ``algorithm`` field is looked up here; add new ones below."""

from __future__ import annotations

from algorithms.base.algorithm import Algorithm
from algorithms.ecod import EcodAlgorithm
from algorithms.ewma import EwmaAlgorithm
from algorithms.pelt import PeltAlgorithm
from algorithms.prophet_model import ProphetAlgorithm
from algorithms.spell import SpellAlgorithm
from algorithms.text_classification import GradientBoostingText, RandomForestText, XGBoostText
from algorithms.yolo.algorithm import YOLOClassification, YOLODetection

ALGORITHMS: dict[str, type[Algorithm]] = {
    EcodAlgorithm.name: EcodAlgorithm,
    EwmaAlgorithm.name: EwmaAlgorithm,
    PeltAlgorithm.name: PeltAlgorithm,
    ProphetAlgorithm.name: ProphetAlgorithm,
    SpellAlgorithm.name: SpellAlgorithm,
    XGBoostText.name: XGBoostText,
    GradientBoostingText.name: GradientBoostingText,
    RandomForestText.name: RandomForestText,
    YOLOClassification.name: YOLOClassification,
    YOLODetection.name: YOLODetection,
}


def get_algorithm(name: str) -> Algorithm:
    """An instance of the algorithm registered as ``name``; KeyError lists the known names."""
    try:
        return ALGORITHMS[name]()
    except KeyError:
        raise KeyError(f"unknown algorithm {name!r}; known: {sorted(ALGORITHMS)}") from None


def algorithms_for(scenario: str) -> list[str]:
    return sorted(n for n, cls in ALGORITHMS.items() if cls.scenario == scenario)
