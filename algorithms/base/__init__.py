"""Shared base of the algorithms: job config, release reading, the Algorithm class, MLflow logging and the
scenario predict contracts. Imports only third-party libraries."""

from algorithms.base.algorithm import Algorithm, pinned
from algorithms.base.config import JobConfig, ReleaseRef, load_config
from algorithms.base.contracts import ContractError, Limits, ScenarioContract, ServedModel
from algorithms.base.release import Release, ReleaseError, fetch_release

__all__ = [
    "Algorithm",
    "ContractError",
    "JobConfig",
    "Limits",
    "Release",
    "ReleaseError",
    "ReleaseRef",
    "ScenarioContract",
    "ServedModel",
    "fetch_release",
    "load_config",
    "pinned",
]
