"""The gray release panel of a serving's page: what it runs (stable version, canary and its weight, shadow, routing
header), each version's requests, errors, p50 and p99 from its server's metrics, charted over the time the page is
watched (a sample per refresh, kept in the session), the shadow's and canary's agreement with the stable version,
forms to set the canary and the shadow and to start a roll-out, and the roll-outs with every decision (their
windows' figures charted step by step) and the pause, resume and abort buttons. Changing anything needs
``servings:manage``; the server is told by the ``serving-traffic`` flow, a roll-out runs as ``serving-rollout``."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pandas as pd
import streamlit as st

from catalog.db import session_scope
from catalog.errors import CatalogError
from catalog.models import Rollout, Serving
from catalog.scoping import Actor
from catalog.services import models as models_svc
from catalog.services import rollouts as rollout_svc
from catalog.services import traffic as traffic_svc
from dashboard.permissions import Gate, button, read_only_note
from dashboard.views.common import attempt, when
from flows.launch import run_flow
from mlops_lite.schemas.rollouts import StartRollout
from tasks.serving_metrics import Snapshot, scrape, versions, window

SAMPLES_KEPT = 120
NONE = "(none)"


def _versions(who: Actor, serving: Serving) -> list[str]:
    """The model's versions of finished runs, newest first (the ones a canary or shadow may be)."""
    if serving.model_id is None:
        return []
    try:
        with session_scope() as session:
            _, rows = models_svc.list_versions(session, actor=who, model_id=serving.model_id, limit=50)
            return [str(r.version) for r in rows if r.run_status == "FINISHED"]
    except CatalogError:  # a model the reader may not see: no versions to offer, and nothing said about it
        return []


def _sample(serving: Serving) -> Snapshot | None:
    """A scrape of the server now, kept with the page's earlier ones (None: it did not answer)."""
    try:
        snapshot = scrape(serving, timeout=5)
    except Exception:  # noqa: BLE001 - the panel says the server did not answer; the page still renders
        return None
    key = f"sv_samples_{serving.id}"
    samples: list[tuple[float, Snapshot]] = st.session_state.setdefault(key, [])
    samples.append((time.time(), snapshot))
    del samples[:-SAMPLES_KEPT]
    return snapshot


def _live(serving: Serving) -> None:
    snapshot = _sample(serving)
    if snapshot is None:
        st.caption("The server's metrics could not be read now.")
        return
    stable = serving.resolved_version or ""
    rows = []
    for version in versions(snapshot):
        w = window({}, snapshot, stable=stable, canary=version)
        v = w.canary
        rows.append(
            {
                "version": version,
                "role": _role(serving, version),
                "requests": int(v.requests),
                "errors (5xx)": int(v.errors),
                "p50 ms": round(v.p50 * 1000, 2) if v.p50 is not None else None,
                "p99 ms": round(v.p99 * 1000, 2) if v.p99 is not None else None,
                "agreement with stable": w.comparison.get("agreement"),
                "score correlation": w.comparison.get("score_correlation"),
                "forecast relative diff": w.comparison.get("relative_diff"),
            }
        )
    for version in (serving.shadow_version,):
        if version is not None and str(version) not in versions(snapshot):
            w = window({}, snapshot, stable=stable, canary=str(version))
            rows.append({"version": str(version), "role": "shadow", **_comparison(w.comparison)})
    st.caption("Since the server started (its own counters)")
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    _over_time(serving)


def _comparison(figures: dict[str, float]) -> dict[str, Any]:
    return {
        "agreement with stable": figures.get("agreement"),
        "score correlation": figures.get("score_correlation"),
        "forecast relative diff": figures.get("relative_diff"),
        "compared records": figures.get("records"),
    }


def _role(serving: Serving, version: str) -> str:
    if version == serving.resolved_version:
        return "stable"
    if serving.canary_version is not None and version == str(serving.canary_version):
        return f"canary ({serving.canary_weight} %)"
    return "earlier"


