"""`opsbook deploy verify` against the real sandbox: each stage catches its own kind of
bad deploy, and every verify the app answered is recorded."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from opsbook.sandbox.client import faults_call
from tests.conftest import T0
from tests.deploy.conftest import NEW, Desk


def test_a_good_deploy_passes_every_stage_and_is_recorded(desk: Desk) -> None:
    desk.deploy(NEW)

    result = desk.opsbook("deploy", "verify", "--commit", NEW[:12], "--watch", "2m")

    assert result.exit_code == 0, result.output
    warned, *lines = result.output.splitlines()
    assert warned.startswith("warning: no passed deploy check of ")  # a warning, not a stop
    assert [line.split()[:2] for line in lines[:4]] == [
        ["ok", "version"],
        ["ok", "health"],
        ["ok", "smoke"],
        ["ok", "watch"],
    ]
    assert "/dashboard 200" in result.output
    assert "verified" in lines[-2]
    assert lines[-1].startswith("#deploys: no channel named or showing")  # said, not hidden
    [record] = desk.listed()
    assert record["commit"] == NEW[:12]
    assert (record["env"], record["verdict"], record["failed_stage"]) == (
        "production",
        "passed",
        None,
    )
    assert record["url"] == desk.sandbox.url
    assert record["actor"]
    # The watch stage sampled for the two minutes asked, on the injected clock.
    assert desk.sandbox.clock.now() - T0 == dt.timedelta(minutes=2)


def test_json_is_one_object_with_every_stage(desk: Desk) -> None:
    desk.deploy(NEW)

    result = desk.opsbook("deploy", "verify", "--commit", NEW, "--watch", "0", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "passed"
    assert [(s["name"], s["outcome"]) for s in data["stages"]] == [
        ("version", "passed"),
        ("health", "passed"),
        ("smoke", "passed"),
        ("watch", "skipped"),
    ]
    assert all(s["started_at"] <= s["ended_at"] for s in data["stages"])


def test_a_deploy_that_never_serves_the_commit_fails_at_version_after_the_wait(
    desk: Desk,
) -> None:
    result = desk.opsbook("deploy", "verify", "--commit", NEW, "--wait", "5m")

    assert result.exit_code == 1, result.output
    assert "FAILED version" in result.output
    assert "after 5m00s" in result.output
    assert desk.sandbox.settings.commit[:12] in result.output  # what it saw instead
    assert desk.sandbox.clock.now() - T0 == dt.timedelta(minutes=5)
    [row] = desk.records()
    assert (row.verdict, row.failed_stage) == ("failed", "version")
    assert row.saw is not None and "is not the expected" in row.saw


def test_broken_health_fails_at_health(desk: Desk) -> None:
    desk.deploy(NEW, broken="health")

    result = desk.opsbook("deploy", "verify", "--commit", NEW)

    assert result.exit_code == 1, result.output
    assert "FAILED health" in result.output
    assert "500" in result.output
    assert "smoke" not in result.output  # stopped at the first failing stage
    [row] = desk.records()
    assert (row.verdict, row.failed_stage) == ("failed", "health")


def test_an_error_rate_rising_after_the_bake_fails_at_watch(desk: Desk) -> None:
    desk.deploy(NEW, broken="errors")

    result = desk.opsbook("deploy", "verify", "--commit", NEW, "--watch", "15m")

    assert result.exit_code == 1, result.output
    assert "ok smoke" in " ".join(result.output.split())  # the bake had not ended yet
    assert "FAILED watch" in result.output
    [row] = desk.records()
    assert (row.verdict, row.failed_stage) == ("failed", "watch")
    assert row.saw is not None and "error rate" in row.saw
    # Caught within minutes, not at the end of the fifteen.
    assert desk.sandbox.clock.now() - T0 < dt.timedelta(minutes=5)


def test_a_page_redirected_to_sign_in_fails_smoke(desk: Desk) -> None:
    desk.deploy(NEW)
    faults_call(desk.sandbox.url, desk.sandbox.settings.admin_token, "PUT", "signed-out", "on")

    result = desk.opsbook("deploy", "verify", "--commit", NEW)

    assert result.exit_code == 1, result.output
    assert "FAILED smoke" in result.output
    assert "/dashboard: expected 200, got 307 to /sign-in" in result.output
    [row] = desk.records()
    assert row.failed_stage == "smoke"


def test_signed_in_with_app_session_the_smoke_opens_the_pages_themselves(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = desk.sandbox.settings.session_token
    monkeypatch.setenv("APP_SESSION", token)
    desk.config.write_text(desk.config.read_text() + "  session: {value: '${APP_SESSION}'}\n")
    desk.deploy(NEW)
    faults_call(desk.sandbox.url, desk.sandbox.settings.admin_token, "PUT", "signed-out", "on")

    result = desk.opsbook("deploy", "verify", "--commit", NEW, "--watch", "0")

    assert result.exit_code == 0, result.output
    assert "/dashboard 200" in result.output and token not in result.output


def test_the_session_is_not_sent_to_a_url_of_another_origin(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--url` names another site (here the same server under another name): a test
    account's cookie is the app's and must not reach it."""
    token = desk.sandbox.settings.session_token
    monkeypatch.setenv("APP_SESSION", token)
    desk.config.write_text(desk.config.read_text() + "  session: {value: '${APP_SESSION}'}\n")
    desk.deploy(NEW)
    faults_call(desk.sandbox.url, desk.sandbox.settings.admin_token, "PUT", "signed-out", "on")
    other = desk.sandbox.url.replace("127.0.0.1", "localhost")

    result = desk.opsbook("deploy", "verify", "--commit", NEW, "--watch", "0", "--url", other)

    assert result.exit_code == 1, result.output
    assert "/dashboard: expected 200, got 307" in " ".join(result.output.split())
    assert token not in result.output


def test_a_redirect_the_path_expects_passes_smoke(desk: Desk) -> None:
    config = desk.config.read_text() + (
        "  smoke_paths:\n"
        "    - path: /sign-in\n"
        "      contains: Sign in\n"
        "    - {path: /dashboard, status: 307, redirect_to: /sign-in}\n"
    )
    desk.config.write_text(config)
    desk.deploy(NEW)
    faults_call(desk.sandbox.url, desk.sandbox.settings.admin_token, "PUT", "signed-out", "on")

    result = desk.opsbook("deploy", "verify", "--commit", NEW, "--watch", "0")

    assert result.exit_code == 0, result.output
    assert "/dashboard 307" in result.output


def test_verify_for_staging_needs_its_url(desk: Desk) -> None:
    result = desk.opsbook("deploy", "verify", "--commit", NEW, "--env", "staging")
    assert result.exit_code == 2
    assert "no URL for staging" in result.output

    desk.deploy(NEW)
    result = desk.opsbook(
        "deploy", "verify", "--commit", NEW, "--env", "staging", "--url", desk.sandbox.url,
        "--watch", "0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r.env for r in desk.records()] == ["staging"]
    assert desk.opsbook("deploy", "list", "--env", "production", "--json").stdout.strip() == "[]"
