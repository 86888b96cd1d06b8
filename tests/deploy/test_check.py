"""`opsbook deploy check`: the seed's pre-deployment checklist against real parts: the
sandbox (deployed and verified in staging), its PostgreSQL and migrations folder, a CI on
127.0.0.1 answering GitHub's combined status, and a fake Slack behind #deploys."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from opsbook.cli import app
from opsbook.context import AppContext
from opsbook.deploy.models import DeployCheck
from opsbook.notify.models import Notification
from opsbook.sandbox.schema import MIGRATIONS_DIR
from opsbook.store import open_store
from opsbook.store.audit import entries
from tests.deploy.ci_fake import FakeCI
from tests.deploy.conftest import NEW, Desk
from tests.notify.fakes import FakeSlack, Reply


@pytest.fixture
def ci() -> Iterator[FakeCI]:
    fake = FakeCI()
    yield fake
    fake.stop()


def configure(desk: Desk, slack: FakeSlack, tests: str, *, more: str = "") -> None:
    """#deploys is the fake Slack; staging is the sandbox; the target database is its own."""
    desk.config.write_text(
        desk.config.read_text()
        + f"database:\n  url: {desk.sandbox.database_url}\n"
        + "notify:\n  channels:\n"
        + '    - {name: slack-deploys, kind: slack, channel: "#deploys",'
        + f' webhook_url: "{slack.webhook_url}", timeout: 1s}}\n'
        + f"deploy:\n  staging_url: {desk.sandbox.url}\n  checklist:\n    tests: {tests}\n"
        + more
    )


def ci_tests(ci: FakeCI) -> str:
    return f'{{status_url: "{ci.url}", token: ci-token-0123456789, timeout: 2s}}'


def command_tests(script: str) -> str:
    return json.dumps({"command": [sys.executable, "-c", script], "timeout": "20s"})


def staged(desk: Desk, commit: str = NEW) -> None:
    """The commit deployed to the sandbox and verified there as staging."""
    desk.deploy(commit)
    done = desk.opsbook("deploy", "verify", "--env", "staging", "--commit", commit, "--watch", "0")
    assert done.exit_code == 0, done.output


def check(desk: Desk, *args: str, commit: str = NEW) -> Result:
    return desk.opsbook("deploy", "check", "--commit", commit, *args)


def checked(desk: Desk, *args: str, code: int, commit: str = NEW) -> dict[str, Any]:
    result = check(desk, *args, "--json", commit=commit)
    assert result.exit_code == code, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def item(found: dict[str, Any], name: str) -> dict[str, Any]:
    return next(i for i in found["items"] if i["name"] == name)


def stored(desk: Desk) -> list[DeployCheck]:
    store = open_store(desk.store_url)
    try:
        with store.reading() as session:
            rows = session.query(DeployCheck).order_by(DeployCheck.id).all()
            session.expunge_all()
            return rows
    finally:
        store.close()


def test_all_green_checks_confirms_posts_and_records(
    desk: Desk, slack: FakeSlack, ci: FakeCI
) -> None:
    configure(desk, slack, ci_tests(ci), more=f"    migrations: {MIGRATIONS_DIR}\n")
    staged(desk)
    result = check(desk, "--yes-flags")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["passed", "tests", "CI:", "success"]
    assert lines[1].split()[:4] == ["passed", "staging", "deploy", "#1"]
    assert "none pending (3 applied, latest 20250601000000_attempt_feedback)" in lines[2]
    assert lines[3].split()[:2] == ["confirmed", "flags"] and "confirmed by " in lines[3]
    assert lines[4].split() == ["passed", "notified", "slack-deploys:", "delivered"]
    assert lines[5] == f"deploy check #1: {NEW[:12]} ready for production"  # nothing skipped
    # The CI was asked about this commit, with the token; #deploys got the seed's line.
    assert ci.requests[0]["ref"] == NEW
    assert ci.requests[0]["headers"]["authorization"] == "Bearer ci-token-0123456789"
    assert [m["text"] for m in slack.messages][-1] == f"Deploying {NEW} to production"
    [row] = stored(desk)
    assert (row.commit, row.env, row.verdict) == (NEW, "production", "passed")
    flags = next(i for i in row.items if i["name"] == "flags")
    assert flags["outcome"] == "confirmed" and flags["by"]
    # verify warns only when no passed checklist exists for the commit.
    verified = desk.opsbook("deploy", "verify", "--commit", NEW, "--watch", "0")
    assert verified.exit_code == 0 and "no passed deploy check" not in verified.output


