"""`prometheus` checks: a PromQL instant query, judged series by series (the app's own
metrics, or every target's `up`).

A query often returns several series; the first one must not speak for the others (`up`
read 1 while a target was down). Each series gets a state and the worst decides, named
by its labels as Prometheus writes them (`up{instance="a:9100"} = 0`), unless the check
asks for one `aggregate` of them. NaN and infinities are never ok: `0/0` is no measurement.
"""

from __future__ import annotations

import datetime as dt
import math
from urllib.parse import urlencode

import aiohttp

from opsbook.config.checks import PrometheusCheck
from opsbook.watch.checks.fetch import Unreachable, request, short
from opsbook.watch.checks.promql import BadAnswer, Series, aggregate, series_of, shown
from opsbook.watch.levels import level_of
from opsbook.watch.probe import ProbeContext
from opsbook.watch.result import CheckResult, State

# How bad a series is: a measured outage outranks a value that could not be judged.
_RANK: dict[State, int] = {"ok": 0, "degraded": 1, "error": 2, "down": 3}
_NAMED = 3  # failing series named in the summary; the rest are counted
_DETAILED = 10  # series listed in the result's details, the worst first


async def run(check: PrometheusCheck, ctx: ProbeContext) -> CheckResult:
    now = ctx.clock.now()
    url = f"{check.url.rstrip('/')}/api/v1/query?{urlencode({'query': check.query})}"

    def result(state: State, summary: str, elapsed: float | None = None) -> CheckResult:
        return CheckResult(check.name, "prometheus", state, summary, now, elapsed)

    try:
        answer = await request(
            ctx, "GET", url, timeout=check.timeout.total_seconds(), headers=auth_headers(check)
        )
    except Unreachable as exc:
        return result("error", f"Prometheus: {exc}")
    try:
        data = answer.json()
    except ValueError as exc:
        return result("error", f"Prometheus answered {answer.status} without JSON ({exc})")
    if not isinstance(data, dict) or data.get("status") != "success":
        error = data.get("error") if isinstance(data, dict) else None
        # Not Prometheus's own error shape (a 404 page with JSON, a proxy): say what came.
        said = str(error) if error else f"HTTP {answer.status}: {answer.text}"
        failed = f"Prometheus query {check.query!r} failed: {short(said)}"
        return result("error", failed, answer.elapsed_ms)
    try:
        found = series_of(data.get("data"), check.metric)
    except BadAnswer as exc:
        return result("error", f"{check.metric}: {exc}", answer.elapsed_ms)
    if not found:
        empty = f"{check.metric}: the query returned no data"
        return result(check.on_empty, empty, answer.elapsed_ms)
    if check.aggregate is not None:
        found = [aggregate(check.aggregate, found, check.metric)]
    return judge(check, found, at=now, latency_ms=answer.elapsed_ms)


def auth_headers(check: PrometheusCheck) -> dict[str, str]:
    """The configured headers and credential, revealed only here, on their way out."""
    headers = {name: value.reveal() for name, value in check.headers.items()}
    if check.bearer_token:
        headers["Authorization"] = f"Bearer {check.bearer_token.reveal()}"
    if check.basic_auth is not None:
        auth = check.basic_auth
        headers["Authorization"] = aiohttp.encode_basic_auth(auth.username, auth.password.reveal())
    return headers


def state_of(check: PrometheusCheck, value: float) -> State:
    """One series' state: NaN and infinities are errors, then the thresholds decide. With
    `on_empty: ok` and no thresholds every series is down: the query lists what is wrong."""
    if not math.isfinite(value):
        return "error"
    level = level_of(check, value)
    if level is not None:
        return "down" if level == "crit" else "degraded"
    firing = check.on_empty == "ok" and check.warn is None and check.crit is None
    return "down" if firing else "ok"


def judge(
    check: PrometheusCheck, found: list[Series], *, at: dt.datetime, latency_ms: float | None
) -> CheckResult:
    """The worst series decides the state; the summary names the failing ones."""
    # Worst first; among equals the most extreme in the thresholds' direction.
    sign = -1 if check.direction == "above" else 1
    states = {id(s): state_of(check, s.value) for s in found}
    ordered = sorted(
        found,
        key=lambda s: (-_RANK[states[id(s)]], sign * s.value if math.isfinite(s.value) else 0),
    )
    worst = ordered[0]
    state = states[id(worst)]
    failing = [s for s in ordered if states[id(s)] != "ok"]
    if failing:
        summary = _failing_summary(check, failing, states, total=len(found))
    elif len(found) == 1:
        summary = f"{worst.name} = {shown(worst.value)}"
    else:
        extreme = "highest" if check.direction == "above" else "lowest"
        summary = f"{len(found)} series ok; {extreme} {worst.name} = {shown(worst.value)}"
    metrics = {check.metric: worst.value} if math.isfinite(worst.value) else {}
    details = {
        "series": [
            {"labels": s.labels, "value": s.value, "state": states[id(s)]}
            for s in ordered[:_DETAILED]
        ],
        "count": len(found),
    }
    return CheckResult(check.name, "prometheus", state, summary, at, latency_ms, metrics, details)


def _failing_summary(
    check: PrometheusCheck, failing: list[Series], states: dict[int, State], *, total: int
) -> str:
    named = "; ".join(
        f"{s.name} = {shown(s.value)}{_why(check, s.value, states[id(s)])}"
        for s in failing[:_NAMED]
    )
    more = f"; and {len(failing) - _NAMED} more" if len(failing) > _NAMED else ""
    count = f" ({len(failing)} of {total} series failing)" if total > 1 else ""
    return f"{named}{more}{count}"


def _why(check: PrometheusCheck, value: float, state: State) -> str:
    if math.isnan(value):
        return " (not a number: no measurement, as 0/0 gives)"
    if math.isinf(value):
        return " (infinite: no measurement, as x/0 gives)"
    limit = check.crit if state == "down" else check.warn
    if limit is None:
        return " (firing: on_empty is ok, so every series returned is a failure)"
    return f" ({check.direction} {'crit' if state == 'down' else 'warn'} {limit:g})"
