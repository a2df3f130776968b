"""Sandbox inference workspace: pick a running serving, paste or upload data, submit, and see the result drawn
by its scenario — the series with anomalies marked, the forecast band after the history, the template
table, class probability bars, images with their boxes. Each scenario is one input builder and one result
renderer; the drawing itself lives in ``sandbox_draw``. Predicting needs ``servings:predict`` on the serving's
team: without it the workspace is read-only (Predict drawn disabled, the reason said)."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from catalog.db import session_scope
from catalog.scoping import Actor
from catalog.services import names as names_svc
from catalog.services import serving as svc
from dashboard.permissions import button, gate, read_only_note
from dashboard.views import sandbox_draw as draw
from dashboard.views.common import actor, name_of, page_scenario
from tasks.predict import PredictError, model_ready, predict
from tasks.serving import observe_now

# A request the workspace built, plus whatever the renderer needs to draw the answer next to the input.
Built = tuple[dict[str, Any], Any]
# How long Predict waits for a serving that runs but is still loading its model (it would answer 503).
READY_WAIT_SECONDS = 120.0
READY_POLL_SECONDS = 0.5


def anomaly_payload(frame: pd.DataFrame) -> dict[str, Any]:
    cols = draw.value_columns(frame)
    data = []
    for row in frame.to_dict("records"):
        values = {c: float(row[c]) for c in cols}
        item: dict[str, Any] = {"timestamp": str(row.get("timestamp", ""))}
        item.update({"value": values[cols[0]]} if len(values) == 1 else {"values": values})
        data.append(item)
    return {"data": data}


def _text_input(label: str, key: str, types: list[str]) -> str:
    upload = st.file_uploader(f"Upload {label}", type=types, key=f"{key}_file")
    pasted = st.text_area(f"…or paste {label}", value="", height=150, key=f"{key}_paste")
    return upload.getvalue().decode("utf-8-sig", errors="replace") if upload else pasted


def _csv(text: str) -> pd.DataFrame:
    frame = pd.read_csv(io.StringIO(text))
    if not draw.value_columns(frame):
        raise ValueError("the CSV needs at least one value column besides timestamp")
    return frame


def _images_input() -> list[tuple[str, bytes | None]]:
    """(base64, raw bytes or None if undecodable) per image, from uploads or pasted base64/data URIs."""
    uploads = (
        st.file_uploader(
            "Upload images",
            type=["png", "jpg", "jpeg", "bmp", "webp"],
            accept_multiple_files=True,
            key="sb_images",
        )
        or []
    )
    pasted = st.text_area(
        "…or paste base64 images / data URIs, one per line", value="", key="sb_images_paste"
    )
    images = [(base64.b64encode(u.getvalue()).decode(), u.getvalue()) for u in uploads]
    for line in (ln.strip() for ln in pasted.splitlines()):
        if line:
            data = line.split(",", 1)[1] if line.startswith("data:") else line
            try:
                raw: bytes | None = base64.b64decode(data, validate=True)
            except ValueError:
                raw = None
            images.append((line, raw))
    return images


# -- input builders ----------------------------------------------------------------------------------------
def build_anomaly() -> Built | None:
    text = _text_input("a CSV with timestamp and value columns", "sb_anomaly", ["csv"])
    if not text.strip():
        return None
    frame = _csv(text)
    return anomaly_payload(frame), frame


def iso_timestamp(value: Any) -> str:
    """A CSV's timestamp as the ISO 8601 the forecasting contract takes (``01/02/2024`` →
    ``2024-01-02T00:00:00``); a value pandas cannot read goes as it is, and the server's 422 names it."""
    try:
        return pd.Timestamp(value).isoformat()
    except (ValueError, TypeError, OverflowError):
        return str(value)


def build_forecast() -> Built | None:
    steps = int(st.number_input("Steps to forecast", min_value=1, max_value=1000, value=24, key="sb_steps"))
    text = _text_input("recent history: a CSV with timestamp and value (optional)", "sb_forecast", ["csv"])
    history = _csv(text) if text.strip() else None
    data = (
        []
        if history is None
        else [
            {"timestamp": iso_timestamp(t), "value": float(v)}
            for t, v in zip(history["timestamp"], history[draw.value_columns(history)[0]], strict=True)
        ]
    )
    if history is not None:
        history = history.rename(columns={draw.value_columns(history)[0]: "value"})
    return {"data": data, "config": {"steps": steps}}, history


