"""`mlops login`, `whoami`, `logout` and `tokens` against a live API server, from a machine with no catalog
access (a `python -m cli` process whose environment holds no database URL and no S3 credentials): the token is
kept 0600 in a 0700 directory and never printed or logged; `mlops logout` revokes it on the server, so a copy
of the file taken before stops working; on the platform host the CLI uses the operator token and says so."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_lite.client import Client, Unauthenticated

pytestmark = pytest.mark.platform_servers("s3")
REPO = Path(__file__).resolve().parents[2]


def remote(tmp_path: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    """`mlops ARGS` on "another machine": only PATH, HOME, PYTHONPATH, XDG_CONFIG_HOME (and the password)."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(REPO),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    if password is not None:
        env["MLOPS_PASSWORD"] = password
    (tmp_path / "home").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        cwd=tmp_path / "home",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_login_whoami_logout_from_another_machine(api_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    refused = remote(
        tmp_path, "login", "--server", api_server.url, "--user", "mallory", password="wrong-pass"
    )
    assert refused.returncode == 1 and "invalid username or password" in refused.stderr, refused.stderr
    credentials = tmp_path / "config" / "mlops-lite" / "credentials.json"
    assert not credentials.exists()

    done = remote(tmp_path, "login", "--server", api_server.url, "--user", "mallory", password="mallory-pass")
    assert done.returncode == 0, done.stderr
    assert f"signed in as mallory on {api_server.url}" in done.stdout
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.parent.stat().st_mode) == 0o700
    token = json.loads(credentials.read_text())[api_server.url]["token"]
    assert token.startswith("mlops_l_") and token not in done.stdout + done.stderr

    # The server of the last login is the default one; the answer says which server and which token.
    who = remote(tmp_path, "whoami")
    assert who.returncode == 0, who.stderr
    assert who.stdout.startswith(f"mallory on {api_server.url}") and "token of `mlops login`" in who.stdout
    as_json = json.loads(remote(tmp_path, "whoami", "--json").stdout)
    assert (as_json["username"], as_json["token"], as_json["operator"]) == ("mallory", "login", False)

    created = remote(tmp_path, "tokens", "create", "ci", "--days", "1", "--json")
    assert created.returncode == 0, created.stderr
    pat = json.loads(created.stdout)
    listed = json.loads(remote(tmp_path, "tokens", "list", "--json").stdout)
    assert {t["name"] for t in listed} >= {"ci"} and all("token" not in t for t in listed)
    with Client(api_server.url, pat["token"]) as ci:
        assert ci.me().username == "mallory"

    copy = credentials.read_text()
    out = remote(tmp_path, "logout")
    assert out.returncode == 0 and out.stdout.strip() == f"signed out of {api_server.url}", out.stderr
    assert api_server.url not in json.loads(credentials.read_text())
    # Signed out, the server is no longer the default one either.
    assert remote(tmp_path, "logout", "--server", api_server.url).stdout.strip() == (
        f"not signed in on {api_server.url}"
    )
    credentials.write_text(copy)  # the file as it was before `mlops logout`
    stale = remote(tmp_path, "whoami")
    assert stale.returncode == 1 and "invalid, expired or revoked token" in stale.stderr, stale.stderr
    with Client(api_server.url, token) as revoked, pytest.raises(Unauthenticated):
        revoked.me()
    # The personal token lives on; revoking it by id ends it.
    credentials.unlink()
    again = remote(
        tmp_path, "--server", api_server.url, "login", "--user", "mallory", password="mallory-pass"
    )
    assert again.returncode == 0, again.stderr
    first = json.loads(credentials.read_text())[api_server.url]["token"]
    # Signing in again replaces the kept token and revokes the one replaced.
    assert remote(tmp_path, "login", "--user", "mallory", password="mallory-pass").returncode == 0
    with Client(api_server.url, first) as replaced, pytest.raises(Unauthenticated):
        replaced.me()
    assert remote(tmp_path, "tokens", "revoke", str(pat["id"])).returncode == 0
    with Client(api_server.url, pat["token"]) as ci, pytest.raises(Unauthenticated):
        ci.me()

    log = api_server.log()
    for secret in (token, pat["token"], "mallory-pass"):
        assert secret not in log


def test_whoami_on_the_platform_host_says_operator(api_server, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cli.main import app

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runner = CliRunner()
    plain = runner.invoke(app, ["whoami"])
    assert plain.exit_code == 0, plain.output
    assert (
        plain.output.startswith("admin (administrator) on http://127.0.0.1:")
        and "operator token" in plain.output
    )
    shown = json.loads(runner.invoke(app, ["whoami", "--json"]).output)
    assert shown["operator"] is True and shown["is_superuser"] is True

    monkeypatch.setenv("MLOPS_PASSWORD", "mallory-pass")
    assert runner.invoke(app, ["login", "--user", "mallory"]).exit_code == 0
    monkeypatch.delenv("MLOPS_PASSWORD")
    after = runner.invoke(app, ["whoami", "--json"])
    assert json.loads(after.output)["username"] == "mallory", after.output
    assert runner.invoke(app, ["logout"]).exit_code == 0
    assert json.loads(runner.invoke(app, ["whoami", "--json"]).output)["operator"] is True


def test_service_accounts_and_their_tokens(api_server, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cli.main import app

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    runner = CliRunner()

    def mlops(*args: str) -> object:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, f"mlops {' '.join(args)}: {result.output}"
        return json.loads(result.output)

    with api_server.client() as admin:
        team = admin.me().teams[0]
    bot = mlops("service-accounts", "create", "nightly-bot", "--team", team.name, "--json")
    assert [a["id"] for a in mlops("service-accounts", "list", "--json")] == [bot["id"]]  # type: ignore[index]
    issued = mlops("service-accounts", "token", str(bot["id"]), "nightly", "--days", "2", "--json")  # type: ignore[index]
    assert issued["kind"] == "service"  # type: ignore[index]
    with Client(api_server.url, issued["token"]) as robot:  # type: ignore[index]
        assert robot.me().username == "nightly-bot"
        tokens = mlops("service-accounts", "tokens", str(bot["id"]), "--json")  # type: ignore[index]
        assert [t["id"] for t in tokens] == [issued["id"]]  # type: ignore[index]
        mlops("tokens", "revoke", str(issued["id"]), "--json")  # type: ignore[index]
        with pytest.raises(Unauthenticated):
            robot.me()
    printed = runner.invoke(app, ["tokens", "create", "shown-once"])
    assert printed.exit_code == 0 and "token: mlops_p_" in printed.output
    missing = runner.invoke(app, ["service-accounts", "tokens", "987654"])
    assert missing.exit_code == 1 and "service account 987654 not found" in missing.output
    assert issued["token"] not in api_server.log()  # type: ignore[index]
