"""`opsbook sandbox deploy` and `PUT /_sandbox/deploy`: another version served in place,
broken at once (health) or after the bake on the sandbox's clock (errors)."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.sandbox.deploys import BAKE
from tests.conftest import RunningSandbox

runner = CliRunner()
NEW = "9b1d2e3f"


def deploy(sandbox: RunningSandbox, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["sandbox", "deploy", *args, "--url", sandbox.url])
    return result.exit_code, result.output


def test_a_deploy_changes_the_version_and_nothing_else(sandbox: RunningSandbox) -> None:
    assert deploy(sandbox, "--commit", NEW) == (0, f"sandbox serves {NEW}\n")
    assert httpx.get(f"{sandbox.url}/api/version").json() == {"commit": NEW}
    assert httpx.get(f"{sandbox.url}/api/health").status_code == 200


def test_a_deploy_with_broken_health_fails_health_at_once(sandbox: RunningSandbox) -> None:
    code, output = deploy(sandbox, "--commit", NEW, "--broken", "health", "--json")
    assert code == 0
    assert json.loads(output)["broken"] == "health"
    assert httpx.get(f"{sandbox.url}/api/health").status_code == 500
    deploy(sandbox, "--commit", "abcd1234")  # the next deploy replaces the breakage
    assert httpx.get(f"{sandbox.url}/api/health").status_code == 200


def test_errors_begin_after_the_bake(sandbox: RunningSandbox) -> None:
    assert deploy(sandbox, "--commit", NEW, "--broken", "errors")[0] == 0

    def failures() -> int:
        return sum(httpx.get(f"{sandbox.url}/sign-in").status_code == 503 for _ in range(40))

    assert failures() == 0
    sandbox.clock.advance(BAKE)
    assert 5 < failures() < 35  # about half, from the sandbox's seeded random


def test_signed_out_redirects_signed_in_pages(sandbox: RunningSandbox) -> None:
    httpx.put(
        f"{sandbox.url}/_sandbox/faults/signed-out", json={"value": "on"}, headers=sandbox.admin
    )
    answer = httpx.get(f"{sandbox.url}/dashboard")
    assert (answer.status_code, answer.headers["location"]) == (307, "/sign-in")
    assert httpx.get(f"{sandbox.url}/sign-in").status_code == 200


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"commit": "$(id)"}, "'$(id)'"),
        ({"commit": "\x1b[31m"}, "\\x1b"),
        ({"commit": "a" * 100_000}, "is not a commit"),
        ({"commit": NEW, "broken": "[/x]"}, "'[/x]'"),
        (["not", "an", "object"], "body must be"),
    ],
)
def test_the_endpoint_refuses_bad_bodies(sandbox: RunningSandbox, body: object, said: str) -> None:
    answer = httpx.put(f"{sandbox.url}/_sandbox/deploy", json=body, headers=sandbox.admin)
    assert answer.status_code == 422
    assert said in answer.json()["error"]
    assert len(answer.text) < 1000
    assert httpx.get(f"{sandbox.url}/api/version").json() == {"commit": sandbox.settings.commit}


def test_the_endpoint_needs_the_token(sandbox: RunningSandbox) -> None:
    answer = httpx.put(f"{sandbox.url}/_sandbox/deploy", json={"commit": NEW})
    assert answer.status_code == 401
    assert deploy(sandbox, "--commit", NEW, "--token", "wrong")[0] == 1
    assert httpx.get(f"{sandbox.url}/api/version").json() == {"commit": sandbox.settings.commit}


@pytest.mark.parametrize(
    "args", [["--commit", "; rm -rf /"], ["--commit", NEW, "--broken", "everything"]]
)
def test_the_command_refuses_bad_input(sandbox: RunningSandbox, args: list[str]) -> None:
    code, output = deploy(sandbox, *args)
    assert code == 2
    assert args[-1] in output
    assert httpx.get(f"{sandbox.url}/api/version").json() == {"commit": sandbox.settings.commit}
