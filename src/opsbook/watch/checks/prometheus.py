"""`prometheus` checks: the value of a PromQL instant query (the app's own metrics)."""

from __future__ import annotations

from urllib.parse import urlencode

from opsbook.config.models import PrometheusCheck
from opsbook.watch.checks.fetch import Unreachable, request, short
from opsbook.watch.probe import ProbeContext
from opsbook.watch.result import CheckResult


async def run(check: PrometheusCheck, ctx: ProbeContext) -> CheckResult:
    now = ctx.clock.now()
    url = f"{check.url.rstrip('/')}/api/v1/query?{urlencode({'query': check.query})}"
    try:
        answer = await request(ctx, "GET", url, timeout=check.timeout.total_seconds())
        data = answer.json()
    except Unreachable as exc:
        return CheckResult(check.name, "prometheus", "error", f"Prometheus: {exc}", now)
    except ValueError:
        return CheckResult(
            check.name,
            "prometheus",
            "error",
            f"Prometheus answered {answer.status} without JSON",
            now,
        )
    if not isinstance(data, dict) or data.get("status") != "success":
        error = data.get("error") if isinstance(data, dict) else short(answer.text)
        return CheckResult(
            check.name,
            "prometheus",
            "error",
            f"Prometheus query {check.query!r} failed: {error}",
            now,
            answer.elapsed_ms,
        )
    result = data.get("data", {}).get("result")
    kind = data.get("data", {}).get("resultType")
    if kind == "scalar" and isinstance(result, list):
        value = result[1]
    elif kind == "vector" and result:
        value = result[0]["value"][1]
    else:
        return CheckResult(
            check.name,
            "prometheus",
            "degraded",
            f"{check.metric}: the query returned no data",
            now,
            answer.elapsed_ms,
        )
    number = float(value)
    return CheckResult(
        check.name,
        "prometheus",
        "ok",
        f"{check.metric} = {number:g}",
        now,
        answer.elapsed_ms,
        {check.metric: number},
    )
