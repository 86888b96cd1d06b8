"""`version` checks: the deployed commit is the one we expect."""

from __future__ import annotations

from typing import Any

from opsbook.config.models import VersionCheck
from opsbook.watch.checks.fetch import Unreachable, request, short
from opsbook.watch.probe import ProbeContext
from opsbook.watch.result import CheckResult


def _field(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


async def run(check: VersionCheck, ctx: ProbeContext) -> CheckResult:
    now = ctx.clock.now()
    try:
        answer = await request(ctx, "GET", check.url, timeout=check.timeout.total_seconds())
    except Unreachable as exc:
        return CheckResult(check.name, "version", "down", f"GET {check.url}: {exc}", now)
    try:
        commit = _field(answer.json(), check.field)
    except ValueError:
        commit = None
    if answer.status != 200 or not isinstance(commit, str) or not commit:
        return CheckResult(
            check.name,
            "version",
            "down",
            f"GET {check.url}: no {check.field!r} in the answer ({answer.status}:"
            f" {short(answer.text, 80)})",
            now,
            answer.elapsed_ms,
        )
    expected = check.expected or ctx.config.app.expected_commit
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
    # Short and full SHAs both name a commit: compare on the shorter one's length.
    size = min(len(commit), len(expected))
    if commit[:size].lower() != expected[:size].lower():
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
