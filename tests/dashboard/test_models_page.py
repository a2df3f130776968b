"""The Models page (Streamlit AppTest, real S3; MLflow where plots are read): the scenario's models with their
version counts and aliases, a model's versions and the gate's decisions (rows made through the services: a
finished evaluation is ``finish_evaluation``'s), the gate edited by a team admin and read-only for a maintainer,
Promote recording an evaluation and launching the gate, Roll back and an alias set by hand moving the alias and
launching ``model-aliases-moved``, two versions compared (metrics and plots), a version's lineage; and the pages
that feed and use models: the training form's target model and auto-promote, a serving created on an alias.

Launching a flow is recorded instead (``run_flow`` replaced on the page's module, as the serving page's test
does): what the gate's flow then decides is the flow's tests' business."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from catalog.model_gate import Gate, decide
from tests.dashboard.seed import (
    Catalog,
    add_row,
    captions,
    decided,
    errors,
    job,
    lineup,
    no_exception,
    page,
    published_release,
    signed_in_page,
    tables,
    versions,
)

pytestmark = pytest.mark.platform_servers("s3")


def model_row(model_id: int) -> Any:
    from catalog.db import session_scope
    from catalog.models import Model

    with session_scope() as session:
        return session.get(Model, model_id)


def record_launches(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[tuple[str, dict[str, Any]]]:
    launched: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(module, "run_flow", lambda name, params, wait=True: launched.append((name, params)))
    return launched


def unreachable(name: str, params: dict[str, Any], wait: bool = True) -> None:
    """``run_flow`` with the Prefect server down."""
    from flows.launch import PrefectUnreachable

    raise PrefectUnreachable("the Prefect server at http://x is unreachable")


def click(at: Any, key: str) -> Any:
    return no_exception(at.button(key=key).click().run())


def metric(at: Any, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_the_list_shows_each_models_versions_and_aliases_and_is_searchable(catalog: Catalog) -> None:
    from catalog.db import session_scope
    from catalog.services import model_promotion as promo

    line = lineup(catalog)
    fresh = job(catalog.team_id, line.release_id, "fresh", "completed")  # a model without a version yet
    with session_scope() as session:
        promo.set_alias(session, actor=catalog.admin, model_id=line.model_id, alias="champion", version=1)
    at = no_exception(page("models").run())
    assert "2 model(s)" in captions(at)
    listed = at.dataframe[0].value.set_index("name")
    assert listed.loc["ecod-a", "versions"] == 2 and listed.loc["fresh", "versions"] == 0
    assert (listed.loc["ecod-a", "champion"], listed.loc["ecod-a", "challenger"]) == ("v1", "-")
    at.text_input(key="md_list_search").input("fre").run()
    assert "1 model(s)" in captions(no_exception(at))
    assert at.selectbox(key="md_pick").value == fresh.model_id
    assert "No version yet" in " ".join(captions(at))


def test_the_detail_shows_versions_and_the_gates_decisions_a_rejection_in_red(catalog: Catalog) -> None:
    line = lineup(catalog)
    promoted = decided(catalog.admin, line.model_id, 1, {"f1": 0.8})
    rejected = decided(catalog.admin, line.model_id, 2, {"f1": 0.6})
    at = no_exception(page("models").run())
    assert (metric(at, "Champion"), metric(at, "Versions")) == ("v1", "2")
    reason = "f1 0.6 of v2 is worse than champion v1's 0.8 by 0.2, more than the tolerance 0"
    # The newest decision above the tabs, and every rejection of the results page, with the reason.
    assert f"Gate, evaluation #{rejected} of v2: rejected. {reason}" in errors(at)
    assert f"v2 rejected (evaluation #{rejected}): {reason}" in errors(at)
    shown = {df.value.columns[0]: df.value for df in at.dataframe}
    rows = shown["version"].set_index("version")
    assert rows.loc[1, "aliases"] == "champion" and rows.loc[2, "aliases"] == ""
    assert (rows.loc[2, "job"], rows.loc[2, "dataset version"], rows.loc[2, "run status"]) == (
        "ecod-a",
        "cpu v1",
        "FINISHED",
    )
    assert rows.loc[1, "f1"] == 0.8 and rows.loc[2, "f1"] == 0.6
    assert (rows.loc[1, "gate"], rows.loc[2, "gate"]) == ("✅ promoted", "❌ rejected")
    results = shown["evaluation"].set_index("evaluation")
    assert results.loc[promoted, "status"] == "✅ promoted"
    assert results.loc[rejected, "status"] == "❌ rejected" and results.loc[rejected, "reason"] == reason
    assert (results.loc[rejected, "candidate"], results.loc[rejected, "champion value"]) == (0.6, 0.8)
    history = shown["when"]
    assert history[["alias", "from", "to", "cause"]].values.tolist() == [["champion", "-", "v1", "promotion"]]


def test_the_gate_is_edited_by_a_team_admin_read_only_for_a_maintainer(catalog: Catalog) -> None:
    from catalog.db import session_scope
    from catalog.scoping import SYSTEM
    from catalog.services import teams

    line = lineup(catalog)
    with session_scope() as session:
        for username, role in (("ada", "admin"), ("max", "maintainer"), ("mia", "member")):
            teams.create_user(session, actor=SYSTEM, username=username, password="role-pass-1234")
            teams.add_member(session, actor=SYSTEM, team_id=catalog.team_id, username=username, role=role)
        team = teams.get_team(session, actor=SYSTEM, team_id=catalog.team_id).name

    def refused(permission: str) -> str:
        return f"your role in team {team!r} does not grant {permission!r}"

    at = no_exception(signed_in_page("models", "max", catalog.team_id).run())
    save = at.button(key=f"md_gate_save_{line.model_id}")
    assert save.disabled and save.help == refused("models:manage")
    assert at.selectbox(key=f"md_gate_metric_{line.model_id}").disabled
    assert f"🔒 Read-only: {refused('models:manage')}." in captions(at)
    assert not at.button(key=f"md_promote_{line.model_id}").disabled  # models:promote: a maintainer's
    assert at.button(key=f"md_alias_set_{line.model_id}").disabled

    at = no_exception(signed_in_page("models", "mia", catalog.team_id).run())
    promote = at.button(key=f"md_promote_{line.model_id}")
    assert promote.disabled and promote.help == refused("models:promote")

    at = no_exception(signed_in_page("models", "ada", catalog.team_id).run())
    at.selectbox(key=f"md_gate_metric_{line.model_id}").set_value("roc_auc")
    at.checkbox(key=f"md_gate_bounded_{line.model_id}").check()
    at.number_input(key=f"md_gate_threshold_{line.model_id}").set_value(0.7)
    at.number_input(key=f"md_gate_tolerance_{line.model_id}").set_value(0.05)
    at.selectbox(key=f"md_gate_release_{line.model_id}").set_value(line.release_id)
    click(at, f"md_gate_save_{line.model_id}")
    assert not errors(at), errors(at)
    model = model_row(line.model_id)
    assert (model.gate_metric, model.gate_threshold, model.gate_tolerance, model.evaluation_release_id) == (
        "roc_auc",
        0.7,
        0.05,
        line.release_id,
    )
    assert "gate saved" in [m.value for m in at.success]
    assert metric(at, "Gate metric") == "roc_auc"
    # Emptied fields unset what the model held (seen by the admin coming back to the page).
    at = no_exception(signed_in_page("models", "ada", catalog.team_id).run())
    assert at.checkbox(key=f"md_gate_bounded_{line.model_id}").value
    assert at.number_input(key=f"md_gate_threshold_{line.model_id}").value == 0.7
    at.selectbox(key=f"md_gate_metric_{line.model_id}").select_index(0)  # the scenario's default
    at.checkbox(key=f"md_gate_bounded_{line.model_id}").uncheck()
    click(at, f"md_gate_save_{line.model_id}")
    model = model_row(line.model_id)
    assert (model.gate_metric, model.gate_threshold, model.gate_tolerance) == (None, None, 0.05)


def test_promote_records_an_evaluation_launches_the_gate_and_follows_it(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to the launch: the evaluation row is made and ``promote-model`` is launched with its id (what the
    flow decides is ``flows.models``' own test); the open evaluation is followed until it is decided."""
    from catalog.db import session_scope
    from catalog.services import model_promotion as promo
    from dashboard.views import models as models_page

    launched = record_launches(monkeypatch, models_page)
    line = lineup(catalog)
    at = no_exception(page("models").run())
    at.selectbox(key=f"md_promote_version_{line.model_id}").set_value(2)
    click(at, f"md_promote_{line.model_id}")
    assert not errors(at), errors(at)
    with session_scope() as session:
        total, evaluations = promo.list_evaluations(session, actor=catalog.admin, model_id=line.model_id)
    assert total == 1 and (evaluations[0].version, evaluations[0].status) == (2, "pending")
    assert launched == [("promote-model", {"evaluation_id": evaluations[0].id})]
    bars = at.get("progress")
    assert bars and "The gate is evaluating v2 (pending)… (refreshing every 2 s)" in bars[0].proto.text
    # The flow decides (here: the services it calls): the next refresh shows the decision, the follow ends.
    with session_scope() as session:
        assert promo.claim_evaluation(session, evaluation_id=evaluations[0].id, flow_run_id="gate-run")  # type: ignore[arg-type]
        promo.finish_evaluation(
            session,
            evaluation_id=evaluations[0].id,  # type: ignore[arg-type]
            decision=decide(
                "anomaly_detection",
                Gate(None, 0.9, 0.0),
                candidate_version=2,
                candidate={"f1": 0.6},
                champion_version=None,
                champion=None,
            ),
            champion_version=None,
            candidate_metrics={"f1": 0.6},
            champion_metrics=None,
        )
    no_exception(at.run())
    assert not at.get("progress")
    assert any("v2: rejected. f1 0.6 of v2 is below the threshold 0.9" in e for e in errors(at))
    assert metric(at, "Champion") == "-"


