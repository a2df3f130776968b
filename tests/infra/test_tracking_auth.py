"""The pure half of the MLflow accounts of custom jobs: their names, who holds a grant in a users listing, which
accounts the reconciler deletes, and the basic-auth app's REST paths as MLflow declares them."""

from __future__ import annotations

import pytest

from infra import tracking_auth as ta


def test_an_account_is_named_after_its_job_and_start() -> None:
    name = ta.job_username("mlops", 12, "3F2A9C1B-77d4-4e0b-9a51-0c7d6f1e2b3a")
    assert name == "mlops-job-12-3f2a9c1b77d4"
    assert ta.job_username("mlops", 12, None) == "mlops-job-12-local"
    assert ta.is_job_username("mlops", name) and ta.is_job_username("mlops", "mlops-job-12-local")
    for other in (
        "mlops",
        "admin",
        "mlops-job-",
        "mlops-job-x-1",
        "mlops-job-12",
        "mlopsx-job-12-ab",
        "t1-job-1-a",
    ):
        assert not ta.is_job_username("mlops", other), other
    # Platforms sharing a server keep to their own accounts, even when one's prefix starts the other's.
    assert not ta.is_job_username("t1", ta.job_username("t12", 1, "ab"))


def test_holders_are_the_users_with_a_grant_of_their_own_on_the_resource() -> None:
    def user(name: str, *grants: tuple[str, str, str]) -> dict[str, object]:
        permissions = [{"resource_type": t, "resource_pattern": p, "permission": g} for t, p, g in grants]
        return {"username": name, "roles": [{"name": "__user_1__", "permissions": permissions}]}

    users = [
        user("admin", ("experiment", "7", "MANAGE")),
        user("mlops-job-1-aa", ("experiment", "7", "MANAGE"), ("registered_model", "m", "EDIT")),
        user("mlops-job-2-bb", ("experiment", "70", "EDIT")),
        {"username": "mlops-job-3-cc", "roles": []},
    ]
    assert ta.holders(users, resource_type="experiment", resource_id="7") == ["admin", "mlops-job-1-aa"]
    assert ta.holders(users, resource_type="registered_model", resource_id="m") == ["mlops-job-1-aa"]
    assert ta.holders(users, resource_type="registered_model", resource_id="7") == []


def test_the_reconciler_keeps_only_the_accounts_of_starts_holding_their_job() -> None:
    from tasks.job_credentials import live_accounts, stale_accounts

    live = live_accounts("p", [(1, "aaaa"), (2, None)])
    assert live == {"p-job-1-aaaa", "p-job-2-local"}
    listed = ["p-job-1-aaaa", "p-job-1-bbbb", "p-job-2-local", "p-job-3-cccc"]
    assert stale_accounts(listed, live) == ["p-job-1-bbbb", "p-job-3-cccc"]
    assert stale_accounts([], live) == []


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (ta.CREATE_USER, "CREATE_USER"),
        (ta.DELETE_USER, "DELETE_USER"),
        (ta.LIST_USERS, "LIST_USERS"),
        (ta.GRANT_PERMISSION, "GRANT_USER_PERMISSION"),
        (ta.REVOKE_PERMISSION, "REVOKE_USER_PERMISSION"),
    ],
)
def test_the_rest_paths_are_mlflows(ours: str, theirs: str) -> None:
    from mlflow.server.auth import routes

    assert ours == getattr(routes, theirs)


def test_credentials_keep_the_password_out_of_their_repr() -> None:
    account = ta.Credentials("mlops-job-1-aa", "s3cret-password")
    assert "s3cret" not in repr(account) and "mlops-job-1-aa" in repr(account)