def deploying(slack: FakeSlack) -> list[str]:
    """Every "Deploying" post #deploys received, accepted or not."""
    bodies = [json.loads(r["raw"]) for r in slack.requests]
    return [b["text"] for b in bodies if b.get("text", "").startswith("Deploying")]


def test_a_second_passing_check_says_it_was_announced_and_posts_nothing_new(
    desk: Desk, slack: FakeSlack, ci: FakeCI
) -> None:
    configure(desk, slack, ci_tests(ci))
    staged(desk)
    first = item(checked(desk, "--yes-flags", code=0), "notified")
    assert (first["saw"], first["details"]["announced_at"]) == ("slack-deploys: delivered", None)
    desk.sandbox.clock.advance(dt.timedelta(minutes=5))
    again = checked(desk, "--yes-flags", code=0)
    notified = item(again, "notified")
    assert notified["outcome"] == "passed"
    when = dt.datetime.fromisoformat(notified["details"]["announced_at"])
    assert notified["saw"] == f"slack-deploys: already announced {when:%Y-%m-%d %H:%M} UTC"
    said = check(desk, "--yes-flags")
    assert "already announced" in said.stdout and said.exit_code == 0
    assert deploying(slack) == [f"Deploying {NEW} to production"]
    # Another environment is another announcement.
    checked(desk, "--yes-flags", "--env", "staging", code=0)
    assert deploying(slack) == [f"Deploying {NEW} to production", f"Deploying {NEW} to staging"]
    assert [r.verdict for r in stored(desk)] == ["passed"] * 4


def test_verify_warns_without_a_passed_check_but_verifies(desk: Desk) -> None:
    desk.deploy(NEW)
    result = desk.opsbook("deploy", "verify", "--commit", NEW, "--watch", "0", "--json")
    assert result.exit_code == 0, result.output
    assert f"warning: no passed deploy check of {NEW[:12]} for production" in result.stderr
    assert json.loads(result.stdout)["verdict"] == "passed"


@pytest.mark.parametrize(
    ("state", "contexts", "said"),
    [
        ("failure", {"ci/tests": "failure", "ci/lint": "success"}, "CI: failure for"),
        ("error", {"ci/build": "error"}, "CI: error for"),
        ("pending", {"ci/tests": "pending"}, "the tests have not finished"),
    ],
)
def test_ci_not_green_fails_the_tests_item_with_what_it_saw(
    desk: Desk, slack: FakeSlack, ci: FakeCI, state: str, contexts: dict[str, str], said: str
) -> None:
    configure(desk, slack, ci_tests(ci))
    staged(desk)
    ci.state, ci.contexts = state, contexts
    found = checked(desk, "--yes-flags", code=1)
    tests = item(found, "tests")
    assert tests["outcome"] == "failed" and said in tests["saw"], tests
    assert tests["details"]["failing"] == [c for c, s in contexts.items() if s != "success"]
    # Nothing is announced when an item fails: "Deploying" would be a false start.
    assert item(found, "notified") == {
        "name": "notified",
        "title": "Team notified in #deploys",
        "outcome": "skipped",
        "saw": "not posted: tests failed",
        "by": None,
        "details": {},
    }
    assert not [m for m in slack.messages if m["text"].startswith("Deploying")]
    assert found["verdict"] == "failed"


