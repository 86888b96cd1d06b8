"""Deploy records as other domains read them: the `version` check follows the last
deploy verified in its env, unless the config names a commit (on both store backends)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.config.checks import VersionCheck
from opsbook.deploy.models import Deploy
from opsbook.deploy.service import list_deploys
from opsbook.store import Store
from opsbook.watch.checks import version
from opsbook.watch.probe import ProbeContext, new_session
from opsbook.watch.result import CheckResult
from tests.conftest import T0, RunningSandbox
from tests.deploy.conftest import NEW, Desk

OLD = "4f2c9e1a7b3d5c8e9f0a1b2c3d4e5f6a7b8c9d0e"  # what the sandbox serves at first


def _add(store: Store, commit: str, env: str, verdict: str, minutes: int) -> None:
    at = T0 + dt.timedelta(minutes=minutes)
    with store.session() as session:
        session.add(
            Deploy(
                kind="verify",
                commit=commit,
                env=env,
                actor="ana",
                url="http://127.0.0.1",
                verdict=verdict,
                failed_stage=None if verdict == "passed" else "health",
                stages=[{"name": "health", "saw": "500"}],
                started_at=at,
                ended_at=at,
            )
        )


def _check(store: Store, url: str, clock: FrozenClock, **fields: str) -> CheckResult:
    check = VersionCheck.model_validate({"kind": "version", "name": "v", "url": url, **fields})

    async def go() -> CheckResult:
        async with new_session() as session:
            ctx = ProbeContext(session=session, config=Config(), clock=clock, store=store)
            return await version.run(check, ctx)

    return asyncio.run(go())


def test_the_version_check_expects_the_last_verified_deploy(
    store: Store, sandbox: RunningSandbox, clock: FrozenClock
) -> None:
    url = f"{sandbox.url}/api/version"
    assert _check(store, url, clock).summary.endswith("(nothing to compare with)")

    _add(store, OLD, "production", "passed", 0)
    _add(store, NEW, "production", "failed", 10)  # failed: not what should be serving
    _add(store, NEW, "staging", "passed", 20)  # another env
    assert _check(store, url, clock).state == "ok"
    assert _check(store, url, clock, env="staging").state == "down"

    _add(store, NEW, "production", "passed", 30)
    down = _check(store, url, clock)
    assert down.state == "down"
    assert down.details == {"commit": OLD, "expected": NEW}
    # An explicit expected commit still wins.
    assert _check(store, url, clock, expected=OLD[:7]).state == "ok"


def test_deploy_list_is_newest_first_and_names_the_failing_stage(
    store: Store, tmp_path: Path
) -> None:
    _add(store, OLD, "production", "passed", 0)
    _add(store, NEW, "production", "failed", 10)

    rows = list_deploys(store=store)

    assert [(r.commit, r.verdict, r.failed_stage, r.saw) for r in rows] == [
        (NEW, "failed", "health", "500"),
        (OLD, "passed", None, None),
    ]


def test_opsbook_check_follows_a_verified_deploy(desk: Desk) -> None:
    """End to end: verify a deploy, then `opsbook check` expects its commit."""
    url = f"{desk.sandbox.url}/api/version"
    extra = f"checks:\n  - name: version\n    kind: version\n    url: {url}\n"
    desk.config.write_text(desk.config.read_text() + extra)
    desk.deploy(NEW)
    assert desk.opsbook("deploy", "verify", "--commit", NEW, "--watch", "0").exit_code == 0

    desk.deploy(OLD)  # someone ships the old build again, unverified
    result = desk.opsbook("check", "version", "--json")

    assert result.exit_code == 1, result.output
    [seen] = json.loads(result.stdout)
    assert seen["details"] == {"commit": OLD, "expected": NEW}
