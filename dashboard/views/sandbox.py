"""Sandbox: send data to a running serving and see the result drawn."""

from __future__ import annotations

import io
import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from catalog.db import session_scope
from catalog.services import serving as svc
from dashboard.views.common import actor, scenario_picker
from tasks.predict import PredictError, predict


def anomaly_payload(frame: pd.DataFrame) -> dict:
    value_cols = [c for c in frame.columns if c not in ("timestamp", "label")]
    data = []
    for row in frame.to_dict("records"):
        values = {c: float(row[c]) for c in value_cols}
        item = {"timestamp": str(row["timestamp"])}
        item.update({"value": values[value_cols[0]]} if len(values) == 1 else {"values": values})
        data.append(item)
    return {"data": data}


def draw_anomalies(frame: pd.DataFrame, result: dict) -> go.Figure:
    results = pd.DataFrame(result.get("results", []))
    value_col = [c for c in frame.columns if c not in ("timestamp", "label")][0]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=frame["timestamp"], y=frame[value_col], mode="lines", name=value_col))
    if not results.empty:
        flagged = results["label"].astype(int) == 1
        idx = results.index[flagged]
        fig.add_trace(go.Scatter(x=frame["timestamp"].iloc[idx], y=frame[value_col].iloc[idx], mode="markers",
                                 name="anomaly", marker={"color": "red", "size": 9}))
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def render() -> None:
    st.title("Sandbox")
    who, _ = actor()
    scenario = scenario_picker("sb_scenario")
    with session_scope() as session:
        _, rows = svc.list_servings(session, actor=who, scenario=scenario, limit=200)
    running = [r for r in rows if r.observed_state == "running"]
    if not running:
        st.info("No running serving in this scenario. Start one on the Serving page.")
        return
    serving = st.selectbox("Serving", running, format_func=lambda s: f"{s.name} (#{s.id})", key="sb_pick")
    if scenario != "anomaly_detection":
        body = st.text_area("Request body (JSON)", value='{"data": []}', height=200)
        if st.button("Predict"):
            try:
                st.json(predict(actor=who, serving_id=serving.id, payload=json.loads(body)))
            except (PredictError, json.JSONDecodeError) as exc:
                st.error(str(exc))
        return
    upload = st.file_uploader("CSV with timestamp and value columns", type=["csv"], key="sb_csv")
    pasted = st.text_area("…or paste CSV", value="", height=150, key="sb_paste")
    text = upload.getvalue().decode("utf-8-sig") if upload else pasted
    if st.button("Predict", key="sb_go") and text.strip():
        try:
            frame = pd.read_csv(io.StringIO(text))
            result = predict(actor=who, serving_id=serving.id, payload=anomaly_payload(frame))
        except (PredictError, ValueError, KeyError) as exc:
            st.error(str(exc))
            return
        meta = result.get("metadata", {})
        st.metric("Anomalies", f"{meta.get('anomalies', 0)} / {meta.get('count', len(frame))}")
        st.plotly_chart(draw_anomalies(frame, result), use_container_width=True)
        st.dataframe(pd.DataFrame(result.get("results", [])), hide_index=True)
