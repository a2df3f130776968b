"""The log_clustering scenario: reading log splits (with optional ground truth), its metrics and its contract.

Release layout: a split's ``.log`` files hold one message per line (UTF-8). **Ground truth** travels beside
them: any CSV file listed in the same split with an ``EventId`` column (else ``EventTemplate``) — Loghub's
``*_structured.csv`` layout — gives one event per non-blank log line, in the order the split's lines are read
(files in manifest order). When the CSV rows do not add up to the number of lines the ground truth is
ignored (and said so in the metrics as ``ground_truth_rows_mismatch``) rather than misaligned.

Request (``log_request``): ``{"data": ["line", ...]}``. Response (``LogResponse``): ``{"template_groups":
[{"cluster_id", "template", "count", "indices", "samples"}], "unknown": [{"index", "line"}], "summary":
{"total", "matched", "templates", "coverage"}, "metadata": {"model_uri", "model_version", "count",
"execution_ms"}}`` — groups by descending count, ``indices`` into the request, at most ``MAX_SAMPLES``
sample lines per group; ``templates`` counts the known templates seen in the request.

Pyfunc input: a DataFrame whose ``line`` column (else its first column) holds the lines. Output: a DataFrame
with ``line``, ``cluster_id`` (-1 when unknown) and ``template`` (``"unknown"`` when unknown).
"""

from __future__ import annotations

import io
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import pandas as pd
from pydantic import StrictStr
from typing_extensions import TypedDict

from algorithms.base.contracts import Limits, ScenarioContract, ServedModel
from algorithms.base.release import Release
from algorithms.base.requests import LINES, Declared, object_type

SCENARIO = "log_clustering"
UNKNOWN = "unknown"
MAX_SAMPLES = 3
GROUND_TRUTH_COLUMNS: tuple[str, ...] = ("EventId", "EventTemplate")


@dataclass
class LogSplit:
    lines: list[str]
    event_ids: list[str] | None = None
    ground_truth_mismatch: bool = False


def read_log_split(release: Release, split: str) -> LogSplit:
    """The split's log lines (blank lines skipped) and, when a CSV carries them, the ground-truth events."""
    lines: list[str] = []
    events: list[str] | None = None
    with zipfile.ZipFile(release.path) as zf:
        for name in release.split_files(split):
            data = release._read_member(zf, name)
            if name.lower().endswith(".csv"):
                frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
                column = next((c for c in GROUND_TRUTH_COLUMNS if c in frame.columns), None)
                if column is not None:
                    events = (events or []) + frame[column].tolist()
            else:
                text = data.decode("utf-8", errors="replace")
                lines.extend(line for line in text.splitlines() if line.strip())
    if events is not None and len(events) != len(lines):
        return LogSplit(lines, None, ground_truth_mismatch=True)
    return LogSplit(lines, events)


