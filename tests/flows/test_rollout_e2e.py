"""Gray releases end to end, as a user drives them: the SDK against a live API, the flow runner as `mlops up`
starts it, a serving on the process runtime, real MLflow, Prefect, NATS and SeaweedFS, and a load client sending
requests the whole time.

A good canary is rolled out 10 → 50 → 100 % and promoted (champion moves, the serving's stable version is the
canary, no request failed); a canary that fails on a share of the inputs is rolled back within its first window,
and the only failed requests are those it answered itself before that; a 5× slower canary is rolled back by the
p99 check. Each decision reaches a NATS subscriber on ``{namespace}.events.rollout``. Then by hand: 30 % to
another version is observed within ±3 points over 5,000 requests, a routing key always meets one version, and a
shadow answers copies that are compared, never returned."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from infra.net import wait_until
from tests.flows.follow_support import Registered, create_follower, health, seed_model, serving_row
from tests.flows.rollout_support import Load, register_rollout_versions

pytestmark = pytest.mark.slow

DWELL = 4.0


@pytest.fixture(scope="module")
def registered(mlflow_server: Any) -> Registered:
    return register_rollout_versions(mlflow_server.uri)


def canary_share(url: str, token: str, count: int) -> float:
    """The share of ``count`` requests (no routing header: random) answered by version 1."""
    import httpx

    from tests.flows.rollout_support import CALM

    with httpx.Client(timeout=30, trust_env=False, headers={"Authorization": f"Bearer {token}"}) as client:
        answered = [client.post(url, json=CALM).headers.get("x-model-version") for _ in range(count)]
    return answered.count("1") / count


def mirror_counts(url: str, token: str) -> dict[tuple[str, str], float]:
    import httpx

    from tasks.serving_metrics import parse

    text = httpx.get(
        url.removesuffix("/predict") + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).text
    return {
        (dict(labels)["version"], dict(labels)["outcome"]): value
        for (name, labels), value in parse(text).items()
        if name == "mlops_mirror_requests_total"
    }


class Events:
    """A subscriber to the roll-out events with the client user's credentials, in a thread of its own."""

    def __init__(self, nats_server: Any) -> None:
        import threading

        from infra.settings import get_settings

        self.subject = f"{get_settings().nats.namespace}.events.rollout"
        self.got: list[dict[str, Any]] = []
        self._nats = nats_server
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        assert self._ready.wait(30), "the subscriber did not connect"

    async def _run(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        nc = await self._nats.connect_client()

        async def on_msg(msg: Any) -> None:
            self.got.append(json.loads(msg.data))

        await nc.subscribe(self.subject, cb=on_msg)
        await nc.flush()
        self._ready.set()
        await self._stop.wait()
        await nc.close()

    def close(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def of(self, rollout_id: int) -> list[str]:
        return [e["event"] for e in list(self.got) if e["rollout_id"] == rollout_id]


def test_a_good_canary_is_promoted_and_bad_ones_are_rolled_back_under_load(
    platform: Any, registered: Registered, api_server: Any, flow_runner: Any, nats_server: Any
) -> None:
    from catalog.db import session_scope
    from catalog.models import Model
    from catalog.services.serving import inference_token
    from tasks.serving import inference_url

    flow_runner.start(MLOPS_PREFECT_SCHEDULE_OVERRIDES=json.dumps({"sync-servings": 3600}))
    seeded = seed_model(registered, versions=(1, 2, 3, 4))
    sid = create_follower(seeded, "gray")
    events = Events(nats_server)
    quick = {"min_requests": 15}
    with api_server.client() as api:
        started = api.servings.start(sid)
        assert started.flow_run_id
        api.servings.wait(sid, timeout=180)
        serving = serving_row(sid)
        instance = health(sid)["instance_id"]
        with Load(inference_url(serving), inference_token(serving)) as load:
            wait_until(lambda: len(load.seen) >= 50, timeout=60, description="load running")

            # A good canary: every step passes, it is promoted.
            good = api.rollouts.start(sid, "2", steps=[10, 50, 100], dwell_seconds=DWELL, thresholds=quick)
            done = api.rollouts.wait(good.rollout.id, timeout=240, poll=0.5)
            assert done.status == "promoted", done
            assert [d.action for d in done.decisions] == ["advance", "advance", "promote"], done.decisions
            assert [d.weight for d in done.decisions] == [10, 50, 100]
            first = done.decisions[0].figures
            assert (
                first["canary"]["requests"] >= 15
                and first["stable"]["requests"] > first["canary"]["requests"]
            )
            assert first["comparison"]["agreement"] >= 0.8
            shown = api.servings.get(sid)
            assert (shown.resolved_version, shown.canary_version, shown.canary_weight) == ("2", None, 0)
            with session_scope() as session:
                model = session.get(Model, seeded.model_id)
                assert model is not None and model.champion_version == 2
            wait_until(lambda: health(sid)["traffic"]["stable"] == "2", timeout=60, description="2 is stable")
            promoted_at = time.monotonic()  # the server runs the promotion from here on
            assert health(sid)["traffic"]["canary"] is None

            # A canary that fails on a share of the inputs: rolled back within its first window.
            broken = api.rollouts.start(
                sid, "3", steps=[10, 50, 100], dwell_seconds=DWELL * 3, thresholds=quick
            )
            broken_started = time.monotonic()
            done = api.rollouts.wait(broken.rollout.id, timeout=240, poll=0.5)
            assert done.status == "rolled_back", done
            assert [d.action for d in done.decisions] == ["rollback"] and done.decisions[0].weight == 10
            assert done.reason.startswith("error rate "), done.reason
            wait_until(lambda: health(sid)["traffic"]["canary"] is None, timeout=60, description="canary off")
            rolled_back_at = time.monotonic()  # the server no longer runs the canary from here on
            assert rolled_back_at - broken_started < DWELL * 3 + 30  # within the one window (and the waits)

            # A 5x slower canary: rolled back by the p99 check.
            slow = api.rollouts.start(sid, "4", steps=[50, 100], dwell_seconds=DWELL, thresholds=quick)
            done = api.rollouts.wait(slow.rollout.id, timeout=240, poll=0.5)
            assert done.status == "rolled_back" and done.reason.startswith("p99 "), done
            wait_until(lambda: health(sid)["traffic"]["canary"] is None, timeout=60, description="canary off")
            settled = time.monotonic()
            count = len(load.seen)
            wait_until(lambda: len(load.seen) >= count + 50, timeout=60, description="answers after")

            # By hand: 30 % to version 1 (now the older one), sticky by x-user; then a shadow.
            by_hand = time.monotonic()  # version 1 may answer from here on
            changed = api.rollouts.traffic(sid, canary="1", weight=30, routing_header="x-user")
            assert changed.launch is not None and changed.serving.canary_weight == 30
            wait_until(
                lambda: health(sid)["traffic"]["weight"] == 30, timeout=120, description="30 % applied"
            )
            split_from = time.monotonic()
            share = canary_share(inference_url(serving), inference_token(serving), 5000)
            assert abs(share - 0.30) <= 0.03, share
            split_to = time.monotonic()
            api.rollouts.traffic(sid, canary=None, shadow="4")
            wait_until(
                lambda: health(sid)["traffic"] == {**health(sid)["traffic"], "canary": None, "shadow": "4"},
                timeout=120,
                description="shadow applied",
            )
            shadow_from = time.monotonic()
            count = len(load.seen)
            wait_until(lambda: len(load.seen) >= count + 100, timeout=60, description="answers with a shadow")
            mirrored = mirror_counts(inference_url(serving), inference_token(serving))
    events.close()
    # Sticky: while 30 % went to version 1 by key, each key was answered by one version only.
    by_key: dict[str, set[str | None]] = {}
    for a in load.between(split_from, split_to):
        by_key.setdefault(a.key, set()).add(a.version)
    assert by_key and all(len(v) == 1 for v in by_key.values()), by_key
    assert {v for vs in by_key.values() for v in vs} == {"1", "2"}
    # The shadow answered copies, compared with stable's; no live answer came from it.
    assert mirrored.get(("4", "ok"), 0) > 0, mirrored
    assert {a.version for a in load.seen if a.sent > shadow_from} == {"2"}
    seen = load.seen
    # Stable kept serving throughout: no request failed but those the broken canary answered itself, spiky
    # ones, before the rollback ended its share.
    failed = [a for a in seen if a.status != 200]
    assert failed, "the broken canary never answered a spiky request: the test did not test it"
    assert all(a.status == 500 and a.version == "3" and a.spiky for a in failed), failed[:5]
    assert all(broken_started <= a.sent and a.done <= rolled_back_at for a in failed)
    assert {a.version for a in seen if promoted_at < a.sent and a.done < by_hand and a.status == 200} <= {
        "2",
        "3",
        "4",
    }
    assert {a.version for a in seen if settled < a.sent and a.done < by_hand} <= {"2"}
    assert health(sid)["instance_id"] == instance  # one server process throughout: nothing restarted
    assert events.of(good.rollout.id) == ["started", "advance", "advance", "promote"]
    assert events.of(broken.rollout.id) == ["started", "rollback"]


def test_a_restart_mid_rollout_resumes_it_and_the_split_stays_known(
    platform: Any, registered: Registered, api_server: Any, flow_runner: Any
) -> None:
    from catalog.services.serving import inference_token
    from tasks.serving import inference_url

    flow_runner.start(MLOPS_PREFECT_SCHEDULE_OVERRIDES=json.dumps({"sync-servings": 3600}))
    seeded = seed_model(registered, versions=(1, 2))
    sid = create_follower(seeded, "restarts")
    with api_server.client() as api:
        api.servings.start(sid)
        api.servings.wait(sid, timeout=180)
        serving = serving_row(sid)
        with Load(inference_url(serving), inference_token(serving)) as load:
            # A window far longer than the test: the platform restarts in the middle of it.
            started = api.rollouts.start(sid, "2", steps=[20, 100], dwell_seconds=900)
            rid = started.rollout.id
            wait_until(
                lambda: (health(sid)["traffic"] or {}).get("weight") == 20, timeout=120, description="at 20 %"
            )
            flow_runner.restart()
            # The restarted runner's first sync finds the roll-out's flow run gone and starts it again.
            wait_until(
                lambda: "resume_after_restart" in [d.action for d in api.rollouts.get(rid).decisions],
                timeout=180,
                description="roll-out resumed",
            )
            rollout = api.rollouts.get(rid)
            assert (rollout.status, rollout.step, rollout.weight) == ("running", 0, 20)
            assert rollout.flow_run_id != started.rollout.flow_run_id
            traffic = health(sid)["traffic"]
            assert (traffic["stable"], traffic["canary"], traffic["weight"]) == ("1", "2", 20)
            aborted = api.rollouts.abort(rid, "enough for the test")
            assert aborted.status == "aborted" and aborted.decisions[-1].action == "abort"
            wait_until(lambda: health(sid)["traffic"]["canary"] is None, timeout=60, description="canary off")
            count = len(load.seen)
            wait_until(lambda: len(load.seen) >= count + 20, timeout=60, description="answers after")
    assert not [a for a in load.seen if a.status != 200], [a for a in load.seen if a.status != 200][:5]
    assert {a.version for a in load.seen[-10:]} == {"1"}
    assert api_server.client().servings.get(sid).canary_version is None
