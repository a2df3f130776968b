"""Comparing two versions' answers to the same request, by scenario, as sums a counter can hold.

A shadow version answers a copy of a live request, and during a roll-out the stable version answers a copy of
what the canary answered (``algorithms.serve.mirror``); each pair of 200 answers is compared here. The result is
a few sums (records compared, records agreeing, the sums a correlation needs, absolute differences), added to
the server's ``mlops_compare_sums`` counter: a window's comparison is then the difference of two scrapes, and
``summarize`` turns any such difference into the scenario's figures (agreement, score correlation, forecast
difference). Sums, not ratios, so that windows add up and nothing is averaged twice.

Per scenario:
- anomaly detection: label agreement and the correlation of scores, record by record (same timestamps);
- forecasting: the mean absolute difference of the forecast values and that difference relative to the
  reference's mean absolute value;
- log clustering: template agreement, line by line (an unknown line has the template "");
- text and image classification: agreement of the top label / class;
- object detection: agreement of the sorted list of classes detected in each image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

Sums = dict[str, float]
Comparer = Callable[[Mapping[str, Any], Mapping[str, Any]], Sums]

#: The sums a comparer may return (the counter's ``stat`` label takes no other value).
STATS = ("records", "agree", "n", "sx", "sy", "sxx", "syy", "sxy", "abs_diff", "ref_abs")


def _agreement(reference: list[Any], candidate: list[Any]) -> Sums:
    n = min(len(reference), len(candidate))
    agree = sum(1 for i in range(n) if reference[i] == candidate[i])
    # A record one answer has and the other lacks counts as a disagreement.
    return {"records": float(max(len(reference), len(candidate))), "agree": float(agree)}


def _correlation_sums(xs: list[float], ys: list[float]) -> Sums:
    sums = dict.fromkeys(("n", "sx", "sy", "sxx", "syy", "sxy"), 0.0)
    for x, y in zip(xs, ys, strict=False):
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        sums["n"] += 1
        sums["sx"] += x
        sums["sy"] += y
        sums["sxx"] += x * x
        sums["syy"] += y * y
        sums["sxy"] += x * y
    return sums


def _anomalies(reference: Mapping[str, Any], candidate: Mapping[str, Any]) -> Sums:
    ref, cand = reference.get("results") or [], candidate.get("results") or []
    sums = _agreement([r.get("label") for r in ref], [r.get("label") for r in cand])
    scores = _correlation_sums(
        [float(r.get("score") or 0.0) for r in ref], [float(r.get("score") or 0.0) for r in cand]
    )
    return sums | scores


def _forecasts(reference: Mapping[str, Any], candidate: Mapping[str, Any]) -> Sums:
    ref = [float(p.get("value") or 0.0) for p in reference.get("prediction") or []]
    cand = [float(p.get("value") or 0.0) for p in candidate.get("prediction") or []]
    n = min(len(ref), len(cand))
    pairs = [(r, c) for r, c in zip(ref[:n], cand[:n], strict=True) if math.isfinite(r) and math.isfinite(c)]
    return {
        "records": float(len(pairs)),
        "abs_diff": sum(abs(r - c) for r, c in pairs),
        "ref_abs": sum(abs(r) for r, _ in pairs),
    }


def _line_templates(answer: Mapping[str, Any]) -> list[str]:
    count = len(answer.get("unknown") or []) + sum(
        g.get("count", 0) for g in answer.get("template_groups") or []
    )
    templates = [""] * count
    for group in answer.get("template_groups") or []:
        for index in group.get("indices") or []:
            if 0 <= index < count:
                templates[index] = str(group.get("template", ""))
    return templates


def _logs(reference: Mapping[str, Any], candidate: Mapping[str, Any]) -> Sums:
    return _agreement(_line_templates(reference), _line_templates(candidate))


def _top_labels(reference: Mapping[str, Any], candidate: Mapping[str, Any]) -> Sums:
    def labels(answer: Mapping[str, Any]) -> list[Any]:
        return [r.get("label") for r in answer.get("results") or []]

    return _agreement(labels(reference), labels(candidate))


def _top_classes(reference: Mapping[str, Any], candidate: Mapping[str, Any]) -> Sums:
    def classes(answer: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        for result in answer.get("results") or []:
            predictions = result.get("predictions") or []
            out.append(predictions[0].get("class_id") if predictions else result.get("error"))
        return out

    return _agreement(classes(reference), classes(candidate))


def _detected_classes(reference: Mapping[str, Any], candidate: Mapping[str, Any]) -> Sums:
    def classes(answer: Mapping[str, Any]) -> list[Any]:
        return [
            sorted(d.get("class_id") for d in result.get("detections") or [])
            if "error" not in result
            else result["error"]
            for result in answer.get("results") or []
        ]

    return _agreement(classes(reference), classes(candidate))


COMPARERS: dict[str, Comparer] = {
    "anomaly_detection": _anomalies,
    "timeseries_predict": _forecasts,
    "log_clustering": _logs,
    "text_classification": _top_labels,
    "image_classification": _top_classes,
    "object_detection": _detected_classes,
}


def compare(scenario: str, reference: Mapping[str, Any], candidate: Mapping[str, Any]) -> Sums:
    """The sums comparing ``candidate``'s answer with ``reference``'s (both 200 bodies of one request)."""
    comparer = COMPARERS.get(scenario)
    if comparer is None:
        raise KeyError(f"no comparison is defined for scenario {scenario!r}")
    return comparer(reference, candidate)


def summarize(sums: Mapping[str, float]) -> dict[str, float]:
    """The figures ``sums`` (one pair's, or a window's difference of counters) give: ``records``, and as they
    apply ``agreement`` (0-1), ``score_correlation`` (-1..1; absent while either side is constant),
    ``mean_abs_diff`` and ``relative_diff`` (mean absolute difference over the reference's mean absolute value)."""
    out: dict[str, float] = {}
    records = sums.get("records", 0.0)
    if records:
        out["records"] = records
    if records and "agree" in sums:
        out["agreement"] = sums["agree"] / records
    n = sums.get("n", 0.0)
    if n >= 2:
        sx, sy = sums["sx"], sums["sy"]
        var_x = sums["sxx"] - sx * sx / n
        var_y = sums["syy"] - sy * sy / n
        if var_x > 1e-12 * max(1.0, sums["sxx"]) and var_y > 1e-12 * max(1.0, sums["syy"]):
            r = (sums["sxy"] - sx * sy / n) / math.sqrt(var_x * var_y)
            out["score_correlation"] = max(-1.0, min(1.0, r))
    if records and "abs_diff" in sums:
        out["mean_abs_diff"] = sums["abs_diff"] / records
        if sums.get("ref_abs"):
            out["relative_diff"] = sums["abs_diff"] / sums["ref_abs"]
    return out
