"""The algorithm catalog on a live API server through the SDK: listed and filtered by anyone signed in, shown
with the form of its parameters, enabled and disabled by administrators only, disabling refused while a job of
it runs."""

from __future__ import annotations

import httpx
import pytest

from mlops_lite.client import Client, Conflict, InvalidRequest, NotFound, PermissionDenied

pytestmark = pytest.mark.platform_servers("s3")


def test_list_filter_and_show(api_server) -> None:  # type: ignore[no-untyped-def]
    with Client.login(api_server.url, "mallory", "mallory-pass")[0] as member:
        every = list(member.algorithms.list())
        assert len(every) >= 10 and every == sorted(every, key=lambda a: (a.scenario, a.name))
        page = member.algorithms.page(limit=3)
        assert page.total == len(every) and [a.id for a in page.items] == [a.id for a in every[:3]]
        detection = {a.name for a in member.algorithms.list(scenario="anomaly_detection")}
        assert detection == {"ECOD", "EWMA", "PELT"}
        assert [a.name for a in member.algorithms.list(search="prophet")] == ["Prophet"]
        assert [a.name for a in member.algorithms.list(enabled=False)] == []

        ecod = member.algorithms.get("anomaly_detection", "ECOD")
        fields = {f["name"]: f for f in ecod.form_config["fields"]}
        assert fields["contamination"]["type"] == "float" and "contamination" in ecod.search_space
        assert ecod.description and ecod.image

        with pytest.raises(NotFound, match="anomaly_detection/NoSuch"):
            member.algorithms.get("anomaly_detection", "NoSuch")
        with pytest.raises(InvalidRequest, match="scenario"):
            member.algorithms.get("no_such_scenario", "ECOD")
        with pytest.raises(InvalidRequest, match="scenario"):
            list(member.algorithms.list(scenario="nope"))
        for verb in ("enable", "disable"):
            with pytest.raises(PermissionDenied):
                getattr(member.algorithms, verb)("anomaly_detection", "ECOD")
    for path in ("/algorithms", "/algorithms/anomaly_detection/ECOD"):
        assert httpx.get(f"{api_server.url}/api/v1{path}").status_code == 401
    answer = httpx.post(f"{api_server.url}/api/v1/algorithms/anomaly_detection/ECOD/disable")
    assert answer.status_code == 401


def test_enable_and_disable(api_server) -> None:  # type: ignore[no-untyped-def]
    from tests.dashboard.seed import job, published_release

    with api_server.client() as admin:
        assert admin.algorithms.disable("anomaly_detection", "EWMA").enabled is False
        assert [a.name for a in admin.algorithms.list(enabled=False)] == ["EWMA"]
        assert "EWMA" not in {a.name for a in admin.algorithms.list(enabled=True)}
        assert admin.algorithms.enable("anomaly_detection", "EWMA").enabled is True
        assert list(admin.algorithms.list(enabled=False)) == []
        events = [e.action for e in admin.audit.list(resource_type="algorithm")]
        assert events[:2] == ["algorithm.enable", "algorithm.disable"]

        team_id = admin.me().teams[0].id
        release = published_release(team_id)
        running = job(team_id, release.id, "busy", "running")
        with pytest.raises(Conflict, match=f"'busy' \\(#{running.id}, running\\)"):
            admin.algorithms.disable("anomaly_detection", "ECOD")
        assert admin.algorithms.get("anomaly_detection", "ECOD").enabled is True