def test_a_ci_status_of_another_commit_fails(desk: Desk, slack: FakeSlack, ci: FakeCI) -> None:
    configure(desk, slack, ci_tests(ci))
    ci.sha = "ab" * 20
    found = checked(desk, "--yes-flags", code=1)
    assert item(found, "tests")["saw"] == f"the CI's status is for {'ab' * 6}, not {NEW[:12]}"
    ci.sha = NEW[:4]  # a short sha could be any commit's start: not proof of this one
    found = checked(desk, "--yes-flags", code=1)
    assert item(found, "tests")["saw"] == f"the CI's status is for {NEW[:4]}, not {NEW[:12]}"


def test_an_unreachable_ci_is_one_failed_line(desk: Desk, slack: FakeSlack) -> None:
    configure(desk, slack, '{status_url: "http://127.0.0.1:9/status/{commit}", timeout: 2s}')
    result = check(desk, "--yes-flags")
    assert result.exit_code == 1, result.output
    [line] = [ln for ln in result.stdout.splitlines() if " tests " in ln]
    assert "FAILED tests" in line and "cannot reach the CI at http://127.0.0.1:9/status/" in line


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (200, b"<html>" + b"x" * 400_000, "not JSON within bounds"),
        (200, b"[" * 5000 + b"]" * 5000, "not JSON within bounds"),
        (200, b"not json at all", "not JSON within bounds"),
        (200, b'{"state": "\\u001b[31m[/x]$(id)", "sha": "' + NEW.encode() + b'"}', "no state"),
        (200, b'{"state": "success", "sha": "; rm -rf /"}', "names no commit"),
        (502, b"\x1b[2J[bold]bad gateway ci-token-0123456789", "the CI answered 502"),
    ],
)
def test_hostile_ci_answers_are_failed_items_shown_as_data(
    desk: Desk, slack: FakeSlack, ci: FakeCI, status: int, body: bytes, said: str
) -> None:
    configure(desk, slack, ci_tests(ci))
    ci.raw = (status, body)
    result = check(desk, "--yes-flags")
    assert result.exit_code == 1, result.output
    [line] = [ln for ln in result.stdout.splitlines() if " tests " in ln]
    assert said in line, line
    assert "\x1b" not in result.stdout and "ci-token-0123456789" not in result.stdout
    assert len(line) < 400


def test_the_tests_command_passes_or_fails_by_its_exit(desk: Desk, slack: FakeSlack) -> None:
    script = "import sys; print('ran for', sys.argv[1]); sys.exit(sys.argv[1] != '" + NEW + "')"
    configure(desk, slack, json.dumps({"command": [sys.executable, "-c", script, "{commit}"]}))
    staged(desk)
    passing = checked(desk, "--yes-flags", code=0)
    assert item(passing, "tests")["outcome"] == "passed"
    assert item(passing, "tests")["details"]["output"] == f"ran for {NEW}\n"

    other = "1111111111aaaaaaaaaa2222222222bbbbbbbbbb"
    failing = checked(desk, "--yes-flags", code=1, commit=other)
    assert item(failing, "tests")["saw"].endswith(f": exit 1: ran for {other}")


def test_a_command_printing_escapes_and_a_secret_is_masked_and_shown_inert(
    desk: Desk, slack: FakeSlack
) -> None:
    script = f"print('\\x1b[31mred\\x1b[0m [/x] {slack.webhook_url} Bearer abcdefgh12345'); exit(3)"
    configure(desk, slack, command_tests(script))  # the webhook URL is a config secret
    result = check(desk, "--yes-flags")
    assert result.exit_code == 1, result.output
    [line] = [ln for ln in result.stdout.splitlines() if " tests " in ln]
    assert line.endswith(": exit 3: \\x1b[31mred\\x1b[0m [/x] *** Bearer ***"), line
    assert "\x1b" not in result.stdout and slack.webhook_url not in result.stdout
    found = checked(desk, "--yes-flags", code=1)
    assert slack.webhook_url not in json.dumps(found)
    assert "abcdefgh12345" not in json.dumps(found)


def test_a_command_that_outruns_its_timeout_is_stopped(desk: Desk, slack: FakeSlack) -> None:
    configure(
        desk,
        slack,
        json.dumps(
            {"command": [sys.executable, "-c", "import signal; signal.pause()"], "timeout": "1s"}
        ),
    )
    found = checked(desk, "--yes-flags", code=1)
    assert "timed out after 1s" in item(found, "tests")["saw"]


