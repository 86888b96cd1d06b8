"""The demo's own status page, read the way a customer's widget reads it: the Statuspage
v2 summary served by opsbook, one line per change the viewer should notice."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from opsbook.config import Config
from opsbook.registry import default_registry
from opsbook.runbooks import loader as runbook_loader

OPERATIONAL = "All Systems Operational"


def investigating_message(config: Config) -> str:
    """The seed's "Investigating" words, as the p0-outage runbook's status page step posts
    them (one text, kept in the runbook)."""
    source = runbook_loader.find(config, "p0-outage")
    runbook = runbook_loader.load_runbook(source.path, registry=default_registry())
    step = next(s for s in runbook.steps if s.id == "status_page")
    return str(step.with_["message"])


def wait_for_line(base_url: str, *, showing: str, timeout: float = 30) -> str:
    """ "status page: <description>[ — <latest public update>]" once the summary shows
    `showing` (a description, or a public update's text)."""
    deadline = time.monotonic() + timeout
    while True:
        description, update = asyncio.run(_summary(base_url))
        if showing in (description, update):
            return f"status page: {description}" + (f" — {update}" if update else "")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the status page did not show {showing!r} in {timeout:g}s")
        time.sleep(0.2)


async def _summary(base_url: str) -> tuple[str, str | None]:
    """The page's description and its newest unresolved incident's latest update."""
    timeout = aiohttp.ClientTimeout(total=5)
    url = f"{base_url}/api/v2/summary.json"
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
        data: dict[str, Any] = await response.json()
    incidents = data.get("incidents") or []
    updates = (incidents[0].get("incident_updates") or []) if incidents else []
    return str(data["status"]["description"]), (str(updates[0]["body"]) if updates else None)
