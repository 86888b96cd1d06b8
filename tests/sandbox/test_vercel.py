"""The sandbox's fake Vercel API follows FORMATS.md field for field: a deploy is listed as
a READY production deployment; a promote (202) switches what the sandbox serves."""

from __future__ import annotations

import httpx

from opsbook.sandbox.client import deploy_call
from tests.conftest import RunningSandbox

API = "/_vercel"
NEW = "9b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d"
QUERY = {"projectId": "prj_sandbox", "target": "production", "state": "READY"}


def _auth(sandbox: RunningSandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {sandbox.settings.vercel_token}"}


def test_each_deploy_is_a_ready_production_deployment_newest_first(
    sandbox: RunningSandbox,
) -> None:
    deploy_call(sandbox.url, sandbox.settings.admin_token, NEW, "health")
    answer = httpx.get(f"{sandbox.url}{API}/v6/deployments", params=QUERY, headers=_auth(sandbox))
    assert answer.status_code == 200
    newest, first = answer.json()["deployments"]
    assert newest["meta"]["githubCommitSha"] == NEW
    assert first["meta"]["githubCommitSha"] == sandbox.settings.commit
    assert newest["created"] > first["created"]
    for doc in (newest, first):
        assert (doc["state"], doc["target"]) == ("READY", "production")
        assert doc["uid"].startswith("dpl_") and doc["url"].endswith(".vercel.app")


def test_a_promote_switches_what_the_sandbox_serves(sandbox: RunningSandbox) -> None:
    deploy_call(sandbox.url, sandbox.settings.admin_token, NEW, "health")
    listed = httpx.get(
        f"{sandbox.url}{API}/v6/deployments", params=QUERY, headers=_auth(sandbox)
    ).json()["deployments"]
    old = listed[-1]["uid"]
    assert httpx.get(f"{sandbox.url}/api/health").status_code == 500

    promoted = httpx.post(
        f"{sandbox.url}{API}/v10/projects/prj_sandbox/promote/{old}", headers=_auth(sandbox)
    )

    assert promoted.status_code == 202
    assert httpx.get(f"{sandbox.url}/api/version").json()["commit"] == sandbox.settings.commit
    assert httpx.get(f"{sandbox.url}/api/health").status_code == 200


def test_tokens_and_unknown_ids_are_refused_like_vercel(sandbox: RunningSandbox) -> None:
    url = f"{sandbox.url}{API}/v6/deployments"
    assert httpx.get(url, params=QUERY).status_code == 401
    wrong = httpx.get(url, params=QUERY, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json()["error"]["invalidToken"] is True
    other = httpx.get(url, params={**QUERY, "projectId": "prj_x"}, headers=_auth(sandbox))
    assert other.status_code == 404
    promote = f"{sandbox.url}{API}/v10/projects/prj_sandbox/promote/dpl_nosuch"
    assert httpx.post(promote, headers=_auth(sandbox)).status_code == 404
