"""Entry previews on the datasets page, one per scenario (``PREVIEWS``): first rows and a plot of the series,
first log lines, sample images, sample detection images with their boxes drawn.

Only the head of a CSV or log object is read (objects are immutable, so reads are cached by key); a zip is
downloaded once to a temporary file, up to ``PREVIEW_MAX_ZIP_BYTES``. Callers pass entries they obtained
through the catalog's scoped services, so a preview never reads another team's object.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st
from PIL import Image, ImageDraw

from catalog.models import DatasetEntry
from catalog.scenarios import Scenario
from catalog.validators.images import class_of
from catalog.validators.logreader import LogReader
from catalog.validators.yolo import MARKERS, parse_labels, read_layout
from catalog.validators.zipsafe import open_zip, read_member
from tasks.datasets import download_object, object_head

HEAD_BYTES = 256 * 1024
PREVIEW_ROWS = 20
SAMPLE_IMAGES = 8
PREVIEW_MAX_ZIP_BYTES = 200 * 1024 * 1024
_ZIP_CACHE = Path(tempfile.gettempdir()) / "mlops-preview"
COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"]


@st.cache_data(max_entries=64, show_spinner=False)
def _head(object_key: str, limit: int = HEAD_BYTES) -> bytes:
    return object_head(object_key, limit)


def _zip_path(entry: DatasetEntry) -> Path | None:
    if entry.size_bytes > PREVIEW_MAX_ZIP_BYTES:
        st.info(f"{entry.name} is {entry.size_bytes / 2**20:.0f} MiB: too large to preview here")
        return None
    _ZIP_CACHE.mkdir(parents=True, exist_ok=True)
    path = _ZIP_CACHE / f"{entry.sha256}.zip"  # content-addressed: the same bytes whatever the entry
    if not path.exists():
        partial = path.with_suffix(".part")
        download_object(entry.object_key, partial)
        partial.replace(path)
    return path


def _csv_head(entry: DatasetEntry) -> pd.DataFrame:
    head = _head(entry.object_key)
    if len(head) == HEAD_BYTES:
        head = head[: head.rfind(b"\n") + 1]  # drop the partial last row
    return pd.read_csv(io.BytesIO(head), encoding="utf-8-sig", skipinitialspace=True)


def preview_series(entry: DatasetEntry) -> None:
    frame = _csv_head(entry)
    st.dataframe(frame.head(PREVIEW_ROWS), hide_index=True)
    if "timestamp" in frame.columns:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="mixed", errors="coerce")
        numeric = [c for c in frame.columns if c != "timestamp" and pd.api.types.is_numeric_dtype(frame[c])]
        if numeric:
            st.caption(f"first {len(frame)} rows of {entry.summary.get('rows', '?')}")
            st.line_chart(frame.set_index("timestamp")[numeric])


def preview_text(entry: DatasetEntry) -> None:
    st.dataframe(_csv_head(entry).head(PREVIEW_ROWS), hide_index=True)
    labels = entry.summary.get("labels") or {}
    if labels:
        st.bar_chart(pd.Series(labels, name="rows"))


def preview_log(entry: DatasetEntry) -> None:
    lines = []
    for line in LogReader(io.BytesIO(_head(entry.object_key)), filename=entry.name).lines():
        if line.strip():
            lines.append(line)
        if len(lines) >= PREVIEW_ROWS:
            break
    st.code("\n".join(lines) or "(empty)", language=None)


def preview_class_folders(entry: DatasetEntry) -> None:
    path = _zip_path(entry)
    if path is None:
        return
    images, captions, seen = [], [], dict[str, int]()
    with open_zip(path, entry.name, depth=2) as (zf, members):
        for member in members:
            label = class_of(member, entry.name)
            if seen.get(label, 0) >= max(
                1, SAMPLE_IMAGES // max(len(entry.summary.get("classes") or [1]), 1)
            ):
                continue
            seen[label] = seen.get(label, 0) + 1
            images.append(Image.open(io.BytesIO(read_member(zf, member, entry.name))).convert("RGB"))
            captions.append(label)
            if len(images) >= SAMPLE_IMAGES:
                break
    st.image(images, caption=captions, width=128)


def draw_boxes(
    image: Image.Image, boxes: list[tuple[int, float, float, float, float]], classes: list[str]
) -> Image.Image:
    """The image with its YOLO boxes (normalised centre and size) drawn and labelled."""
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    width, height = out.size
    for cls, cx, cy, bw, bh in boxes:
        x0, y0 = (cx - bw / 2) * width, (cy - bh / 2) * height
        x1, y1 = (cx + bw / 2) * width, (cy + bh / 2) * height
        color = COLORS[cls % len(COLORS)]
        draw.rectangle([x0, y0, x1, y1], outline=color, width=max(1, round(min(width, height) / 100)))
        draw.text((x0 + 2, y0 + 1), classes[cls], fill=color)
    return out


def preview_yolo(entry: DatasetEntry) -> None:
    path = _zip_path(entry)
    if path is None:
        return
    images, captions = [], []
    with open_zip(path, entry.name, markers=MARKERS) as (zf, members):
        layout = read_layout(zf, members, entry.name)
        for key, member in list(layout.images.items())[:SAMPLE_IMAGES]:
            label = layout.labels.get(key)
            boxes = (
                parse_labels(read_member(zf, label, entry.name), key, len(layout.classes)) if label else []
            )
            image = Image.open(io.BytesIO(read_member(zf, member, entry.name)))
            images.append(draw_boxes(image, boxes, layout.classes))
            captions.append(f"{key} ({len(boxes)} box(es))")
    st.image(images, caption=captions, width=160)


PREVIEWS: dict[Scenario, Callable[[DatasetEntry], None]] = {
    Scenario.ANOMALY_DETECTION: preview_series,
    Scenario.TIMESERIES_PREDICT: preview_series,
    Scenario.TEXT_CLASSIFICATION: preview_text,
    Scenario.LOG_CLUSTERING: preview_log,
    Scenario.IMAGE_CLASSIFICATION: preview_class_folders,
    Scenario.OBJECT_DETECTION: preview_yolo,
}


def render_preview(entry: DatasetEntry, scenario: str) -> None:
    try:
        PREVIEWS[Scenario(scenario)](entry)
    except Exception as exc:  # noqa: BLE001 - a preview must never break the page
        st.warning(f"no preview for {entry.name}: {exc}")