def build_logs() -> Built | None:
    text = _text_input("log lines", "sb_logs", ["log", "txt"])
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return ({"data": lines}, lines) if lines else None


def build_texts() -> Built | None:
    top_k = int(st.number_input("Top k", min_value=1, max_value=20, value=3, key="sb_topk"))
    text = _text_input("texts, one per line", "sb_texts", ["txt"])
    texts = [ln for ln in text.splitlines() if ln.strip()]
    return ({"texts": texts, "config": {"top_k": top_k}}, texts) if texts else None


def build_image_classes() -> Built | None:
    top_k = int(st.number_input("Top k", min_value=1, max_value=20, value=3, key="sb_img_topk"))
    images = _images_input()
    return ({"images": [b for b, _ in images], "config": {"top_k": top_k}}, images) if images else None


def build_detection() -> Built | None:
    cols = st.columns(3)
    conf = float(cols[0].number_input("Confidence", 0.0, 1.0, 0.25, key="sb_conf"))
    iou = float(cols[1].number_input("IoU", 0.0, 1.0, 0.45, key="sb_iou"))
    top = int(cols[2].number_input("Max detections", 1, 1000, 100, key="sb_maxdet"))
    images = _images_input()
    config = {"conf": conf, "iou": iou, "max_detections": top}
    return ({"images": [b for b, _ in images], "config": config}, images) if images else None


# -- result renderers --------------------------------------------------------------------------------------
def show_anomaly(frame: pd.DataFrame, result: dict[str, Any]) -> None:
    meta = result.get("metadata") or {}
    st.metric("Anomalies", f"{meta.get('anomalies', 0)} / {meta.get('count', len(frame))}")
    st.plotly_chart(draw.draw_anomalies(frame, result), key="sb_anomaly_chart")
    st.dataframe(pd.DataFrame(result.get("results") or []), hide_index=True)


def show_forecast(history: pd.DataFrame | None, result: dict[str, Any]) -> None:
    st.plotly_chart(draw.draw_forecast(history, result), key="sb_forecast_chart")
    st.dataframe(pd.DataFrame(result.get("prediction") or []), hide_index=True)


def show_logs(lines: list[str], result: dict[str, Any]) -> None:
    summary = result.get("summary") or {}
    cols = st.columns(3)
    cols[0].metric("Templates", summary.get("templates", len(result.get("template_groups") or [])))
    cols[1].metric("Matched", f"{summary.get('matched', 0)} / {summary.get('total', len(lines))}")
    cols[2].metric("Coverage", f"{float(summary.get('coverage', 0)):.0%}")
    st.dataframe(draw.template_table(result), hide_index=True)
    unknown = draw.unknown_table(result)
    if not unknown.empty:
        st.caption(f"{len(unknown)} line(s) matched no template")
        st.dataframe(unknown, hide_index=True)


def show_texts(texts: list[str], result: dict[str, Any]) -> None:
    for i, (text, item) in enumerate(zip(texts, result.get("results") or [], strict=False)):
        st.markdown(f"**{item.get('label')}** ({float(item.get('probability', 0)):.1%}) — {text[:200]}")
        st.plotly_chart(draw.class_bars(item.get("top") or []), key=f"sb_text_{i}")


def show_image_classes(images: list[tuple[str, bytes | None]], result: dict[str, Any]) -> None:
    for i, ((_, raw), item) in enumerate(zip(images, result.get("results") or [], strict=False)):
        cols = st.columns([1, 2])
        if raw:
            cols[0].image(draw.enlarged(raw), caption=f"image {i}")
        if "error" in item:
            cols[1].error(f"image {i}: {item['error']}")
            continue
        cols[1].plotly_chart(
            draw.class_bars(item.get("predictions") or [], label_key="class_name", value_key="confidence"),
            key=f"sb_img_{i}",
        )


