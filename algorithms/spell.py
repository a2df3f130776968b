"""Spell (log_clustering): trains ``algorithms.spell_parser.SpellParser`` on a release's log lines and serves it.

Params (``algorithms.params.spell.SpellParams``): ``tau``, ``masking`` (list of regexes replaced by ``<*>``
before tokenising; default: IPv4 addresses, hex ids, free-standing numbers — an empty list masks nothing),
``log_format`` (Loghub-style header with ``<Content>``, default ``<Content>`` = the whole line).

Training parses the train split in order (the model grows), then folds clusters whose final templates are
identical. ``train_grouping_accuracy`` scores that streaming assignment against the ground truth when the
train split has one — Loghub's protocol, which parses and scores the same lines. Evaluation on another split
(or on train when it is the only one) matches lines without changing the model: unmatched lines are unknown.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import mlflow.pyfunc
import pandas as pd

from algorithms.base.algorithm import Algorithm
from algorithms.base.logs import (
    SCENARIO,
    UNKNOWN,
    LogSplit,
    grouping_accuracy,
    lines_of_frame,
    log_metrics,
    read_log_split,
)
from algorithms.base.plots import counts_figure
from algorithms.base.release import Release
from algorithms.base.tuning import Objective
from algorithms.params.spell import SpellParams
from algorithms.spell_parser import SpellParser


class SpellPythonModel(mlflow.pyfunc.PythonModel):
    """The served parser: ``match`` only (the model never grows at predict time)."""

    scenario: ClassVar[str] = SCENARIO

    def __init__(self, parser: SpellParser) -> None:
        self.parser = parser

    def assign(self, lines: list[str]) -> tuple[list[int], dict[int, str]]:
        """Each line's cluster id (-1 = unknown) and the templates of the clusters found."""
        ids: list[int] = []
        templates: dict[int, str] = {}
        match = self.parser.match
        for line in lines:
            cluster = match(line)
            if cluster is None:
                ids.append(-1)
            else:
                ids.append(cluster.cluster_id)
                templates[cluster.cluster_id] = cluster.text
        return ids, templates

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        lines = lines_of_frame(model_input)
        ids, templates = self.assign(lines)
        return pd.DataFrame(
            {"line": lines, "cluster_id": ids, "template": [templates.get(i, UNKNOWN) for i in ids]}
        )


@dataclass
class SpellFitted:
    parser: SpellParser
    train_cluster_ids: list[int]
    train_event_ids: list[str] | None
    fit_seconds: float


class SpellAlgorithm(Algorithm):
    scenario: ClassVar[str] = SCENARIO
    name: ClassVar[str] = "Spell"
    param_model: ClassVar[type[SpellParams]] = SpellParams
    serving_requirements: ClassVar[tuple[str, ...]] = ("pandas",)
    # Tuning (tau) needs ground truth on the validation lines; without it every trial fails and says so.
    objective: ClassVar[Objective | None] = Objective("grouping_accuracy", "max")

    def read_split(self, release: Release, split: str) -> LogSplit:
        return read_log_split(release, split)

    def fit(self, train: LogSplit, params: dict[str, Any]) -> SpellFitted:
        params = self.resolve_params(params)
        if not train.lines:
            raise ValueError("the train split has no log lines")
        parser = SpellParser(tau=params["tau"], masking=params["masking"], log_format=params["log_format"])
        started = time.perf_counter()
        clusters = [parser.parse(line) for line in train.lines]
        # The cluster objects survive the merge; their ids are renumbered by it.
        parser.merge_duplicates()
        fit_seconds = time.perf_counter() - started
        by_text = {c.text: c.cluster_id for c in parser.clusters}
        ids = [by_text[c.text] for c in clusters]
        return SpellFitted(parser, ids, train.event_ids, fit_seconds)

    def holdout(self, train: LogSplit) -> tuple[LogSplit, LogSplit]:
        """The last 20% of the lines (logs are a stream: validation follows what was parsed)."""
        cut = int(len(train.lines) * 0.8)
        if cut < 1 or cut >= len(train.lines):
            raise ValueError(
                f"too few log lines ({len(train.lines)}) to hold out validation lines for tuning"
            )
        ev = train.event_ids
        return (
            LogSplit(train.lines[:cut], ev[:cut] if ev is not None else None),
            LogSplit(train.lines[cut:], ev[cut:] if ev is not None else None),
        )

    def combine(self, train: LogSplit, val: LogSplit) -> LogSplit:
        both = train.event_ids is not None and val.event_ids is not None
        return LogSplit(
            train.lines + val.lines, (train.event_ids or []) + (val.event_ids or []) if both else None
        )

    def evaluate(self, fitted: SpellFitted, data: LogSplit) -> dict[str, float]:
        ids, _ = SpellPythonModel(fitted.parser).assign(data.lines)
        metrics = log_metrics(ids, data.event_ids)
        if data.ground_truth_mismatch:
            metrics["ground_truth_rows_mismatch"] = 1.0
        return metrics

    def plots(self, fitted: SpellFitted, data: LogSplit) -> dict[str, Any]:
        """``template_counts``: lines per template on the evaluation split (unmatched lines as one bar)."""
        if not data.lines:
            return {}
        ids, templates = SpellPythonModel(fitted.parser).assign(data.lines)
        counts = Counter(ids)
        labels = [templates[i] if i >= 0 else f"({UNKNOWN})" for i in counts]
        return {
            "template_counts": counts_figure(
                labels,
                list(counts.values()),
                title=f"Spell: {len(data.lines)} lines, {sum(1 for i in counts if i >= 0)} templates",
                xlabel="lines",
            )
        }

    def training_metrics(self, fitted: SpellFitted) -> dict[str, float]:
        metrics = {
            "templates": float(len(fitted.parser.clusters)),
            "train_lines": float(len(fitted.train_cluster_ids)),
            "fit_seconds": fitted.fit_seconds,
            "lines_per_second": len(fitted.train_cluster_ids) / fitted.fit_seconds
            if fitted.fit_seconds
            else 0.0,
        }
        if fitted.train_event_ids is not None:
            metrics["train_grouping_accuracy"] = grouping_accuracy(
                fitted.train_event_ids, fitted.train_cluster_ids
            )
        return metrics

    def pyfunc_model(self, fitted: SpellFitted) -> SpellPythonModel:
        return SpellPythonModel(fitted.parser)

    def model_metadata(self, fitted: SpellFitted) -> dict[str, Any]:
        return super().model_metadata(fitted) | {
            "templates": len(fitted.parser.clusters),
            "tau": fitted.parser.tau,
            "log_format": fitted.parser.log_format,
        }
