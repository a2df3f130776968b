"""Models page, versions side by side and where a version came from.

Compare: two versions' metrics in one table (each value, the difference, and which is better for the scenario's
gate metrics, whose direction is known), then, when asked for (a toggle: they are downloaded from MLflow), their
training plots side by side (``plots/*.png`` of each version's run, read through ``catalog.services.runs`` like
the Training page's runs, so only runs of jobs the reader may see).

Lineage (``model_lineage``): run → job (params, algorithm, image) → release (version, sha256) → entries (names,
sha256, splits) → dataset; the gate's results on the version, the servings answering with it, and what else
was trained on the same release.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from catalog.db import session_scope
from catalog.errors import CatalogError
from catalog.model_gate import metrics_of
from catalog.models import Model, ModelVersion
from catalog.scoping import Actor
from catalog.services import model_lineage as lineage_svc
from catalog.services import runs as runs_svc
from dashboard.views.common import attempt, plain


def difference_label(a: ModelVersion, b: ModelVersion) -> str:
    return f"difference (v{b.version} − v{a.version})"


def compare_rows(scenario: str, a: ModelVersion, b: ModelVersion) -> list[dict[str, Any]]:
    """One row per metric either version logged: both values, B − A, and for a gate metric of the scenario the
    better version (by the metric's direction)."""
    directions = {m.name: m.direction for m in metrics_of(scenario)}
    rows = []
    for name in sorted(set(a.metrics) | set(b.metrics)):
        va, vb = a.metrics.get(name), b.metrics.get(name)
        both = isinstance(va, int | float) and isinstance(vb, int | float)
        better = ""
        if both and name in directions:
            if va == vb:
                better = "same"
            else:
                higher = b if vb > va else a  # type: ignore[operator]
                lower = a if higher is b else b
                better = f"v{(higher if directions[name] == 'max' else lower).version}"
        rows.append(
            {
                "metric": name,
                f"v{a.version}": va,
                f"v{b.version}": vb,
                difference_label(a, b): (vb - va) if both else None,  # type: ignore[operator]
                "better": better,
            }
        )
    return rows


def _plots(who: Actor, version: ModelVersion) -> dict[str, bytes] | None:
    try:
        return runs_svc.run_plots(actor=who, job_id=version.job_id, run_id=version.run_id)
    except (CatalogError, runs_svc.TrackingError) as exc:
        # MLflow down, or a run of a job the reader may not see: the metrics above still stand.
        st.caption(f"plots of v{version.version} unavailable: {exc}")
        return None


def _pick(label: str, model: Model, versions: list[ModelVersion], default: int, key: str) -> ModelVersion:
    by_number = {v.version: v for v in versions}
    numbers = list(by_number)
    picked = st.selectbox(
        label,
        numbers,
        index=numbers.index(default) if default in by_number else 0,
        format_func=lambda n: f"v{n}",
        key=f"{key}_{model.id}",
    )
    return by_number[picked] if picked in by_number else versions[0]


def render_compare(who: Actor, model: Model, versions: list[ModelVersion]) -> None:
    if len(versions) < 2:
        st.caption("Comparing needs two versions.")
        return
    newest = versions[0].version
    older = model.champion_version if model.champion_version not in (None, newest) else versions[1].version
    cols = st.columns(2)
    with cols[0]:
        a = _pick("Version A", model, versions, older, "md_cmp_a")  # type: ignore[arg-type]
    with cols[1]:
        b = _pick("Version B", model, versions, newest, "md_cmp_b")
    st.dataframe(compare_rows(model.scenario, a, b), hide_index=True)
    # Asked for, not drawn on every rerun of the page: each draw downloads both runs' plots from MLflow.
    if not st.toggle("Show their training plots", key=f"md_cmp_plots_{model.id}"):
        return
    plots = {v.version: _plots(who, v) for v in (a, b)}
    names = sorted({name for found in plots.values() if found for name in found})
    if not names:
        st.caption("No training plots logged by these versions' runs.")
    for name in names:
        st.markdown(f"**{name.removesuffix('.png')}**")
        cols = st.columns(2)
        for col, version in zip(cols, (a, b), strict=True):
            image = (plots[version.version] or {}).get(name)
            if image is None:
                col.caption(f"v{version.version}: not logged")
            else:
                col.image(image, caption=f"v{version.version}")


# ---------------------------------------------------------------- lineage


def lineage_chain(found: dict[str, Any]) -> str:
    """The version's lineage in one line: run → job → release → dataset."""
    run, job, release = found["run"], found.get("job"), found.get("release")
    parts = [f"v{found['version']}", f"run `{run['id'][:12]}` ({run['status']})"]
    if job:
        parts.append(f"job **{job['name']}** (#{job['id']})")
    if release:
        dataset = release.get("dataset") or {}
        parts.append(f"release **{dataset.get('name', '?')} {release['version']}**")
        if dataset:
            parts.append(f"dataset **{dataset['name']}** (#{dataset['id']})")
    return " → ".join(parts)


def render_lineage(who: Actor, model: Model, versions: list[ModelVersion]) -> None:
    if not versions:
        st.caption("No version yet.")
        return
    default = model.champion_version if model.champion_version is not None else versions[0].version
    version = _pick("Version", model, versions, default, "md_lineage_version")

    def read() -> dict[str, Any]:
        with session_scope() as session:
            return lineage_svc.version_lineage(
                session,
                actor=who,
                model_id=model.id,
                version=version.version,  # type: ignore[arg-type]
            )

    found = attempt(read)
    if found is None:
        return
    st.markdown(lineage_chain(found))
    if found["aliases"]:
        st.caption("aliases: " + ", ".join(found["aliases"]))
    job, release = found.get("job"), found.get("release")
    cols = st.columns(2)
    with cols[0]:
        st.markdown("**Job**")
        if job:
            st.json(
                plain(
                    {
                        k: job[k]
                        for k in ("name", "kind", "algorithm", "image", "command", "max_evals", "params")
                    }
                )
            )
        st.markdown("**Run**")
        st.json(plain(found["run"]))
    with cols[1]:
        st.markdown("**Release**")
        if release:
            dataset = release.get("dataset") or {}
            st.json(
                {
                    "dataset": dataset.get("name"),
                    "version": release["version"],
                    "sha256": release["sha256"],
                    "status": release["status"],
                    "split_counts": release["split_counts"],
                }
            )
        else:
            st.caption("the release is gone")
    if release and release["entries"]:
        st.markdown("**Entries**")
        st.dataframe(
            [
                {
                    "name": e["name"],
                    "sha256": e["sha256"],
                    "splits": ", ".join(e["splits"] or []) if isinstance(e["splits"], list) else e["splits"],
                }
                for e in release["entries"]
            ],
            hide_index=True,
        )
    st.markdown("**Servings answering with it**")
    if found["servings"]:
        st.dataframe(found["servings"], hide_index=True)
    else:
        st.caption("none")
    if release:
        _same_release(who, model, version, release["id"])


def _same_release(who: Actor, model: Model, version: ModelVersion, release_id: int) -> None:
    """The reverse: every version trained on this release (of models the reader may see)."""
    try:
        with session_scope() as session:
            found = lineage_svc.release_lineage(session, actor=who, release_id=release_id)
    except CatalogError:
        return  # a release of a team whose datasets the reader may not see
    others = [v for v in found["versions"] if (v["model"]["id"], v["version"]) != (model.id, version.version)]
    if others:
        st.markdown("**Also trained on this release**")
        st.dataframe(
            [
                {
                    "model": v["model"]["name"],
                    "version": f"v{v['version']}",
                    "job": v["job_id"],
                    "servings": ", ".join(s["name"] for s in v["servings"]),
                }
                for v in others
            ],
            hide_index=True,
        )
