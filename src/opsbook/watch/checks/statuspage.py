"""`statuspage` checks: a provider's hosted status page, in whichever format it uses.

Atlassian Statuspage v2 (`/api/v2/summary.json`: status.indicator, components,
unresolved incidents) is tried first; Instatus pages (`/summary.json`: page.status,
activeIncidents, activeMaintenances) second. The provider's own incident title is
what the responder sees.
"""

from __future__ import annotations

from typing import Any

from opsbook.config.models import StatuspageCheck
from opsbook.watch.checks.fetch import Answer, Unreachable, request
from opsbook.watch.probe import ProbeContext
from opsbook.watch.result import CheckResult, State

_INDICATOR: dict[str, State] = {
    "none": "ok",
    "minor": "degraded",
    "major": "down",
    "critical": "down",
    "maintenance": "degraded",
}
_COMPONENT_DOWN = {"major_outage"}
_COMPONENT_DEGRADED = {"degraded_performance", "partial_outage", "under_maintenance"}


def _statuspage(provider: str, data: dict[str, Any]) -> tuple[State, str, dict[str, Any]]:
    indicator = str(data["status"].get("indicator", "none"))
    state = _INDICATOR.get(indicator, "degraded")
    components = data.get("components") or []
    broken = [c for c in components if c.get("status") in _COMPONENT_DOWN | _COMPONENT_DEGRADED]
    if any(c.get("status") in _COMPONENT_DOWN for c in broken):
        state = "down"
    elif broken and state == "ok":
        state = "degraded"
    incidents = [i for i in data.get("incidents") or [] if i.get("status") != "resolved"]
    words = data["status"].get("description") or indicator
    if incidents:
        first = incidents[0]
        words = f"{first.get('name')} ({first.get('status')}, impact {first.get('impact')})"
    elif broken:
        words = ", ".join(f"{c.get('name')}: {c.get('status')}" for c in broken[:3])
    details = {
        "format": "statuspage",
        "indicator": indicator,
        "incidents": [i.get("name") for i in incidents],
        "components": {c.get("name"): c.get("status") for c in broken},
    }
    return state, f"{provider}: {words}", details


def _instatus(provider: str, data: dict[str, Any]) -> tuple[State, str, dict[str, Any]]:
    status = str(data["page"].get("status", "UP"))
    incidents = data.get("activeIncidents") or []
    maintenances = data.get("activeMaintenances") or []
    state: State = "ok"
    if status != "UP":
        state = "down" if "MAJOROUTAGE" in status and status.startswith("ALL") else "degraded"
    if any(i.get("impact") == "MAJOROUTAGE" for i in incidents):
        state = "down"
    words = "All systems operational" if status == "UP" else status.lower()
    if incidents:
        first = incidents[0]
        words = (
            f"{first.get('name')} ({str(first.get('status', '')).lower()},"
            f" impact {str(first.get('impact', '')).lower()})"
        )
    elif maintenances and status != "UP":
        words = f"maintenance: {maintenances[0].get('name')}"
    details = {
        "format": "instatus",
        "status": status,
        "incidents": [i.get("name") for i in incidents],
    }
    return state, f"{provider}: {words}", details


def interpret(provider: str, data: Any) -> tuple[State, str, dict[str, Any]] | None:
    if (
        isinstance(data, dict)
        and isinstance(data.get("status"), dict)
        and "indicator" in data["status"]
    ):
        return _statuspage(provider, data)
    if isinstance(data, dict) and isinstance(data.get("page"), dict) and "status" in data["page"]:
        return _instatus(provider, data)
    return None


async def _get(ctx: ProbeContext, url: str, timeout: float) -> Answer:
    return await request(ctx, "GET", url, timeout=timeout, headers={"Accept": "application/json"})


async def run(check: StatuspageCheck, ctx: ProbeContext) -> CheckResult:
    now = ctx.clock.now()
    base = check.url.rstrip("/")
    timeout = check.timeout.total_seconds()
    tried = []
    for path in ("/api/v2/summary.json", "/summary.json"):
        url = base + path
        tried.append(url)
        try:
            answer = await _get(ctx, url, timeout)
        except Unreachable as exc:
            return CheckResult(
                check.name, "statuspage", "error", f"{check.provider} status page: {exc}", now
            )
        if answer.status == 404:
            continue
        try:
            data = answer.json()
        except ValueError:
            return CheckResult(
                check.name,
                "statuspage",
                "error",
                f"{check.provider} status page: {url} did not answer JSON ({answer.status})",
                now,
                answer.elapsed_ms,
            )
        found = interpret(check.provider, data)
        if found is None:
            continue
        state, summary, details = found
        return CheckResult(
            check.name, "statuspage", state, summary, now, answer.elapsed_ms, details=details
        )
    return CheckResult(
        check.name,
        "statuspage",
        "error",
        f"{check.provider} status page: no known format at {', '.join(tried)}",
        now,
    )