def show_detection(images: list[tuple[str, bytes | None]], result: dict[str, Any]) -> None:
    for i, ((_, raw), item) in enumerate(zip(images, result.get("results") or [], strict=False)):
        if "error" in item or raw is None:
            st.error(f"image {i}: {item.get('error', 'not an image')}")
            continue
        detections = item.get("detections") or []
        st.image(
            draw.draw_boxes(raw, detections, shown_px=draw.SHOWN_PX),
            caption=f"image {i}: {len(detections)} detection(s)",
        )
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        **d.get("bbox", {}),
                        "class_name": d.get("class_name"),
                        "confidence": d.get("confidence"),
                    }
                    for d in detections
                ]
            ),
            hide_index=True,
        )


WORKSPACES: dict[str, tuple[Callable[[], Built | None], Callable[[Any, dict[str, Any]], None]]] = {
    "anomaly_detection": (build_anomaly, show_anomaly),
    "timeseries_predict": (build_forecast, show_forecast),
    "log_clustering": (build_logs, show_logs),
    "text_classification": (build_texts, show_texts),
    "image_classification": (build_image_classes, show_image_classes),
    "object_detection": (build_detection, show_detection),
}


def wait_for_model(who: Actor, serving: Any) -> bool:
    """True once the serving has loaded its model. A serving is listed as soon as its server runs, which is
    before the model is loaded (the first minutes after "Create and start"): rather than show the server's
    503, wait for it here with a spinner, up to ``READY_WAIT_SECONDS``."""
    if model_ready(actor=who, serving_id=serving.id):
        return True
    with st.spinner(f"Waiting for {serving.name!r} to load its model…"):
        deadline = time.monotonic() + READY_WAIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(READY_POLL_SECONDS)
            if model_ready(actor=who, serving_id=serving.id):
                return True
    st.warning(
        f"{serving.name!r} runs but has not loaded its model after {READY_WAIT_SECONDS:g} s; press "
        "Predict again in a moment, or look at the serving on the Serving page."
    )
    return False


def running_servings(who: Actor, scenario: str) -> list[Any]:
    with session_scope() as session:
        _, rows = svc.list_servings(session, actor=who, scenario=scenario, limit=200)
    observe_now([r.id for r in rows if r.id is not None])  # live state: pick only what runs now
    with session_scope() as session:
        _, rows = svc.list_servings(session, actor=who, scenario=scenario, limit=200)
    return [r for r in rows if r.observed_state == "running" and not r.observed_stale]


def served_model(who: Actor, serving: Any) -> str:
    """What the serving serves: its training job (or, made from a model, its model) by name, and the model
    version."""
    version = serving.resolved_version or serving.model_version
    with session_scope() as session:
        if serving.train_job_id is None:
            models = names_svc.model_names(session, actor=who, model_ids=[serving.model_id])
            return f"model {name_of(models, serving.model_id)}, model version {version}"
        jobs = names_svc.job_names(session, actor=who, job_ids=[serving.train_job_id])
    return f"training job {name_of(jobs, serving.train_job_id)}, model version {version}"


def render(scenario: str | None = None) -> None:
    st.title("Sandbox")
    who, _ = actor()
    scenario = page_scenario(scenario, "sb_scenario")
    running = running_servings(who, scenario)
    if not running:
        st.info("No running serving in this scenario. Start one on the Serving page.")
        return
    serving = st.selectbox("Serving", running, format_func=lambda s: f"{s.name} (#{s.id})", key="sb_pick")
    st.caption(f"Serves {served_model(who, serving)}")
    allowed = gate(who, "servings:predict", serving.team_id)
    read_only_note(allowed)
    build, show = WORKSPACES[scenario]
    try:
        built = build()
    except (ValueError, KeyError, pd.errors.ParserError) as exc:
        st.error(f"input not understood: {exc}")
        return
    if not button("Predict", allowed, key="sb_go", disabled=built is None) or built is None:
        return
    payload, shown_with = built
    if not wait_for_model(who, serving):
        return
    try:
        result = predict(actor=who, serving_id=serving.id, payload=payload)
    except PredictError as exc:
        st.error(f"HTTP {exc.status}: {exc}")
        if exc.details:
            st.json(exc.details)
        return
    show(shown_with, result)