def test_a_promotion_whose_gate_cannot_be_launched_ends_failed_with_the_reason(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog.db import session_scope
    from catalog.services import model_promotion as promo
    from dashboard.views import models as models_page

    monkeypatch.setattr(models_page, "run_flow", unreachable)
    line = lineup(catalog)
    at = no_exception(page("models").run())
    at.selectbox(key=f"md_promote_version_{line.model_id}").set_value(2)
    click(at, f"md_promote_{line.model_id}")
    with session_scope() as session:
        total, evaluations = promo.list_evaluations(session, actor=catalog.admin, model_id=line.model_id)
    assert total == 1 and (evaluations[0].version, evaluations[0].status) == (2, "failed")
    assert "could not be launched" in (evaluations[0].reason or "") and "unreachable" in evaluations[0].reason
    assert any(f"evaluation #{evaluations[0].id} of v2 failed" in e for e in errors(at)), errors(at)
    assert not at.get("progress")  # nothing left pending to follow
    assert model_row(line.model_id).champion_version is None


def test_rollback_moves_the_champion_back_and_launches_the_alias_sync(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard.views import models as models_page

    launched = record_launches(monkeypatch, models_page)
    line = lineup(catalog, metrics=[{"f1": 0.8}, {"f1": 0.85}])
    decided(catalog.admin, line.model_id, 1, {"f1": 0.8})
    decided(catalog.admin, line.model_id, 2, {"f1": 0.85})
    at = no_exception(page("models").run())
    assert metric(at, "Champion") == "v2"
    click(at, f"md_rollback_{line.model_id}")
    assert not errors(at), errors(at)
    assert "champion rolled back from v2 to v1" in [s.value for s in at.success]
    assert model_row(line.model_id).champion_version == 1
    assert launched == [("model-aliases-moved", {"model_id": line.model_id})]
    assert metric(at, "Champion") == "v1"
    history = next(df.value for df in at.dataframe if df.value.columns[0] == "when")
    assert history[["from", "to", "cause"]].values.tolist()[0] == ["v2", "v1", "rollback"]


def test_an_alias_set_by_hand_moves_and_launches_the_alias_sync(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard.views import models as models_page

    launched = record_launches(monkeypatch, models_page)
    line = lineup(catalog)
    at = no_exception(page("models").run())
    at.selectbox(key=f"md_alias_{line.model_id}").set_value("challenger")
    at.selectbox(key=f"md_alias_version_{line.model_id}").set_value(2)
    click(at, f"md_alias_set_{line.model_id}")
    assert not errors(at), errors(at)
    assert model_row(line.model_id).challenger_version == 2
    assert launched == [("model-aliases-moved", {"model_id": line.model_id})]
    assert metric(at, "Challenger") == "v2"
    history = next(df.value for df in at.dataframe if df.value.columns[0] == "when")
    assert history[["alias", "to", "cause", "by"]].values.tolist() == [
        ["challenger", "v2", "manual", "admin"]
    ]


def test_an_alias_move_whose_sync_cannot_be_launched_is_reported_and_stands(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard.views import models as models_page

    monkeypatch.setattr(models_page, "run_flow", unreachable)
    line = lineup(catalog)
    at = no_exception(page("models").run())
    at.selectbox(key=f"md_alias_version_{line.model_id}").set_value(1)
    click(at, f"md_alias_set_{line.model_id}")
    assert model_row(line.model_id).champion_version == 1 and metric(at, "Champion") == "v1"
    warning = (
        "The alias moved in the catalog, but model-aliases-moved could not be launched (the Prefect server at "
        "http://x is unreachable): MLflow's aliases and the servings following it are not updated yet."
    )
    assert [w.value for w in at.warning] == [warning]


def test_an_evaluation_is_followed_while_running_or_freshly_pending() -> None:
    from datetime import UTC, datetime, timedelta

    from catalog.models import ModelEvaluation
    from dashboard.views.models import FOLLOW_SECONDS, _following

    now = datetime.now(UTC)
    old = now - timedelta(seconds=FOLLOW_SECONDS + 1)

    def evaluation(status: str, created_at: datetime) -> ModelEvaluation:
        return ModelEvaluation(team_id=1, model_id=1, version=2, status=status, created_at=created_at)

    assert _following(evaluation("pending", now)) and _following(evaluation("running", old))
    assert not _following(evaluation("pending", old)), (
        "a pending one no flow run claimed is not followed forever"
    )
    assert not any(_following(evaluation(s, now)) for s in ("promoted", "rejected", "failed"))


def test_compare_rows_give_both_values_the_difference_and_the_better_version() -> None:
    from catalog.models import ModelVersion
    from dashboard.views.model_compare import compare_rows

    a = ModelVersion(model_id=1, version=1, run_id="r1", job_id=1, metrics={"f1": 0.8, "anomaly_rate": 0.02})
    b = ModelVersion(
        model_id=1, version=3, run_id="r3", job_id=1, metrics={"f1": 0.9, "anomaly_rate": 0.05, "n": 7}
    )
    rows = {r["metric"]: r for r in compare_rows("anomaly_detection", a, b)}
    assert rows["f1"]["v1"] == 0.8 and rows["f1"]["v3"] == 0.9 and rows["f1"]["better"] == "v3"
    assert rows["f1"]["difference (v3 − v1)"] == pytest.approx(0.1)
    assert rows["anomaly_rate"]["better"] == "v1"  # lower is better
    assert rows["n"]["v1"] is None and rows["n"]["difference (v3 − v1)"] is None and rows["n"]["better"] == ""


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.platform_servers("s3", "mlflow")
def test_compare_shows_two_versions_metrics_and_their_runs_plots(catalog: Catalog, tmp_path: Any) -> None:
    from catalog.services import job_config
    from infra import tracking

    release = published_release(catalog.team_id)
    trained = job(catalog.team_id, release.id, "ecod-plots", "completed")
    mlflow = tracking.client()
    experiment = tracking.ensure_experiment(mlflow, job_config.experiment_name_for("anomaly_detection"))
    run_ids = []
    for n, color in ((1, (255, 0, 0)), (2, (0, 0, 255))):
        run_id, _ = tracking.find_or_create_run(
            mlflow, experiment_id=experiment, job_id=trained.id, flow_run_id=None, run_name=f"v{n}"
        )
        plot = tmp_path / f"{n}" / "anomalies.png"
        plot.parent.mkdir()
        plot.write_bytes(png(color))
        mlflow.log_artifact(run_id, str(plot), "plots")  # as the algorithms log their plots
        mlflow.set_terminated(run_id, "FINISHED")
        run_ids.append(run_id)
    versions(
        trained,
        [{"f1": 0.8, "precision": 0.7}, {"f1": 0.9, "recall": 0.5}],
        run_ids=run_ids,
        experiment_id=experiment,
    )
    at = no_exception(page("models").run())
    table = next(df.value for df in at.dataframe if df.value.columns[0] == "metric").set_index("metric")
    assert list(table.columns) == ["v1", "v2", "difference (v2 − v1)", "better"]
    assert (table.loc["f1", "v1"], table.loc["f1", "v2"], table.loc["f1", "better"]) == (0.8, 0.9, "v2")
    assert table.loc["f1", "difference (v2 − v1)"] == pytest.approx(0.1)
    assert table.loc["precision", "v1"] == 0.7 and table.loc["recall", "v2"] == 0.5
    assert not at.get("image"), "the plots are downloaded only when asked for"
    at.toggle(key=f"md_cmp_plots_{trained.model_id}").set_value(True).run()
    images = no_exception(at).get("image")
    assert [img.captions for img in images] == [["v1"], ["v2"]]
    assert [m.value for m in at.markdown if m.value == "**anomalies**"] == ["**anomalies**"]


def test_the_lineage_names_run_job_release_entries_dataset_and_servings(catalog: Catalog) -> None:
    from catalog.models import Dataset, DatasetRelease, Serving

    dataset = add_row(Dataset, team_id=catalog.team_id, scenario="anomaly_detection", name="cpu")
    entry = {"entry_id": 1, "name": "cpu-train.csv", "sha256": "ab" * 32, "splits": ["train", "test"]}
    release = add_row(
        DatasetRelease,
        dataset_id=dataset.id,
        version="v1",
        status="published",
        sha256="cd" * 32,
        entries=[entry],
        split_counts={"train": 1, "test": 1},
    )
    trained = job(catalog.team_id, release.id, "ecod-lineage", "completed", params={"contamination": 0.05})
    versions(trained, [{"f1": 0.8}])
    add_row(
        Serving,
        team_id=catalog.team_id,
        scenario="anomaly_detection",
        name="live-one",
        model_id=trained.model_id,
        model_version="latest",
        resolved_version="1",
    )
    at = no_exception(page("models").run())
    chain = [m.value for m in at.markdown if m.value.startswith("v1 → ")]
    assert chain == [
        f"v1 → run `run-{trained.id}-1` (FINISHED) → job **ecod-lineage** (#{trained.id}) → "
        + f"release **cpu v1** → dataset **cpu** (#{dataset.id})"
    ]
    details = " ".join(str(j.value) for j in at.json)
    assert '"algorithm": "ECOD"' in details and '"contamination": 0.05' in details and "cd" * 32 in details
    listed = tables(at)
    assert "cpu-train.csv" in listed and "ab" * 32 in listed and "train, test" in listed
    assert "live-one" in listed


def test_the_training_form_passes_the_target_model_and_auto_promote(catalog: Catalog) -> None:
    from catalog.db import session_scope
    from catalog.models import Model, TrainJob
    from catalog.services import models

    published_release(catalog.team_id)
    with session_scope() as session:
        shared = models.create_model(
            session, actor=catalog.admin, team_id=catalog.team_id, name="shared", scenario="anomaly_detection"
        ).id
    at = no_exception(page("training").run())
    at.text_input(key="tr_name").input("ecod-b")
    at.selectbox(key="tr_model").set_value(shared)
    at.checkbox(key="tr_auto_promote").check().run()
    next(b for b in at.button if b.label == "Create job").click().run()
    assert not errors(no_exception(at)), errors(at)
    at.text_input(key="tr_name").input("ecod-c")
    at.selectbox(key="tr_model").set_value(None)
    at.checkbox(key="tr_auto_promote").uncheck().run()
    next(b for b in at.button if b.label == "Create job").click().run()
    assert not errors(no_exception(at)), errors(at)
    with session_scope() as session:
        jobs = {j.name: j for j in session.query(TrainJob).all()}
        own = session.query(Model).filter_by(name="ecod-c").one()
        assert (jobs["ecod-b"].model_id, jobs["ecod-b"].auto_promote) == (shared, True)
        assert (jobs["ecod-c"].model_id, jobs["ecod-c"].auto_promote) == (own.id, False)
        assert jobs["ecod-b"].model_name == session.get(Model, shared).mlflow_name  # type: ignore[union-attr]


def test_a_serving_created_on_an_alias_shows_its_model_reference_and_resolved_version(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog.db import session_scope
    from catalog.models import Serving
    from catalog.services import model_promotion as promo
    from dashboard.views import sandbox
    from dashboard.views import serving as serving_page

    launched = record_launches(monkeypatch, serving_page)
    line = lineup(catalog)
    with session_scope() as session:
        promo.set_alias(session, actor=catalog.admin, model_id=line.model_id, alias="champion", version=2)
    at = no_exception(page("serving").run())
    at.radio(key="sv_source").set_value("a model").run()
    assert "champion (follows it; now v2)" in at.selectbox(key="sv_model_ref").options
    at.selectbox(key="sv_model_ref").set_value("champion")
    at.text_input(key="sv_name").input("on-champion")
    at.button(key="sv_create").click().run()
    assert not errors(no_exception(at)), errors(at)
    with session_scope() as session:
        serving = session.query(Serving).filter_by(name="on-champion").one()
        serving.resolved_version = "2"  # what the serving-start flow records once it resolved the alias
        session.add(serving)
    assert (serving.model_id, serving.model_version, serving.train_job_id) == (
        line.model_id,
        "champion",
        None,
    )
    assert launched == [("serving-start", {"serving_id": serving.id})]
    no_exception(at.run())
    row = at.dataframe[0].value.iloc[0]
    assert (row["model"], row["version reference"], row["resolved version"]) == ("ecod-a", "champion", "2")
    assert "Serves model ecod-a, version champion (now v2)" in captions(at)
    with session_scope() as session:
        serving = session.query(Serving).filter_by(name="on-champion").one()
    assert (
        sandbox.served_model(catalog.admin, serving) == "model ecod-a, model version 2"
    )  # the Sandbox's caption
