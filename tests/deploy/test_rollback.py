"""Issue 16's "Done when": the sandbox deploys a good version, then a broken one (health,
then a raised error rate); verify catches each at its stage, and rollback puts the good one
back through the fake Vercel API and through the command provider. The deploy records,
the #deploys posts (a fake Slack) and the incident's timeline are asserted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

from opsbook.incidents import service as incidents
from opsbook.store import open_store
from tests.deploy.conftest import NEW, Desk
from tests.notify.fakes import FakeSlack

HEALTHLESS = "1111111111aaaaaaaaaa2222222222bbbbbbbbbb"
ERRORING = "3333333333cccccccccc4444444444dddddddddd"
TOKEN = "sandbox-vercel-token"


def configure(desk: Desk, slack: FakeSlack, deploy: str) -> None:
    desk.config.write_text(
        desk.config.read_text()
        + "notify:\n  channels:\n"
        + '    - {name: slack-deploys, kind: slack, channel: "#deploys",'
        + f' webhook_url: "{slack.webhook_url}", timeout: 1s}}\n'
        + deploy
    )


def vercel_yaml(desk: Desk, token: str = TOKEN, api_url: str | None = None) -> str:
    api = api_url or f"{desk.sandbox.url}/_vercel"
    return (
        "deploy:\n  provider: vercel\n"
        f'  vercel: {{token: {token}, project: prj_sandbox, api_url: "{api}", wait: 3m}}\n'
    )


def command_yaml(argv: list[str], timeout: str = "30s") -> str:
    command = f"{{argv: {json.dumps(argv)}, timeout: {timeout}}}"
    return f"deploy:\n  provider: command\n  command: {command}\n"


def served(desk: Desk) -> str:
    commit: str = httpx.get(f"{desk.sandbox.url}/api/version").json()["commit"]
    return commit


def open_incident(desk: Desk) -> int:
    result = desk.opsbook(
        "incident", "open", "--sev", "P1", "--title", "Errors after deploy", "--json"
    )
    assert result.exit_code == 0, result.output
    incident_id: int = json.loads(result.stdout)["id"]
    return incident_id


def timeline(desk: Desk, incident_id: int) -> list[str]:
    store = open_store(desk.store_url)
    try:
        with store.reading() as session:
            return [e.text for e in incidents.timeline(session, incident_id=incident_id)]
    finally:
        store.close()


def posts(slack: FakeSlack) -> list[str]:
    return [m["text"] for m in slack.messages]


def vercel_deployments(desk: Desk) -> list[dict[str, object]]:
    answer = httpx.get(
        f"{desk.sandbox.url}/_vercel/v6/deployments",
        params={"projectId": "prj_sandbox", "target": "production", "state": "READY"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, object]] = answer.json()["deployments"]
    return found


def test_bad_deploys_are_caught_and_rolled_back_through_the_fake_vercel_api(
    desk: Desk, slack: FakeSlack
) -> None:
    configure(desk, slack, vercel_yaml(desk))
    incident_id = open_incident(desk)

    desk.deploy(NEW)
    good = desk.opsbook("deploy", "verify", "--commit", NEW, "--watch", "1m")
    assert good.exit_code == 0, good.output

    # A deploy whose health fails: caught at health, and --auto-rollback puts NEW back.
    desk.deploy(HEALTHLESS, broken="health")
    caught = desk.opsbook("deploy", "verify", "--commit", HEALTHLESS, "--auto-rollback")
    assert caught.exit_code == 1, caught.output
    assert "FAILED health" in caught.output
    assert "rolling back (--auto-rollback)" in caught.output
    assert f"production to {NEW[:12]} serves and is verified" in caught.output
    assert served(desk) == NEW

    # A deploy whose error rate climbs after the bake: caught at watch; rolled back by hand
    # to NEW's deployment, named by its URL.
    desk.deploy(ERRORING, broken="errors")
    late = desk.opsbook("deploy", "verify", "--commit", ERRORING, "--watch", "15m")
    assert late.exit_code == 1 and "FAILED watch" in late.output, late.output
    new_url = next(d["url"] for d in vercel_deployments(desk) if d["meta"] == {
        "githubCommitSha": NEW, "githubCommitRef": "main"})  # fmt: skip
    dry = desk.opsbook("deploy", "rollback", "--to", f"https://{new_url}", "--reason", "x")
    assert dry.exit_code == 0 and "dry run: pass --yes" in dry.output, dry.output
    assert served(desk) == ERRORING  # a plan only

    back = desk.opsbook(
        "deploy", "rollback", "--to", f"https://{new_url}", "--reason",
        "error rate [/x] after 3333333", "--watch", "1m", "--yes",
    )  # fmt: skip
    assert back.exit_code == 0, back.output
    assert f"production serves {ERRORING[:12]}" in back.output  # the plan: from which...
    assert f"roll back to {NEW[:12]} ({new_url}) via vercel" in back.output  # ...to which
    assert "why: error rate [/x] after 3333333" in back.output
    assert served(desk) == NEW

    records = desk.listed()
    assert [(r["commit"][:4], r["verdict"], r["failed_stage"]) for r in records] == [
        ("9b1d", "passed", None),  # the second rollback
        ("3333", "failed", "watch"),
        ("9b1d", "passed", None),  # the automatic rollback
        ("1111", "failed", "health"),
        ("9b1d", "passed", None),
    ]
    said = posts(slack)
    rolled = [p for p in said if p.startswith("Rolled back to previous deployment due to ")]
    assert len(rolled) == 2
    assert "due to deploy 1111111111aa failed at health" in rolled[0]
    assert rolled[1].startswith("Rolled back to previous deployment due to error rate [/x]")
    assert any(p.startswith("Deploy of 3333333333cc to production failed at watch") for p in said)
    notes = timeline(desk, incident_id)
    assert sum(n.startswith("Rolled back to previous deployment") for n in notes) == 2
    # The version check now expects the commit rolled back to.
    assert records[0]["verdict"] == "passed"


def _promote_script(tmp_path: Path, desk: Desk, *, sleep: float = 0) -> Path:
    """A platform's promote command: writes its argv to a file, then deploys the commit
    (its second argument) to the sandbox."""
    script = tmp_path / "promote.py"
    script.write_text(
        "import json, sys, time, urllib.request\n"
        f"open({str(tmp_path / 'argv.json')!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        f"time.sleep({sleep})\n"
        "body = json.dumps({'commit': sys.argv[2], 'broken': None}).encode()\n"
        f"req = urllib.request.Request({desk.sandbox.url + '/_sandbox/deploy'!r}, data=body,"
        " method='PUT', headers={'Authorization': 'Bearer "
        + desk.sandbox.settings.admin_token
        + "', 'Content-Type': 'application/json'})\n"
        "urllib.request.urlopen(req).read()\n"
    )
    return script


# Ids with shell syntax are refused before anything runs (test_command_provider.py);
# every character an id may hold reaches the command as it was typed, in one argument.
@pytest.mark.parametrize("hostile", ["dpl_9b1d:prod/2@v1+rc-1", "https://app-3f9c.vercel.app"])
def test_the_command_provider_passes_the_deployment_as_one_argument(
    desk: Desk, slack: FakeSlack, tmp_path: Path, hostile: str
) -> None:
    script = _promote_script(tmp_path, desk)
    configure(desk, slack, command_yaml([sys.executable, str(script), "{deployment}", "{commit}"]))
    desk.deploy(NEW)
    assert desk.opsbook("deploy", "verify", "--commit", NEW, "--watch", "0").exit_code == 0
    desk.deploy(HEALTHLESS, broken="health")
    assert desk.opsbook("deploy", "verify", "--commit", HEALTHLESS).exit_code == 1

    result = desk.opsbook(
        "deploy", "rollback", "--to", hostile, "--commit", NEW, "--reason", "health 500",
        "--watch", "0", "--yes",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "argv.json").read_text()) == [hostile, NEW]
    assert not Path("/tmp/pwned").exists()
    assert served(desk) == NEW
    assert desk.records()[0].commit == NEW
    assert any(
        p.startswith("Rolled back to previous deployment due to health 500") for p in posts(slack)
    )


def test_the_command_provider_goes_back_to_the_last_verified_commit(
    desk: Desk, slack: FakeSlack, tmp_path: Path
) -> None:
    script = _promote_script(tmp_path, desk)
    configure(desk, slack, command_yaml([sys.executable, str(script), "{deployment}", "{commit}"]))
    desk.deploy(NEW)
    assert desk.opsbook("deploy", "verify", "--commit", NEW, "--watch", "0").exit_code == 0
    desk.deploy(ERRORING, broken="errors")

    result = desk.opsbook("deploy", "rollback", "--reason", "errors", "--watch", "0", "--yes")

    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "argv.json").read_text()) == [NEW, NEW]
    assert served(desk) == NEW


def test_the_deploy_rollback_runbook_rolls_back_through_the_action(
    desk: Desk, slack: FakeSlack
) -> None:
    configure(desk, slack, vercel_yaml(desk))
    desk.deploy(NEW)
    assert desk.opsbook("deploy", "verify", "--commit", NEW, "--watch", "0").exit_code == 0
    desk.deploy(HEALTHLESS, broken="health")

    result = desk.opsbook(
        "runbook", "run", "deploy-rollback", "--param", "reason=health 500", "--yes"
    )

    assert result.exit_code == 0, result.output
    assert served(desk) == NEW
    [rollback, *_] = desk.listed()
    assert (rollback["commit"], rollback["verdict"]) == (NEW, "passed")
    assert any(
        p.startswith("Rolled back to previous deployment due to health 500") for p in posts(slack)
    )
