"""`http` checks: status, JSON fields by path, body text and response time."""

from __future__ import annotations

from typing import Any

from opsbook import expressions
from opsbook.config.checks import HttpCheck
from opsbook.watch.checks.fetch import Unreachable, request, short
from opsbook.watch.probe import ProbeContext
from opsbook.watch.result import CheckResult


def problems(check: HttpCheck, status: int, text: str, parsed: Any, elapsed_ms: float) -> list[str]:
    expect = check.expect
    found = []
    wanted = expect.status if isinstance(expect.status, list) else [expect.status]
    if status not in wanted:
        found.append(f"expected status {' or '.join(map(str, wanted))}, got {status}")
    for condition in expect.json_:
        if not isinstance(parsed, dict):
            found.append(f"expected JSON for {condition!r}, got {short(text, 60)!r}")
            break
        try:
            if not expressions.evaluate(condition, {**parsed, "json": parsed}):
                found.append(f"expected {condition}, got {short(text, 80)}")
        except expressions.ExpressionError as exc:
            found.append(f"{condition}: {exc}")
    if expect.body_contains is not None and expect.body_contains not in text:
        found.append(f"body does not contain {expect.body_contains!r}")
    limit = expect.max_response_time
    if limit is not None and elapsed_ms > limit.total_seconds() * 1000:
        found.append(f"took {elapsed_ms:.0f} ms, more than {limit.total_seconds() * 1000:.0f} ms")
    return found


async def run(check: HttpCheck, ctx: ProbeContext) -> CheckResult:
    headers = {k: v.reveal() for k, v in check.headers.items()}
    label = f"{check.method} {check.url}"
    now = ctx.clock.now()
    try:
        answer = await request(
            ctx,
            check.method,
            check.url,
            timeout=check.timeout.total_seconds(),
            headers=headers,
            body=check.body,
        )
    except Unreachable as exc:
        return CheckResult(check.name, "http", "down", f"{label}: {exc}", now, metrics={"up": 0.0})
    parsed: Any = None
    if check.expect.json_:
        try:
            parsed = answer.json()
        except ValueError:
            parsed = None
    found = problems(check, answer.status, answer.text, parsed, answer.elapsed_ms)
    metrics = {
        "up": 0.0 if found else 1.0,
        "http_latency_seconds": answer.elapsed_ms / 1000,
        "status": float(answer.status),
    }
    if found:
        return CheckResult(
            check.name,
            "http",
            "down",
            f"{label}: {'; '.join(found)}",
            now,
            answer.elapsed_ms,
            metrics,
            {"status": answer.status},
        )
    return CheckResult(
        check.name,
        "http",
        "ok",
        f"{label}: {answer.status} in {answer.elapsed_ms:.0f} ms",
        now,
        answer.elapsed_ms,
        metrics,
        {"status": answer.status},
    )