def _over_time(serving: Serving) -> None:
    """Per-version rate, errors, p50 and p99 between consecutive samples of this page."""
    samples: list[tuple[float, Snapshot]] = st.session_state.get(f"sv_samples_{serving.id}", [])
    if len(samples) < 2:
        st.caption("Refresh the page to chart rates over time (a sample per refresh).")
        return
    rows = []
    stable = serving.resolved_version or ""
    for (t0, before), (t1, after) in itertools.pairwise(samples):
        seconds = max(t1 - t0, 1e-6)
        for version in versions(after):
            v = window(before, after, stable=stable, canary=version).canary
            rows.append(
                {
                    "at": pd.Timestamp(t1, unit="s"),
                    "version": version,
                    "req/s": v.requests / seconds,
                    "errors/s": v.errors / seconds,
                    "p50 ms": (v.p50 or 0) * 1000,
                    "p99 ms": (v.p99 or 0) * 1000,
                }
            )
    if not rows:
        return
    frame = pd.DataFrame(rows)
    cols = st.columns(2)
    for col, measure in zip(cols * 2, ("req/s", "errors/s", "p50 ms", "p99 ms"), strict=False):
        col.caption(measure)
        col.line_chart(frame.pivot_table(index="at", columns="version", values=measure))


def _set_traffic(who: Actor, serving: Serving, **change: Any) -> None:
    with session_scope() as session:
        traffic_svc.set_traffic(session, actor=who, serving_id=serving.id, **change)  # type: ignore[arg-type]
    if serving.desired_state == "running":
        run_flow("serving-traffic", {"serving_id": serving.id}, wait=True)


def _forms(who: Actor, serving: Serving, allowed: Gate, choices: list[str]) -> None:
    others = [v for v in choices if v != serving.resolved_version]
    with st.form(f"sv_canary_{serving.id}"):
        st.markdown("**Canary**")
        read_only_note(allowed)
        current = str(serving.canary_version) if serving.canary_version is not None else NONE
        options = [NONE, *others]
        version = st.selectbox(
            "Version",
            options,
            index=options.index(current) if current in options else 0,
            key=f"sv_canary_version_{serving.id}",
        )
        weight = st.slider(
            "Weight (% of requests)", 0, 100, serving.canary_weight, key=f"sv_canary_weight_{serving.id}"
        )
        header = st.text_input(
            "Routing header (sticky; empty: random)",
            value=serving.routing_header or "",
            key=f"sv_canary_header_{serving.id}",
        )
        if button("Apply canary", allowed, submit=True):
            canary = None if version == NONE else version
            attempt(
                lambda: _set_traffic(
                    who,
                    serving,
                    canary=canary,
                    weight=weight if canary else None,
                    routing_header=header or None,
                ),
                success="traffic applied",
            )
    with st.form(f"sv_shadow_{serving.id}"):
        st.markdown("**Shadow** (answers copies of live requests; never returned)")
        current = str(serving.shadow_version) if serving.shadow_version is not None else NONE
        options = [NONE, *others]
        version = st.selectbox(
            "Version",
            options,
            index=options.index(current) if current in options else 0,
            key=f"sv_shadow_version_{serving.id}",
        )
        if button("Apply shadow", allowed, submit=True):
            attempt(
                lambda: _set_traffic(who, serving, shadow=None if version == NONE else version),
                success="shadow applied",
            )
    with st.form(f"sv_rollout_{serving.id}"):
        st.markdown("**Progressive roll-out**")
        version = st.selectbox("Canary version", others or [NONE], key=f"sv_rollout_version_{serving.id}")
        steps = st.text_input(
            "Steps (% weights, from the smallest up; 100 ends it)",
            value="10,50,100",
            key=f"sv_rollout_steps_{serving.id}",
        )
        dwell = st.number_input("Analysis window per step (s)", min_value=1.0, max_value=86400.0, value=60.0)
        cols = st.columns(3)
        max_error = cols[0].number_input("Max error rate", 0.0, 1.0, 0.02, format="%.3f")
        max_p99 = cols[1].number_input("Max p99 ratio", 0.1, 1000.0, 2.0)
        min_agree = cols[2].number_input("Min agreement", 0.0, 1.0, 0.8)
        if button("Start roll-out", allowed, submit=True):
            attempt(
                lambda: _start(who, serving, version, steps, dwell, max_error, max_p99, min_agree),
                success="roll-out started",
            )


def _start(
    who: Actor,
    serving: Serving,
    version: str,
    steps: str,
    dwell: float,
    max_error: float,
    p99: float,
    agree: float,
) -> None:
    try:
        weights = [int(s) for s in steps.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"steps are comma-separated weights, e.g. 10,50,100 (not {steps[:40]!r})") from None
    request = StartRollout.model_validate(
        {
            "canary": version,
            "steps": weights,
            "dwell_seconds": dwell,
            "thresholds": {"max_error_rate": max_error, "max_p99_ratio": p99, "min_agreement": agree},
        }
    )
    with session_scope() as session:
        rollout = rollout_svc.start_rollout(session, actor=who, serving_id=serving.id, request=request)  # type: ignore[arg-type]
        rid = rollout.id
    # The flow claims the roll-out for its run itself (catalog.services.rollouts.claim_flow_run).
    run_flow("serving-rollout", {"rollout_id": rid}, wait=False)


