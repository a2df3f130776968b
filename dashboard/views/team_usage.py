"""A team's usage against its quotas (``catalog.services.quotas``): one row per quota, with every limit that
applies (the team's own and its ancestors', each over the subtree it bounds). Shown for the current team on the
overview, and for the team picked on the administration page."""

from __future__ import annotations

import streamlit as st

from catalog.db import read_session
from catalog.errors import NotFoundError
from catalog.quota_policy import QUOTA_DESCRIPTIONS, QUOTAS, format_bytes
from catalog.scoping import Actor
from catalog.services import quotas as quotas_svc


def amount(quota: str, value: float | None) -> str:
    if value is None:
        return "no limit"
    if quota == "stored_bytes":
        return format_bytes(value)
    if quota == "memory_mb":
        return f"{int(value)} MiB"
    return f"{value:g}"


def usage_rows(usage: quotas_svc.TeamUsage) -> list[dict[str, object]]:
    """One row per quota and limit that applies; "share" is the use over the limit (the fullest first shown)."""
    rows: list[dict[str, object]] = []
    for quota in QUOTAS:
        bounds = [v for v in usage.effective if v.quota == quota]
        if not bounds:
            used = getattr(usage.usage, quota)
            rows.append(
                {"quota": QUOTA_DESCRIPTIONS[quota], "used": amount(quota, used), "limit": "no limit"}
                | {"set on": "", "share": None}
            )
        for view in bounds:
            share = min(1.0, view.used / view.limit) if view.limit else (1.0 if view.used else 0.0)
            rows.append(
                {
                    "quota": QUOTA_DESCRIPTIONS[quota],
                    "used": amount(quota, view.used),
                    "limit": amount(quota, view.limit),
                    "set on": view.set_on,
                    "share": share,
                }
            )
    return rows


def render_usage(who: Actor, team_id: int | None) -> None:
    """The team's usage and quotas (nothing for no team, or one the actor does not see)."""
    if team_id is None:
        return
    try:
        with read_session() as session:
            usage = quotas_svc.team_usage(session, actor=who, team_id=team_id)
    except NotFoundError:
        return
    st.subheader(f"Usage and quotas of {usage.team_name}")
    st.dataframe(
        usage_rows(usage),
        hide_index=True,
        column_config={
            "share": st.column_config.ProgressColumn("of the limit", min_value=0.0, max_value=1.0)
        },
    )
    full = [v for v in usage.effective if v.used >= v.limit]
    if full:
        st.warning(
            "At the limit: "
            + "; ".join(f"{QUOTA_DESCRIPTIONS[v.quota]} (set on {v.set_on})" for v in full)
            + " — what would exceed it is refused."
        )
