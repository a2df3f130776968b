"""Every catalog table; importing this module registers them all on ``SQLModel.metadata``."""

from catalog.models.algorithm import AlgorithmConfig
from catalog.models.audit import AuditEvent
from catalog.models.dataset import Dataset, DatasetEntry, DatasetRelease, ReleaseStatus
from catalog.models.model import (
    OPEN_EVALUATIONS,
    AliasCause,
    AliasEvent,
    EvaluationStatus,
    Model,
    ModelEvaluation,
    ModelVersion,
)
from catalog.models.monitoring import PredictionLogCursor
from catalog.models.rollout import ACTIVE_ROLLOUTS, Rollout, RolloutDecision, RolloutStatus
from catalog.models.security import ApiToken, RevokedToken
from catalog.models.serving import DesiredState, Serving
from catalog.models.team import Membership, Role, Team, User
from catalog.models.training import ACTIVE_STATUSES, STARTABLE_STATUSES, JobKind, JobRun, JobStatus, TrainJob

__all__ = [
    "ACTIVE_ROLLOUTS",
    "ACTIVE_STATUSES",
    "OPEN_EVALUATIONS",
    "STARTABLE_STATUSES",
    "AlgorithmConfig",
    "AliasCause",
    "AliasEvent",
    "ApiToken",
    "AuditEvent",
    "Dataset",
    "DatasetEntry",
    "DatasetRelease",
    "DesiredState",
    "EvaluationStatus",
    "JobKind",
    "JobRun",
    "JobStatus",
    "Membership",
    "Model",
    "ModelEvaluation",
    "ModelVersion",
    "PredictionLogCursor",
    "ReleaseStatus",
    "RevokedToken",
    "Role",
    "Rollout",
    "RolloutDecision",
    "RolloutStatus",
    "Serving",
    "Team",
    "TrainJob",
    "User",
]
