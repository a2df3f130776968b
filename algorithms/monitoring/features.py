"""What monitoring measures in each scenario's requests and answers: named samples taken from logged pairs
(the request's and answer's JSON, ``algorithms.serve.predlog``), compared window against reference by
``algorithms.monitoring.drift``.

A sample is ``numeric`` (values), ``categorical`` (labels: a class mix, an anomaly rate, the share of unknown
log lines) or ``tokens`` (words, for a text window's out-of-vocabulary rate). Names say which side they measure:
``input.*`` or ``output.*``. Each scenario has one extractor in ``EXTRACTORS`` (a registry, by the scenario's
name); a pair it cannot read (a body left out as too long, an error answer) adds nothing.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["numeric", "categorical", "tokens"]
Pair = tuple[dict[str, Any] | None, dict[str, Any] | None]  # (request, answer), either None when not logged
_WORD = re.compile(r"\w+", re.UNICODE)
# Brightness is measured on a thumbnail: enough for a mean, and a large image costs no more than a small one.
THUMBNAIL = (64, 64)
# The inference server's default per-image pixel limit (MLOPS_PREDICT_MAX_IMAGE_PIXELS): larger ones were refused.
MAX_PIXELS = 25_000_000


@dataclass
class Samples:
    kinds: dict[str, Kind] = field(default_factory=dict)
    values: dict[str, list[Any]] = field(default_factory=dict)

    skipped: int = 0  # pairs that did not have the scenario's shapes

    def add(self, name: str, kind: Kind, values: Iterable[Any]) -> None:
        self.kinds.setdefault(name, kind)
        self.values.setdefault(name, []).extend(values)

    def merge(self, other: Samples) -> None:
        for name, values in other.values.items():
            self.add(name, other.kinds[name], values)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def anomaly(request: dict[str, Any] | None, answer: dict[str, Any] | None, out: Samples) -> None:
    for record in (request or {}).get("data") or []:
        if not isinstance(record, dict):
            continue
        if _number(record.get("value")):
            out.add("input.value", "numeric", [record["value"]])
        for column, value in (record.get("values") or {}).items():
            if _number(value):
                out.add(f"input.{column}", "numeric", [value])
    results = [r for r in (answer or {}).get("results") or [] if isinstance(r, dict)]
    out.add("output.score", "numeric", [r["score"] for r in results if _number(r.get("score"))])
    out.add("output.label", "categorical", [int(r["label"]) for r in results if _number(r.get("label"))])


def forecast(request: dict[str, Any] | None, answer: dict[str, Any] | None, out: Samples) -> None:
    history = (request or {}).get("data") or []
    out.add(
        "input.value",
        "numeric",
        [p["value"] for p in history if isinstance(p, dict) and _number(p.get("value"))],
    )
    points = (answer or {}).get("prediction") or []
    out.add(
        "output.level",
        "numeric",
        [p["value"] for p in points if isinstance(p, dict) and _number(p.get("value"))],
    )


def logs(request: dict[str, Any] | None, answer: dict[str, Any] | None, out: Samples) -> None:
    lines = [line for line in (request or {}).get("data") or [] if isinstance(line, str)]
    out.add("input.length", "numeric", [len(line) for line in lines])
    if answer is None:
        return
    # Counts come from the answer; each line is one record at most, so none can claim more than the lines sent.
    budget = len(lines)
    unknown = min(budget, sum(1 for u in answer.get("unknown") or [] if isinstance(u, dict)))
    out.add("output.unknown", "categorical", [True] * unknown)
    budget -= unknown
    for group in answer.get("template_groups") or []:
        count = group.get("count") if isinstance(group, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            continue
        count = min(count, budget)
        budget -= count
        out.add("output.unknown", "categorical", [False] * count)
        if isinstance(group.get("template"), str):
            out.add("output.template", "categorical", [group["template"]] * count)


def text(request: dict[str, Any] | None, answer: dict[str, Any] | None, out: Samples) -> None:
    texts = [t for t in (request or {}).get("texts") or [] if isinstance(t, str)]
    words = [_WORD.findall(t.lower()) for t in texts]
    out.add("input.length", "numeric", [len(t) for t in texts])
    out.add("input.words", "numeric", [len(w) for w in words])
    out.add("input.vocabulary", "tokens", [word for ws in words for word in ws])
    results = [r for r in (answer or {}).get("results") or [] if isinstance(r, dict)]
    out.add("output.label", "categorical", [str(r["label"]) for r in results if "label" in r])
    out.add(
        "output.probability", "numeric", [r["probability"] for r in results if _number(r.get("probability"))]
    )


def image_stats(encoded: str, max_pixels: int = MAX_PIXELS) -> tuple[int, int, float] | None:
    """(width, height, mean brightness 0–255) of a base64 image or data URI; None when it does not decode or has
    more than ``max_pixels`` (read from its header before anything is decoded)."""
    from PIL import Image

    data = encoded.split(",", 1)[1] if encoded.startswith("data:") else encoded
    try:
        with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as image:
            width, height = image.size
            if width * height > max_pixels:
                return None
            image.draft("L", THUMBNAIL)  # JPEG decodes at a reduced scale
            small = image.convert("L")
            small.thumbnail(THUMBNAIL)
            pixels = list(small.getdata())
    except Exception:  # noqa: BLE001 - whatever PIL raises (a decompression bomb too): no stats
        return None
    return width, height, sum(pixels) / max(len(pixels), 1)


def images(request: dict[str, Any] | None, answer: dict[str, Any] | None, out: Samples) -> None:
    for encoded in (request or {}).get("images") or []:
        stats = image_stats(encoded) if isinstance(encoded, str) else None
        if stats is not None:
            out.add("input.width", "numeric", [stats[0]])
            out.add("input.height", "numeric", [stats[1]])
            out.add("input.brightness", "numeric", [stats[2]])
    for result in (answer or {}).get("results") or []:
        if not isinstance(result, dict) or "error" in result:
            continue
        if "predictions" in result:
            best = (result["predictions"] or [{}])[0]
            out.add("output.class", "categorical", [str(best.get("class_name", best.get("class_id")))])
            if _number(best.get("confidence")):
                out.add("output.confidence", "numeric", [best["confidence"]])
        if "detections" in result:
            found = [d for d in result["detections"] or [] if isinstance(d, dict)]
            out.add("output.detections", "numeric", [len(found)])
            out.add(
                "output.class", "categorical", [str(d.get("class_name", d.get("class_id"))) for d in found]
            )


Extractor = Callable[[dict[str, Any] | None, dict[str, Any] | None, Samples], None]
EXTRACTORS: dict[str, Extractor] = {
    "anomaly_detection": anomaly,
    "timeseries_predict": forecast,
    "log_clustering": logs,
    "text_classification": text,
    "image_classification": images,
    "object_detection": images,
}


def extract(scenario: str, pairs: Iterable[Pair]) -> Samples:
    """Every sample of ``scenario`` over the logged ``pairs``. Requests are logged as sent, refused ones too: a
    pair whose shapes are not the contract's adds nothing (counted in ``skipped``), whatever it holds."""
    extractor = EXTRACTORS[scenario]
    out = Samples()
    for request, answer in pairs:
        one = Samples()
        try:
            extractor(
                request if isinstance(request, dict) else None,
                answer if isinstance(answer, dict) else None,
                one,
            )
        except (TypeError, ValueError, KeyError, AttributeError, IndexError):
            out.skipped += 1
            continue
        out.merge(one)
    return out


def oov_rate(reference: Iterable[str], window: Iterable[str]) -> float | None:
    """The share of the window's words the reference never used (None for an empty window)."""
    known = set(reference)
    words = list(window)
    return sum(w not in known for w in words) / len(words) if words else None
