"""`version` checks: the deployed commit is the one we expect.

The expected commit is the check's own `expected`, else `app.expected_commit`, else the
last deploy `opsbook deploy verify` passed in the check's `env`: after a verified deploy
the check follows it without anyone editing the config."""

from __future__ import annotations

import asyncio
from typing import Any

from opsbook.config.checks import VersionCheck
from opsbook.deploy.records import last_verified_commit
from opsbook.watch.checks.fetch import Answer, Unreachable, request, short
from opsbook.watch.probe import ProbeContext
from opsbook.watch.result import CheckResult


def _field(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def reported_commit(answer: Answer, field: str) -> str | None:
    """The commit a version endpoint's answer names at `field`; None when it names none."""
    try:
        commit = _field(answer.json(), field)
    except ValueError:
        return None
    if answer.status != 200 or not isinstance(commit, str) or not commit:
        return None
    return commit


def same_commit(deployed: str, expected: str) -> bool:
    """Short and full SHAs both name a commit: compare on the shorter one's length."""
    size = min(len(deployed), len(expected))
    return deployed[:size].lower() == expected[:size].lower()


async def expected_commit(check: VersionCheck, ctx: ProbeContext) -> str | None:
    explicit = check.expected or ctx.config.app.expected_commit
    if explicit or ctx.store is None:
        return explicit
    store = ctx.store

    def read() -> str | None:
        with store.reading() as session:
            return last_verified_commit(session, env=check.env)

    return await asyncio.to_thread(read)


async def run(check: VersionCheck, ctx: ProbeContext) -> CheckResult:
    now = ctx.clock.now()
    try:
        answer = await request(ctx, "GET", check.url, timeout=check.timeout.total_seconds())
    except Unreachable as exc:
        return CheckResult(check.name, "version", "down", f"GET {check.url}: {exc}", now)
    commit = reported_commit(answer, check.field)
    if commit is None:
        return CheckResult(
            check.name,
            "version",
            "down",
            f"GET {check.url}: no {check.field!r} in the answer ({answer.status}:"
            f" {short(answer.text, 80)})",
            now,
            answer.elapsed_ms,
        )
    expected = await expected_commit(check, ctx)
    details = {"commit": commit, "expected": expected}
    if not expected:
        return CheckResult(
            check.name,
            "version",
            "ok",
            f"deployed commit {commit[:12]} (nothing to compare with)",
            now,
            answer.elapsed_ms,
            details=details,
        )
    if not same_commit(commit, expected):
        return CheckResult(
            check.name,
            "version",
            "down",
            f"deployed commit {commit[:12]} is not the expected {expected[:12]}",
            now,
            answer.elapsed_ms,
            details=details,
        )
    return CheckResult(
        check.name,
        "version",
        "ok",
        f"deployed commit {commit[:12]} as expected",
        now,
        answer.elapsed_ms,
        details=details,
    )
