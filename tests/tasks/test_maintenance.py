"""The release cleanup plan, without servers: which releases are failed and which uploads are aborted, for
each state the holding flow run can be in."""

from __future__ import annotations

from infra.objectstore import IncompleteUpload
from tasks.maintenance import FlowRunState, Interrupted, Publishing, plan_release_cleanup


def upload(key: str, upload_id: str) -> IncompleteUpload:
    return IncompleteUpload(bucket="b", key=key, upload_id=upload_id)


def test_live_publish_keeps_its_release_and_upload() -> None:
    for state in ("SCHEDULED", "PENDING", "RUNNING"):
        plan = plan_release_cleanup(
            [Publishing(1, "releases/1/1/v1.zip", "run-a")],
            {"run-a": FlowRunState(state)},
            [upload("releases/1/1/v1.zip", "u1")],
        )
        assert plan.fail == () and plan.abort == (), state


def test_dead_publish_is_failed_and_its_upload_aborted() -> None:
    for state in ("CRASHED", "FAILED", "CANCELLED", "COMPLETED", "CANCELLING"):
        plan = plan_release_cleanup(
            [Publishing(1, "releases/1/1/v1.zip", "run-a")],
            {"run-a": FlowRunState(state, "exited with status -9")},
            [upload("releases/1/1/v1.zip", "u1")],
        )
        assert plan.fail == (
            Interrupted(
                1,
                "run-a",
                f"publishing was interrupted: flow run run-a ended {state} "
                "(exited with status -9); publish it again",
                "releases/1/1/v1.zip",  # an object completed there by the dead publish is removed too
            ),
        ), state
        assert [u.upload_id for u in plan.abort] == ["u1"]


def test_missing_or_absent_flow_run_counts_as_dead() -> None:
    plan = plan_release_cleanup(
        [Publishing(1, "releases/1/1/v1.zip", "gone"), Publishing(2, "releases/1/2/v2.zip", None)], {}, []
    )
    assert [(i.release_id, i.error) for i in plan.fail] == [
        (1, "publishing was interrupted: flow run gone no longer exists; publish it again"),
        (2, "publishing was interrupted: no flow run holds it; publish it again"),
    ]


def test_uploads_nobody_publishes_are_aborted_others_kept() -> None:
    uploads = [
        upload("releases/1/1/v1.zip", "live"),
        upload("releases/1/1/v1.zip", "earlier-attempt"),
        upload("releases/1/3/v3.zip", "published-release"),
        upload("releases/junk", "stray"),
    ]
    plan = plan_release_cleanup(
        [Publishing(1, "releases/1/1/v1.zip", "run-a")], {"run-a": FlowRunState("RUNNING")}, uploads
    )
    assert plan.fail == ()
    # Both uploads at a live release's key are kept (which one is the live one cannot be told apart): the
    # earlier attempt's goes on a later round, once the release is no longer publishing.
    assert sorted(u.upload_id for u in plan.abort) == ["published-release", "stray"]


def test_interrupted_holders_are_those_of_runs_that_are_not_live() -> None:
    from tasks.maintenance import interrupted_holders

    runs = {
        "live": FlowRunState("RUNNING"),
        "queued": FlowRunState("SCHEDULED"),
        "dead": FlowRunState("CRASHED", "runner stopped"),
    }
    holders = [(1, "live"), (2, "queued"), (3, "dead"), (4, "unknown"), (5, None)]
    assert interrupted_holders(holders, runs, "the evaluation", "ask again") == [
        (
            3,
            "dead",
            "the evaluation was interrupted: flow run dead ended CRASHED (runner stopped); ask again",
        ),
        (4, "unknown", "the evaluation was interrupted: flow run unknown no longer exists; ask again"),
        (5, None, "the evaluation was interrupted: no flow run holds it; ask again"),
    ]
