"""Stand-ins for the third parties' hosted status pages (Vercel, Supabase, Clerk, Vapi,
Stripe).

The runbook sends a responder to these pages first ("is it us or them?"); the demo and
the tests cannot reach the real ones, so the sandbox serves each provider's
`/api/v2/summary.json` in Atlassian Statuspage v2's shape, field for field. The
`provider-outage` fault gives a provider a major incident on its main component.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

STATUS_PROVIDERS: dict[str, tuple[str, str]] = {
    # slug: (page name, main component)
    "vercel": ("Vercel", "Edge Network"),
    "supabase": ("Supabase", "Database"),
    "clerk": ("Clerk", "Authentication"),
    "vapi": ("Vapi", "Voice API"),
    "stripe": ("Stripe", "API"),  # payments-down reads it
}
# Fixed timestamps keep the pages byte-stable between requests, as a CDN-served page is.
_CREATED = "2024-01-01T00:00:00.000Z"


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def summary(slug: str, *, outage_since: dt.datetime | None) -> dict[str, Any]:
    """The provider's summary.json: all operational, or one unresolved major incident."""
    name, main = STATUS_PROVIDERS[slug]
    page_id = f"sandbox{slug}"
    component_status = "major_outage" if outage_since else "operational"
    components = [
        _component(page_id, f"{slug}-main", main, component_status, 1),
        _component(page_id, f"{slug}-dashboard", "Dashboard", "operational", 2),
    ]
    incidents = []
    if outage_since is not None:
        when = _stamp(outage_since)
        incident_id = f"{slug}-incident"
        incidents.append(
            {
                "id": incident_id,
                "name": f"{main} unavailable (sandbox fault)",
                "status": "investigating",
                "impact": "major",
                "shortlink": f"https://stspg.io/{slug}",
                "page_id": page_id,
                "created_at": when,
                "updated_at": when,
                "monitoring_at": None,
                "resolved_at": None,
                "incident_updates": [
                    {
                        "id": f"{slug}-update-1",
                        "incident_id": incident_id,
                        "status": "investigating",
                        "body": f"We are investigating errors on {main}.",
                        "display_at": when,
                        "affected_components": [
                            {
                                "code": f"{slug}-main",
                                "name": main,
                                "old_status": "operational",
                                "new_status": "major_outage",
                            }
                        ],
                        "deliver_notifications": True,
                        "created_at": when,
                        "updated_at": when,
                    }
                ],
            }
        )
    return {
        "page": {
            "id": page_id,
            "name": name,
            "url": f"https://status.{slug}.example",
            "time_zone": "Etc/UTC",
            "updated_at": _stamp(outage_since) if outage_since else _CREATED,
        },
        "status": (
            {"indicator": "major", "description": "Partial System Outage"}
            if outage_since
            else {"indicator": "none", "description": "All Systems Operational"}
        ),
        "components": components,
        "incidents": incidents,
        "scheduled_maintenances": [],
    }


def _component(page_id: str, cid: str, name: str, status: str, position: int) -> dict[str, Any]:
    return {
        "id": cid,
        "name": name,
        "status": status,
        "description": None,
        "position": position,
        "group": False,
        "group_id": None,
        "showcase": True,
        "start_date": "2024-01-01",
        "only_show_if_degraded": False,
        "page_id": page_id,
        "created_at": _CREATED,
        "updated_at": _CREATED,
    }
