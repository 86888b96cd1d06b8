"""`statuspage` checks: a provider's hosted status page, in whichever format it uses.

Atlassian Statuspage v2 (`/api/v2/summary.json`: status.indicator, components,
unresolved incidents) is tried first; Instatus pages (`/summary.json`: page.status,
activeIncidents, activeMaintenances) second. The URL may be the page's or one of its API
documents: both lead to the page's root. On a v2 page the check's `components`/`ignore`
choose what counts (`statuspage_v2`); the provider's own incident title is what the
responder sees after the components it names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from opsbook.config.checks import StatuspageCheck
from opsbook.watch.checks import statuspage_v2
from opsbook.watch.checks.fetch import Answer, Unreachable, request
from opsbook.watch.checks.statuspage_v2 import KEPT, LISTED, listing, shown
from opsbook.watch.probe import ProbeContext
from opsbook.watch.result import CheckResult, State

# What a pasted URL may end with: a Statuspage API document or an Instatus summary. The
# page's root is what the formats are tried under (pasted `.../api/v2/summary.json` once
# became `.../api/v2/summary.json/api/v2/summary.json`).
_DOCUMENTS = (
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/incidents.json",
    "/api/v2/scheduled-maintenances.json",
    "/api/v2",
    "/summary.json",
)
_FORMATS = ("/api/v2/summary.json", "/summary.json")


def page_urls(url: str) -> list[str]:
    """The summary URLs to try for a status page given by its page URL or an API URL."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    for document in _DOCUMENTS:
        if path.lower().endswith(document):
            path = path[: -len(document)]
            break
    return [urlunsplit(parts._replace(path=path + f, fragment="")) for f in _FORMATS]


def _instatus(provider: str, data: dict[str, Any]) -> tuple[State, str, dict[str, Any]]:
    status = str(data["page"].get("status", "UP"))
    incidents = _objects(data.get("activeIncidents"))
    maintenances = _objects(data.get("activeMaintenances"))
    state: State = "ok"
    if status != "UP":
        state = "down" if "MAJOROUTAGE" in status and status.startswith("ALL") else "degraded"
    if any(i.get("impact") == "MAJOROUTAGE" for i in incidents):
        state = "down"
    words = "All systems operational" if status == "UP" else shown(status.lower(), 40)
    if incidents:
        first = incidents[0]
        words = (
            f"{shown(first.get('name'))} ({shown(str(first.get('status', '')).lower(), 20)},"
            f" impact {shown(str(first.get('impact', '')).lower(), 20)})"
        )
    elif maintenances and status != "UP":
        words = f"maintenance: {shown(maintenances[0].get('name'))}"
    details = {
        "format": "instatus",
        "status": shown(status, 40),
        "incidents": [shown(i.get("name")) for i in incidents[:KEPT]],
    }
    return state, f"{provider}: {words}", details


def _objects(found: Any) -> list[dict[str, Any]]:
    """The entries of a list that are objects; a page of another shape is read, not fatal."""
    return [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []


@dataclass(frozen=True)
class Unsupported:
    """`components:`/`ignore:` on a page whose summary lists no components (Instatus)."""

    provider: str


Found = tuple[State, str, dict[str, Any]] | statuspage_v2.Unknown | Unsupported


def interpret(
    provider: str, data: Any, *, wanted: Sequence[str] = (), ignore: Sequence[str] = ()
) -> Found | None:
    """What a summary says for the selected components; None for an unknown format."""
    if (
        isinstance(data, dict)
        and isinstance(data.get("status"), dict)
        and "indicator" in data["status"]
    ):
        return statuspage_v2.interpret(provider, data, wanted=wanted, ignore=ignore)
    if isinstance(data, dict) and isinstance(data.get("page"), dict) and "status" in data["page"]:
        if wanted or ignore:
            return Unsupported(provider)
        return _instatus(provider, data)
    return None


async def _get(ctx: ProbeContext, url: str, timeout: float) -> Answer:
    return await request(ctx, "GET", url, timeout=timeout, headers={"Accept": "application/json"})


async def run(check: StatuspageCheck, ctx: ProbeContext) -> CheckResult:
    now = ctx.clock.now()
    timeout = check.timeout.total_seconds()
    tried = []
    for url in page_urls(check.url):
        tried.append(url)
        try:
            answer = await _get(ctx, url, timeout)
        except Unreachable as exc:
            return _error(check, f"{check.provider} status page: {exc}", now)
        if answer.status == 404:
            continue
        try:
            data = answer.json()
        except ValueError:
            message = f"{check.provider} status page: {url} did not answer JSON ({answer.status})"
            return _error(check, message, now, answer.elapsed_ms)
        found = interpret(check.provider, data, wanted=check.components, ignore=check.ignore)
        if found is None:
            continue
        if isinstance(found, statuspage_v2.Unknown | Unsupported):
            return _error(check, _config_error(check, found), now, answer.elapsed_ms)
        state, summary, details = found
        return CheckResult(
            check.name, "statuspage", state, summary, now, answer.elapsed_ms, details=details
        )
    where = ", ".join(tried)
    return _error(check, f"{check.provider} status page: no known format at {where}", now)


def _error(
    check: StatuspageCheck, summary: str, now: dt.datetime, elapsed_ms: float | None = None
) -> CheckResult:
    return CheckResult(check.name, "statuspage", "error", summary, now, elapsed_ms)


def _config_error(check: StatuspageCheck, found: statuspage_v2.Unknown | Unsupported) -> str:
    """A configured name the page does not have, said with the names it does have: the
    check cannot know them before it reads the page."""
    where = f"config error in check {shown(check.name)!r}"
    if isinstance(found, Unsupported):
        return (
            f"{where}: components/ignore select Statuspage components, and"
            f" {shown(check.provider)}'s page lists none (Instatus format)"
        )
    missing = ", ".join(repr(shown(name)) for name in found.names)
    has = listing(found.page_names, LISTED) if found.page_names else "no components"
    return (
        f"{where}: {found.field}: {shown(check.provider)}'s page has no component"
        f" {missing}; it has: {has}"
    )