def grouping_accuracy(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """Loghub's grouping accuracy (Zhu et al., ICSE-SEIP 2019): the share of lines whose predicted group holds
    exactly the lines of one ground-truth event — no more, no fewer."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} ground-truth events for {len(predicted)} predictions")
    if not truth:
        return 0.0
    truth_sizes = Counter(truth)
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, p in enumerate(predicted):
        groups[p].append(i)
    correct = 0
    for members in groups.values():
        events = {truth[i] for i in members}
        if len(events) == 1 and truth_sizes[next(iter(events))] == len(members):
            correct += len(members)
    return correct / len(truth)


def log_metrics(cluster_ids: Sequence[int], event_ids: Sequence[str] | None) -> dict[str, float]:
    """Templates seen, coverage (-1 = unknown) and grouping accuracy when the ground truth is known. Unknown
    lines count as groups of their own: right only when their event occurs once."""
    total = len(cluster_ids)
    matched = sum(1 for c in cluster_ids if c >= 0)
    metrics = {
        "eval_lines": float(total),
        "eval_templates": float(len({c for c in cluster_ids if c >= 0})),
        "coverage": matched / total if total else 0.0,
    }
    if event_ids is not None:
        predicted: list[Hashable] = [c if c >= 0 else ("unknown", i) for i, c in enumerate(cluster_ids)]
        metrics["grouping_accuracy"] = grouping_accuracy(list(event_ids), predicted)
    return metrics


def lines_of_frame(frame: Any) -> list[str]:
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    if frame.shape[1] == 0:
        return []
    column = frame["line"] if "line" in frame.columns else frame.iloc[:, 0]
    return ["" if v is None else str(v) for v in column.tolist()]


def response(lines: list[str], cluster_ids: list[int], templates: dict[int, str]) -> dict[str, Any]:
    """The contract's response body from each line's cluster id (-1 = unknown)."""
    groups: dict[int, list[int]] = defaultdict(list)
    unknown: list[dict[str, Any]] = []
    for i, cid in enumerate(cluster_ids):
        if cid >= 0:
            groups[cid].append(i)
        else:
            unknown.append({"index": i, "line": lines[i]})
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    template_groups = [
        {
            "cluster_id": cid,
            "template": templates[cid],
            "count": len(indices),
            "indices": indices,
            "samples": [lines[i] for i in indices[:MAX_SAMPLES]],
        }
        for cid, indices in ordered
    ]
    total = len(lines)
    matched = total - len(unknown)
    return {
        "template_groups": template_groups,
        "unknown": unknown,
        "summary": {
            "total": total,
            "matched": matched,
            "templates": len(template_groups),
            "coverage": matched / total if total else 0.0,
        },
    }


@lru_cache(maxsize=16)
def log_request(limits: Limits) -> Declared:
    """``{"data": ["line", ...]}``: at least one line (a string), at most the batch limit."""
    example = {"data": ["081109 203615 148 INFO dfs.DataNode: Receiving block blk_1 src /10.0.0.1:5"]}
    return Declared(
        object_type("LogRequest", {"data": LINES.items(StrictStr, limits)}, examples=[example]), LINES
    )


class TemplateGroup(TypedDict):
    cluster_id: int
    template: str
    count: int
    indices: list[int]
    samples: list[str]


class UnknownLine(TypedDict):
    index: int
    line: str


class LogSummary(TypedDict):
    total: int
    matched: int
    templates: int
    coverage: float


class LogMetadata(TypedDict):
    model_uri: str
    model_version: str | None
    count: int
    execution_ms: float


class LogResponse(TypedDict):
    template_groups: list[TemplateGroup]
    unknown: list[UnknownLine]
    summary: LogSummary
    metadata: LogMetadata


LOG_RESPONSE = Declared(LogResponse)


class LogClusteringContract(ScenarioContract):
    """Serves any pyfunc whose output has ``cluster_id`` and ``template`` per line; models offering
    ``assign(lines) -> (cluster_ids, templates)`` are called directly (no DataFrame round trip)."""

    scenario: ClassVar[str] = SCENARIO

    def request(self, model: ServedModel | None, limits: Limits) -> Declared:
        return log_request(limits)

    def response(self, model: ServedModel | None) -> Declared:
        return LOG_RESPONSE

    def predict(self, body: Any, model: ServedModel, limits: Limits) -> dict[str, Any]:
        started = time.perf_counter()
        data: list[str] = self.request(model, limits).validate(body, limits)["data"]
        assign = getattr(model.python_model, "assign", None)
        if callable(assign):
            cluster_ids, templates = assign(data)
        else:
            out = model.predict_frame(pd.DataFrame({"line": data}), None)
            cluster_ids = [int(c) for c in out["cluster_id"].tolist()]
            templates = {int(c): str(t) for c, t in zip(cluster_ids, out["template"].tolist(), strict=True)}
        payload = response(data, cluster_ids, templates)
        payload["metadata"] = {
            "model_uri": model.uri,
            "model_version": model.version,
            "count": len(data),
            "execution_ms": (time.perf_counter() - started) * 1000.0,
        }
        return payload

    def warmup_body(self, model: ServedModel) -> dict[str, Any]:
        return {"data": ["warm-up line 1", "warm-up line 2"]}