def test_staging_not_verified_fails_and_a_failed_staging_deploy_says_where(
    desk: Desk, slack: FakeSlack, ci: FakeCI
) -> None:
    configure(desk, slack, ci_tests(ci))
    never = checked(desk, "--yes-flags", code=1)
    assert item(never, "staging")["saw"] == (
        f"no deploy of {NEW[:12]} to staging is recorded: verify it there first"
    )
    desk.deploy(NEW, broken="health")
    desk.opsbook("deploy", "verify", "--env", "staging", "--commit", NEW, "--watch", "0")
    broken = checked(desk, "--yes-flags", code=1)
    assert item(broken, "staging")["saw"].startswith("staging deploy #1 failed at health: ")
    # A check for staging itself does not ask for a staging deploy.
    itself = checked(desk, "--yes-flags", "--env", "staging", code=0)
    assert item(itself, "staging")["outcome"] == "skipped"


def test_a_pending_migration_is_named(
    desk: Desk, slack: FakeSlack, ci: FakeCI, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    (folder / "20260101000000_add_scores.sql").write_text("create table scores (id int);\n")
    configure(desk, slack, ci_tests(ci), more="    migrations: migrations\n")
    staged(desk)
    found = checked(desk, "--yes-flags", code=1)
    assert item(found, "migrations")["saw"] == "1 pending: 20260101000000_add_scores"
    assert item(found, "migrations")["details"]["pending"] == ["20260101000000_add_scores"]


def test_a_migrations_folder_named_but_missing_fails(
    desk: Desk, slack: FakeSlack, ci: FakeCI
) -> None:
    configure(desk, slack, ci_tests(ci), more="    migrations: nowhere\n")
    found = checked(desk, "--yes-flags", code=1)
    said = item(found, "migrations")["saw"]
    assert said.endswith("nowhere is not a folder of migrations (deploy.checklist.migrations)")


def test_flags_unconfirmed_without_a_terminal_fail_saying_how(
    desk: Desk, slack: FakeSlack, ci: FakeCI
) -> None:
    configure(desk, slack, ci_tests(ci))
    staged(desk)
    found = checked(desk, code=1)
    assert item(found, "flags")["saw"] == "not confirmed: pass --yes-flags, or answer at a terminal"
    assert item(found, "notified")["saw"] == "not posted: flags failed"


@pytest.mark.parametrize(("answer", "outcome"), [("y\n", "confirmed"), ("n\n", "failed")])
def test_flags_are_asked_at_a_terminal(
    desk: Desk, slack: FakeSlack, ci: FakeCI, answer: str, outcome: str
) -> None:
    configure(desk, slack, ci_tests(ci))
    staged(desk)
    result = CliRunner().invoke(
        app,
        ["--config", str(desk.config), "deploy", "check", "--commit", NEW, "--json"],
        obj=AppContext(clock=desk.sandbox.clock, interactive=True),
        input=answer,
    )
    assert "Feature flags configured for 9b1d2e3f4a5b in production" in result.stderr
    # CliRunner echoes the typed answer into stdout, as a terminal echoes it on screen.
    typed, _, printed = result.stdout.partition("\n")
    assert typed.strip() == answer.strip(), result.stdout
    flags = item(json.loads(printed), "flags")
    assert flags["outcome"] == outcome
    if outcome == "failed":
        assert flags["saw"] == "not confirmed: answered no at the terminal"


def test_a_post_queued_while_the_channel_is_down_is_sent_by_the_next_check(
    desk: Desk, slack: FakeSlack, ci: FakeCI
) -> None:
    configure(desk, slack, ci_tests(ci))
    staged(desk)
    slack.answer_next(Reply(500, "server_error"))
    notified = item(checked(desk, "--yes-flags", code=1), "notified")
    assert (notified["outcome"], notified["details"]["status"]) == ("failed", "queued")
    assert "delivered" not in notified["saw"] and delivered(slack) == []
    queued_at = outbox_row(desk).created_at
    # Slack is back; the next check sends the queued post now (its backoff not waited out).
    desk.sandbox.clock.advance(dt.timedelta(seconds=1))
    again = item(checked(desk, "--yes-flags", code=0), "notified")
    assert again["outcome"] == "passed"
    assert (
        again["saw"] == f"slack-deploys: delivered (first queued at {queued_at:%Y-%m-%d %H:%M} UTC)"
    )
    assert again["details"]["announced_at"] is None
    assert delivered(slack) == [f"Deploying {NEW} to production"]
    # Delivered: a third check says when, and nothing new is sent.
    third = item(checked(desk, "--yes-flags", code=0), "notified")
    delivered_at = outbox_row(desk).delivered_at
    assert delivered_at is not None
    assert third["saw"] == f"slack-deploys: already announced {delivered_at:%Y-%m-%d %H:%M} UTC"
    assert len(deploying(slack)) == 2 and len(delivered(slack)) == 1


def test_a_dead_post_is_requeued_as_a_retry_and_sent_by_the_next_check(
    desk: Desk, slack: FakeSlack, ci: FakeCI
) -> None:
    configure(desk, slack, ci_tests(ci))
    staged(desk)
    slack.answer_next(Reply(404, "no_service"))  # refused: dead at once
    notified = item(checked(desk, "--yes-flags", code=1), "notified")
    assert notified["details"]["status"] == "failed"
    assert notified["saw"] == "slack-deploys: failed: 404 no_service"
    assert outbox_row(desk).status == "dead"
    queued_at = outbox_row(desk).created_at
    again = item(checked(desk, "--yes-flags", code=0), "notified")
    assert (
        again["saw"] == f"slack-deploys: delivered (first queued at {queued_at:%Y-%m-%d %H:%M} UTC)"
    )
    assert delivered(slack) == [f"Deploying {NEW} to production"]
    retried = [e for e in audit_entries(desk) if e.action == "notify.retry"]
    assert [(e.target, e.details["was"]) for e in retried] == [
        (f"notification #{outbox_row(desk).id}", "dead")
    ]


@pytest.mark.parametrize(
    ("replies", "status", "said"),
    [
        (
            [Reply(500, "server_error"), Reply(503, "down")],
            "queued",
            "not delivered yet (503 down)",
        ),
        (
            [Reply(404, "no_service"), Reply(410, "channel_is_archived")],
            "failed",
            "not delivered: failed: 410 channel_is_archived",
        ),
    ],
    ids=["queued-again", "dead-again"],
)
def test_a_post_that_fails_again_says_when_it_was_queued_and_that_it_never_arrived(
    desk: Desk, slack: FakeSlack, ci: FakeCI, replies: list[Reply], status: str, said: str
) -> None:
    configure(desk, slack, ci_tests(ci))
    staged(desk)
    slack.answer_next(*replies)
    checked(desk, "--yes-flags", code=1)
    queued_at = outbox_row(desk).created_at
    again = item(checked(desk, "--yes-flags", code=1), "notified")
    assert again["details"]["status"] == status
    assert again["saw"].startswith(
        f"slack-deploys: queued at {queued_at:%Y-%m-%d %H:%M} UTC, {said}"
    )
    assert again["details"]["queued_at"] is not None and "already" not in again["saw"]
    assert len(deploying(slack)) == 2 and delivered(slack) == []  # tried again, at once


def test_the_short_and_the_full_sha_of_one_commit_are_one_announcement(
    desk: Desk, slack: FakeSlack, ci: FakeCI
) -> None:
    configure(desk, slack, ci_tests(ci))
    staged(desk)
    ci.sha = NEW  # asked about the short sha, the CI names the full one, as GitHub does
    short = item(checked(desk, "--yes-flags", commit=NEW[:7].upper(), code=0), "notified")
    assert short["saw"] == "slack-deploys: delivered"
    full = item(checked(desk, "--yes-flags", code=0), "notified")
    assert full["saw"].startswith("slack-deploys: already announced ")
    assert deploying(slack) == [f"Deploying {NEW[:7]} to production"]
    assert outbox_row(desk).key == f"deploy-announce-production-{NEW}"


def delivered(slack: FakeSlack) -> list[str]:
    """The "Deploying" posts #deploys accepted."""
    return [m["text"] for m in slack.messages if m["text"].startswith("Deploying")]


def outbox_row(desk: Desk) -> Notification:
    """The test's one "Deploying" post, as the outbox holds it."""
    store = open_store(desk.store_url)
    try:
        with store.reading() as session:
            announcing = Notification.key.startswith("deploy-announce-")
            [row] = session.query(Notification).filter(announcing).all()
            session.expunge(row)
            return row
    finally:
        store.close()


def audit_entries(desk: Desk) -> list[Any]:
    store = open_store(desk.store_url)
    try:
        with store.reading() as session:
            found = entries(session)
            session.expunge_all()
            return list(found)
    finally:
        store.close()


@pytest.mark.parametrize(
    "commit",
    ["; rm -rf /", "$(id)", "\x1b[2J9b1d", "[/x]9b1d", "9b1d\x00", "9" * 100_000, "9b1d 9b1d"],
)
def test_a_commit_that_is_not_one_is_refused_and_nothing_happens(
    desk: Desk, slack: FakeSlack, ci: FakeCI, commit: str
) -> None:
    configure(desk, slack, ci_tests(ci))
    result = check(desk, "--yes-flags", "--json", commit=commit)
    assert result.exit_code == 2, result.output
    assert "is not a commit id" in result.output and "nothing was checked" in result.output
    assert len(result.output) < 400 and "\x1b" not in result.output
    assert ci.requests == [] and slack.messages == [] and stored(desk) == []


def test_an_env_that_is_not_one_is_refused(desk: Desk) -> None:
    result = check(desk, "--env", "qa[/x]")
    assert result.exit_code == 2 and "is not one of production, staging" in result.output


def test_the_deploy_runbook_runs_the_checklist_after_a_person_confirms_the_flags(
    desk: Desk, slack: FakeSlack, ci: FakeCI
) -> None:
    configure(desk, slack, ci_tests(ci))
    staged(desk)
    args = ("runbook", "run", "deploy", "--param", f"commit={NEW}", "--param", "watch=0")
    first = desk.opsbook(*args, "--json")
    assert first.exit_code == 0, first.output  # paused for a person, nothing failed
    run = json.loads(first.stdout)
    steps = {s["id"]: s for s in run["steps"]}
    assert steps["feature_flags"]["status"] == "waiting" and run["paused_at"] == "feature_flags"
    assert steps["checklist"]["status"] == "pending"  # the flags gate the checklist
    assert steps["verify"]["status"] == "pending"  # stopped before the deploy is verified
    assert not [m for m in slack.messages if m["text"].startswith("Deploying")]

    resumed = desk.opsbook(
        "runbook", "resume", str(run["id"]), "--done", "feature_flags", "--done", "merge",
        "--done", "monitor", "--json",
    )  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    steps = {s["id"]: s for s in json.loads(resumed.stdout)["steps"]}
    assert steps["checklist"]["status"] == "succeeded"
    flags = item(steps["checklist"]["output"], "flags")
    assert flags["outcome"] == "confirmed" and flags["by"]
    assert steps["verify"]["status"] == "succeeded"
    deploying = [m["text"] for m in slack.messages if m["text"].startswith("Deploying")]
    assert deploying == [f"Deploying {NEW} to production"]
    assert [r.verdict for r in stored(desk)] == ["passed"]  # checked once, when the flags were


def test_ready_with_an_item_not_checked_says_which(desk: Desk, slack: FakeSlack) -> None:
    """Staging's own check skips the staging item: "ready" names what it did not look at."""
    configure(desk, slack, command_tests("pass"))
    result = check(desk, "--yes-flags", "--env", "staging")
    assert result.exit_code == 0, result.output
    last = result.stdout.splitlines()[-1]
    assert last.startswith(f"deploy check #1: {NEW[:12]} ready for staging (")
    assert "staging" in last.split("(")[1] and last.endswith("not checked)")