def _rollouts(who: Actor, serving: Serving, allowed: Gate) -> None:
    with session_scope() as session:
        _, rows = rollout_svc.list_rollouts(session, actor=who, serving_id=serving.id, limit=10)  # type: ignore[arg-type]
        account = {r.id: rollout_svc.decisions(session, actor=who, rollout_id=r.id) for r in rows}  # type: ignore[arg-type]
        session.expunge_all()
    if not rows:
        st.caption("No roll-out yet.")
        return
    for rollout in rows:
        _rollout(who, rollout, account[rollout.id], allowed)


def _rollout(who: Actor, rollout: Rollout, decisions: list[Any], allowed: Gate) -> None:
    title = (
        f"Roll-out #{rollout.id}: v{rollout.canary_version} over v{rollout.stable_version}, "
        f"steps {rollout.steps} — {rollout.status} at {rollout.weight} %"
    )
    with st.expander(title, expanded=rollout.status in ("running", "paused")):
        if rollout.reason:
            st.caption(rollout.reason)
        if rollout.status in ("running", "paused"):
            cols = st.columns(3)
            for col, action in zip(cols, ("pause", "resume", "abort"), strict=True):
                if button(action.capitalize(), allowed, key=f"sv_ro_{action}_{rollout.id}", where=col):
                    attempt(lambda a=action: _control(who, rollout, a), success=f"{action} done")
        table = [
            {
                "at": when(d.created_at),
                "weight %": d.weight,
                "decision": d.action,
                "reason": d.reason,
                **_window_figures(d.figures),
            }
            for d in decisions
        ]
        if table:
            st.dataframe(pd.DataFrame(table), hide_index=True)
            judged = pd.DataFrame([r for r in table if r.get("canary p99 ms") is not None])
            if not judged.empty:
                st.line_chart(judged.set_index("at")[["stable p99 ms", "canary p99 ms"]])


def _window_figures(figures: dict[str, Any]) -> dict[str, Any]:
    if not figures:
        return {}
    stable, canary = figures.get("stable") or {}, figures.get("canary") or {}

    def ms(value: float | None) -> float | None:
        return round(value * 1000, 2) if value is not None else None

    return {
        "stable requests": stable.get("requests"),
        "canary requests": canary.get("requests"),
        "canary error rate": canary.get("error_rate"),
        "stable p99 ms": ms(stable.get("p99")),
        "canary p99 ms": ms(canary.get("p99")),
        "agreement": (figures.get("comparison") or {}).get("agreement"),
    }


def _control(who: Actor, rollout: Rollout, action: str) -> None:
    from tasks import events

    with session_scope() as session:
        done = rollout_svc.control_rollout(session, actor=who, rollout_id=rollout.id, action=action)  # type: ignore[arg-type]
        reason = rollout_svc.decisions(session, actor=who, rollout_id=done.id)[-1].reason  # type: ignore[arg-type]
        serving = session.get(Serving, done.serving_id)
        scenario = serving.scenario if serving is not None else ""
        session.expunge(done)
    if action == "abort":
        run_flow("serving-traffic", {"serving_id": done.serving_id}, wait=True)
    events.publish_rollout(action, rollout=done, scenario=scenario, reason=reason)


def render_traffic(who: Actor, serving: Serving, allowed: Gate) -> None:
    """The gray release panel under a serving's detail."""
    st.markdown("#### Traffic")
    cols = st.columns(4)
    cols[0].metric("Stable", f"v{serving.resolved_version}" if serving.resolved_version else "-")
    cols[1].metric(
        "Canary", f"v{serving.canary_version} · {serving.canary_weight} %" if serving.canary_version else "-"
    )
    cols[2].metric("Shadow", f"v{serving.shadow_version}" if serving.shadow_version else "-")
    cols[3].metric("Routing header", serving.routing_header or "random")
    if serving.observed_state == "running" and not serving.observed_stale:
        _live(serving)
    with st.expander("Change the traffic, or roll a canary out"):
        _forms(who, serving, allowed, _versions(who, serving))
    _rollouts(who, serving, allowed)
