"""How the sandbox draws each scenario's predict result (the response contracts in ``algorithms.base``): pure
functions from a result dict (and the input it answered) to a plotly figure, a table or an image, so they are
tested without a server. Small images are shown enlarged, their boxes scaled with them."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from PIL import Image, ImageDraw

ANOMALY_COLOR = "red"
BAND_COLOR = "rgba(31, 119, 180, 0.2)"
BOX_COLOR = (255, 0, 0)
# Images smaller than this (the demo's are 48-96 px) are shown enlarged by a whole factor (nearest neighbour),
# so that the picture, its boxes and their labels can be read.
SHOWN_PX = 320
_LAYOUT = {"height": 380, "margin": {"l": 10, "r": 10, "t": 30, "b": 10}}


def value_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ("timestamp", "label")]


def draw_anomalies(frame: pd.DataFrame, result: dict[str, Any]) -> go.Figure:
    """The series (first value column) with the points labelled anomalous marked in red."""
    results = result.get("results") or []
    value_col = value_columns(frame)[0]
    # Plain lists: plotly would ship numpy arrays base64-encoded, unreadable to anyone inspecting the figure.
    x = (frame["timestamp"] if "timestamp" in frame.columns else frame.index.to_series()).tolist()
    y = frame[value_col].tolist()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=value_col))
    flagged = [i for i, r in enumerate(results) if int(r.get("label", 0)) == 1 and i < len(frame)]
    fig.add_trace(
        go.Scatter(
            x=[x[i] for i in flagged],
            y=[y[i] for i in flagged],
            mode="markers",
            name="anomaly",
            marker={"color": ANOMALY_COLOR, "size": 9},
            text=[
                f"score {results[i].get('score', 0):.3g} ({results[i].get('severity', '')})" for i in flagged
            ],
        )
    )
    fig.update_layout(**_LAYOUT)
    return fig


def draw_forecast(history: pd.DataFrame | None, result: dict[str, Any]) -> go.Figure:
    """History, then the forecast with its lower-upper interval drawn as a band after it."""
    rows = result.get("prediction") or []
    ts, value, lower, upper = ([r.get(k) for r in rows] for k in ("timestamp", "value", "lower", "upper"))
    fig = go.Figure()
    if history is not None and not history.empty:
        fig.add_trace(
            go.Scatter(
                x=history["timestamp"].tolist(), y=history["value"].tolist(), mode="lines", name="history"
            )
        )
    # The band: the upper edge first, then the lower edge filled up to it.
    fig.add_trace(go.Scatter(x=ts, y=upper, mode="lines", line={"width": 0}, name="upper", showlegend=False))
    fig.add_trace(
        go.Scatter(
            x=ts,
            y=lower,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=BAND_COLOR,
            name="interval",
        )
    )
    fig.add_trace(go.Scatter(x=ts, y=value, mode="lines", name="forecast", line={"dash": "dash"}))
    fig.update_layout(**_LAYOUT)
    return fig


def template_table(result: dict[str, Any]) -> pd.DataFrame:
    """One row per template group, most frequent first."""
    rows = [
        {
            "cluster_id": g.get("cluster_id"),
            "template": g.get("template"),
            "count": g.get("count", 0),
            "samples": " | ".join(map(str, (g.get("samples") or [])[:3])),
        }
        for g in result.get("template_groups") or []
    ]
    frame = pd.DataFrame(rows, columns=["cluster_id", "template", "count", "samples"])
    return frame.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def unknown_table(result: dict[str, Any]) -> pd.DataFrame:
    """The lines that matched no template: their index in the input and the line (the contract's
    ``{"index", "line"}`` items; a bare string is taken as the line)."""
    rows = [
        {"index": u.get("index"), "line": u.get("line")}
        if isinstance(u, dict)
        else {"index": None, "line": str(u)}
        for u in result.get("unknown") or []
    ]
    return pd.DataFrame(rows, columns=["index", "line"])


def class_bars(
    top: list[dict[str, Any]], *, label_key: str = "label", value_key: str = "probability", title: str = ""
) -> go.Figure:
    """Horizontal bars of class probabilities (best at the top)."""
    ordered = sorted(top, key=lambda t: float(t.get(value_key, 0)))
    fig = go.Figure(
        go.Bar(
            x=[float(t.get(value_key, 0)) for t in ordered],
            y=[str(t.get(label_key)) for t in ordered],
            orientation="h",
        )
    )
    fig.update_layout(
        title=title,
        xaxis={"range": [0, 1]},
        height=max(160, 40 * len(ordered) + 80),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def enlargement(width: int, height: int, shown_px: int = SHOWN_PX) -> int:
    """The whole factor an image of this size is enlarged by to be shown at about ``shown_px`` (1: as it is)."""
    return max(1, shown_px // max(width, height, 1))


def _decoded_enlarged(image: bytes, shown_px: int) -> tuple[Image.Image, int]:
    picture = Image.open(io.BytesIO(image)).convert("RGB")
    factor = enlargement(*picture.size, shown_px=shown_px) if shown_px else 1
    if factor > 1:
        picture = picture.resize((picture.width * factor, picture.height * factor), Image.Resampling.NEAREST)
    return picture, factor


def enlarged(image: bytes, shown_px: int = SHOWN_PX) -> Image.Image:
    """The image, enlarged when small (see ``enlargement``)."""
    return _decoded_enlarged(image, shown_px)[0]


def draw_boxes(image: bytes, detections: list[dict[str, Any]], *, shown_px: int = 0) -> Image.Image:
    """The image with each detection's box and label drawn on it; with ``shown_px``, a small image is first
    enlarged (``enlarged``) and the boxes scaled with it."""
    picture, factor = _decoded_enlarged(image, shown_px)
    pen = ImageDraw.Draw(picture)
    for det in detections:
        box = det.get("bbox") or {}
        x1, y1, x2, y2 = (float(box.get(k, 0)) * factor for k in ("x1", "y1", "x2", "y2"))
        pen.rectangle([x1, y1, x2, y2], outline=BOX_COLOR, width=2)
        pen.text(
            (x1 + 2, max(0.0, y1 - 12)),
            f"{det.get('class_name')} {float(det.get('confidence', 0)):.2f}",
            fill=BOX_COLOR,
        )
    return picture
