"""What the app serves now, asked at its version endpoint (the same question the version
stage asks), and waiting until it serves a commit after a promote."""

from __future__ import annotations

import datetime as dt

from opsbook.clock import Sleep
from opsbook.config.models import AppConfig
from opsbook.deploy.stages import TIMEOUT, Stage
from opsbook.watch.checks.fetch import Unreachable, request, short
from opsbook.watch.probe import ProbeContext

POLL = dt.timedelta(seconds=5)


def same_commit(one: str, other: str) -> bool:
    """Short and full ids of one commit match (4f2c9e1 and 4f2c9e1a7b...)."""
    a, b = one.lower(), other.lower()
    return a.startswith(b) or b.startswith(a)


async def served_commit(probe: ProbeContext, app: AppConfig, url: str) -> str | None:
    """The commit the version endpoint reports; None when it does not answer one."""
    try:
        answer = await request(
            probe, "GET", url + app.version_path, timeout=TIMEOUT.total_seconds()
        )
        body = answer.json() if answer.status == 200 else None
    except (Unreachable, ValueError):
        return None
    commit = body.get("commit") if isinstance(body, dict) else None
    return commit if isinstance(commit, str) and commit.isascii() and commit.isalnum() else None


async def await_commit(
    probe: ProbeContext,
    app: AppConfig,
    *,
    url: str,
    commit: str,
    wait: dt.timedelta,
    sleep: Sleep,
    said: str,
) -> Stage:
    """The `promote` stage: passed once the app serves `commit`, failed after `wait`."""
    started = probe.clock.now()
    while True:
        now_serving = await served_commit(probe, app, url)
        now = probe.clock.now()
        if now_serving is not None and same_commit(now_serving, commit):
            return Stage("promote", "passed", started, now, short(f"{said}; serving {commit[:12]}"))
        if now - started >= wait:
            seen = now_serving[:12] if now_serving else "no commit"
            return Stage(
                "promote",
                "failed",
                started,
                now,
                short(
                    f"{said}; still not serving {commit[:12]} after {wait}: the app reports {seen}",
                    500,
                ),
            )
        await sleep(min(POLL, wait).total_seconds())
