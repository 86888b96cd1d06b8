"""Issue 18, item 1: the deploy runbook's manual steps gate what follows. Health, smoke and
the watch must judge the new deployment, so they wait until a person has merged to main
and seen the deployment ready; `--yes` approves actions, it never says a person did
something. Run as from a script (no terminal), against the sandbox and a fake Slack."""

from __future__ import annotations

import json
from typing import Any

from tests.deploy.conftest import NEW, Desk
from tests.deploy.test_check import command_tests, staged
from tests.deploy.test_check import configure as configure_checklist
from tests.deploy.test_rollback import HEALTHLESS, configure, posts, vercel_yaml
from tests.notify.fakes import FakeSlack

CHECKLIST = ("feature_flags",)  # the person's item; deploy.check checks the rest


def ready(desk: Desk, slack: FakeSlack) -> None:
    """The checklist can pass: tests pass (a command), the commit is verified on staging."""
    configure_checklist(desk, slack, command_tests("pass"))
    staged(desk)


def production(desk: Desk) -> list[Any]:
    return [r for r in desk.records() if r.env == "production"]


def run_json(desk: Desk, *args: str) -> dict[str, Any]:
    result = desk.opsbook("runbook", *args, "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def statuses(run: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["status"] for s in run["steps"]}


def done(*steps: str) -> list[str]:
    return [arg for step in steps for arg in ("--done", step)]


def test_the_dry_run_shows_where_the_deploy_will_pause(desk: Desk, slack: FakeSlack) -> None:
    configure_checklist(desk, slack, command_tests("pass"))
    plan = run_json(desk, "run", "deploy", "--dry-run", "--param", f"commit={NEW}")
    pauses = [s["id"] for s in plan["steps"] if s["pauses"]]
    assert pauses == [*CHECKLIST, "merge", "monitor"]
    text = desk.opsbook("runbook", "run", "deploy", "--dry-run", "--param", f"commit={NEW}")
    said = " ".join(text.output.split())
    assert "Merge to main (the run pauses here until a person confirms it)" in said


def test_verify_waits_for_merge_and_monitor_then_judges_the_new_deployment(
    desk: Desk, slack: FakeSlack
) -> None:
    ready(desk, slack)
    args = ("--param", f"commit={NEW}", "--param", "watch=0", "--yes")
    first = run_json(desk, "run", "deploy", *args)
    run_id = str(first["id"])
    assert first["status"] == "waiting"
    assert first["paused_at"] == "feature_flags"
    # The config this run used is in the hint: pasted elsewhere it resumes this run.
    hint = f"opsbook --config {desk.config} runbook resume {run_id} "
    assert first["to_continue"] == hint + " ".join(done(*CHECKLIST))
    assert statuses(first)["checklist"] == statuses(first)["verify"] == "pending"

    checked = run_json(desk, "resume", run_id, *done(*CHECKLIST), "--yes")
    assert statuses(checked)["checklist"] == "succeeded"
    assert posts(slack)[-1] == f"Deploying {NEW} to production"
    assert (checked["paused_at"], checked["to_continue"]) == (
        "merge",
        f"{hint}--done merge --done monitor",
    )
    assert statuses(checked)["verify"] == "pending"

    merged = run_json(desk, "resume", run_id, "--done", "merge", "--yes")
    assert merged["paused_at"] == "monitor"
    assert statuses(merged)["verify"] == "pending"
    assert production(desk) == []  # nothing judged the old deployment

    desk.deploy(NEW)  # Vercel has deployed the merge
    finished = run_json(desk, "resume", run_id, "--done", "monitor", "--yes")
    assert finished["status"] == "succeeded"
    assert "paused_at" not in finished
    verify = next(s for s in finished["steps"] if s["id"] == "verify")
    assert (verify["status"], verify["attempts"]) == ("succeeded", 1)
    assert [s["name"] for s in verify["output"]["stages"]] == [
        "version",
        "health",
        "smoke",
        "watch",
    ]
    [record] = production(desk)
    assert (record.commit, record.verdict) == (NEW, "passed")


def test_a_paused_run_says_what_to_run_to_continue(desk: Desk, slack: FakeSlack) -> None:
    configure_checklist(desk, slack, command_tests("pass"))
    result = desk.opsbook("runbook", "run", "deploy", "--param", f"commit={NEW}", "--yes")
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "paused at feature_flags: the steps after it wait for a person to do it." in said
    assert f"continue with: opsbook --config {desk.config} runbook resume 1 --done" in said
    # --done is a person's word for a manual step; an automated one cannot be declared.
    wrong = desk.opsbook("runbook", "resume", "1", "--done", "checklist")
    assert wrong.exit_code == 2, wrong.output
    assert "'checklist' is not a manual step" in " ".join(wrong.output.split())
    missing = desk.opsbook("runbook", "resume", "1", "--done", "nope[/x]")
    assert missing.exit_code == 2 and "has no step 'nope[/x]'" in missing.output
    # Neither refusal touched the run: it resumes from the flags as before.
    again = desk.opsbook("runbook", "resume", "1", "--done", "feature_flags", "--json")
    assert statuses(json.loads(again.stdout))["feature_flags"] == "confirmed", again.output


def test_the_deploy_runbook_verifies_app_expected_commit_without_a_commit_given(
    desk: Desk, slack: FakeSlack
) -> None:
    ready(desk, slack)
    desk.config.write_text(
        desk.config.read_text().replace("app:\n", f"app:\n  expected_commit: {NEW}\n", 1)
    )
    desk.deploy(NEW)
    first = run_json(desk, "run", "deploy", "--param", "watch=0", "--yes")
    steps = done(*CHECKLIST, "merge", "monitor")
    finished = run_json(desk, "resume", str(first["id"]), *steps, "--yes")
    assert finished["status"] == "succeeded"
    assert f"Deploying {NEW} to production" in posts(slack)
    [record] = production(desk)
    assert (record.commit, record.verdict) == (NEW, "passed")


def test_the_deploy_runbook_without_any_commit_says_what_to_give(
    desk: Desk, slack: FakeSlack
) -> None:
    configure(desk, slack, "")
    first = run_json(desk, "run", "deploy", "--param", "watch=0", "--yes")
    steps = done(*CHECKLIST, "merge", "monitor")
    result = desk.opsbook("runbook", "resume", str(first["id"]), *steps, "--yes", "--json")
    assert result.exit_code == 1, result.output
    found = {s["id"]: s for s in json.loads(result.stdout)["steps"]}
    assert found["verify"]["status"] == "pending"  # the checklist stopped the run first
    assert found["checklist"]["error"] == (
        "no commit to verify: give the commit being deployed (--param commit=SHA)"
        " or set app.expected_commit"
    )
    assert desk.records() == []


def test_a_rollback_with_slack_down_says_its_post_is_queued_not_ok(
    desk: Desk, slack: FakeSlack
) -> None:
    """Issue 18, item 4: the rollback worked, the #deploys post did not arrive; the step's
    line says where the post stands instead of a bare ok."""
    configure(desk, slack, vercel_yaml(desk))
    desk.deploy(NEW)
    assert desk.opsbook("deploy", "verify", "--commit", NEW, "--watch", "0").exit_code == 0
    desk.deploy(HEALTHLESS, broken="health")
    slack.stop()

    result = desk.opsbook("runbook", "run", "deploy-rollback", "--param", "reason=health", "--yes")

    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "post to slack-deploys: queued; opsbook serve delivers it" in said
    run = json.loads(desk.opsbook("runbook", "runs", "--json").stdout)[0]
    shown = run_json(desk, "resume", str(run["id"]), "--done", "follow_up")
    posted = shown["steps"][0]["output"]["posted"]
    assert posted["status"] in ("queued", "failed")
