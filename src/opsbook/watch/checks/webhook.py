"""`webhook` checks, the runbook's probe: POST a test payload; 200 or 401 means deployed
and guarding its signature, 404 means not deployed."""

from __future__ import annotations

from opsbook.config.checks import WebhookCheck
from opsbook.watch.checks.fetch import Unreachable, request, short
from opsbook.watch.probe import ProbeContext
from opsbook.watch.result import CheckResult


async def run(check: WebhookCheck, ctx: ProbeContext) -> CheckResult:
    now = ctx.clock.now()
    label = f"POST {check.url}"
    try:
        answer = await request(
            ctx, "POST", check.url, timeout=check.timeout.total_seconds(), payload=check.payload
        )
    except Unreachable as exc:
        return CheckResult(check.name, "webhook", "down", f"{label}: {exc}", now)
    details = {"status": answer.status}
    if answer.status in (200, 401):
        meaning = "accepted" if answer.status == 200 else "rejected the unsigned test (401)"
        return CheckResult(
            check.name,
            "webhook",
            "ok",
            f"{label}: deployed, {meaning}",
            now,
            answer.elapsed_ms,
            details=details,
        )
    if answer.status == 404:
        return CheckResult(
            check.name,
            "webhook",
            "down",
            f"{label}: 404, the webhook endpoint is not deployed",
            now,
            answer.elapsed_ms,
            details=details,
        )
    return CheckResult(
        check.name,
        "webhook",
        "down",
        f"{label}: answered {answer.status} ({short(answer.text, 80)})",
        now,
        answer.elapsed_ms,
        details=details,
    )
