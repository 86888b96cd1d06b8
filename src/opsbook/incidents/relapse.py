"""A relapse: the fix did not hold. An alert firing on an incident in monitoring sends it
back to investigating, as the seed's runbook does by hand ("if issues recur, continue
investigating"), and it must be owned again, as a new fire would be.

The relapse is a status event (monitoring -> investigating) marked `relapse`; it starts
escalation again (oncall/escalation.py) and the acknowledge clock (clocks.py). Owning it
again is an `acknowledged` event: the status stays investigating (the lifecycle has no
way back to acknowledged), and any later status move owns it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.incidents.lifecycle import Status
from opsbook.incidents.models import IncidentEvent
from opsbook.incidents.records import get, log_event, timeline

ACKNOWLEDGED = "acknowledged"


def is_relapse(event: IncidentEvent) -> bool:
    return event.kind == "status" and bool((event.data or {}).get("relapse"))


def relapse(
    session: Session,
    *,
    incident_id: int,
    reason: str,
    actor: str,
    clock: Clock,
    data: dict[str, Any] | None = None,
) -> IncidentEvent | None:
    """Move a monitoring incident back to investigating, `reason` on the timeline; None when
    it is not monitoring. The status is read under the row lock: of two processes routing
    the same firing, the second finds it investigating and moves nothing."""
    incident = get(session, incident_id=incident_id, lock=True)
    if incident.status != Status.MONITORING.value:
        return None
    incident.status = Status.INVESTIGATING.value
    return log_event(
        session,
        incident=incident,
        kind="status",
        actor=actor,
        clock=clock,
        text=reason,
        data={
            "from": Status.MONITORING.value,
            "to": Status.INVESTIGATING.value,
            "relapse": True,
            **(data or {}),
        },
    )


def awaits_acknowledgement(events: Sequence[IncidentEvent]) -> bool:
    """Whether the latest relapse is still unowned: no acknowledgement and no status move
    since."""
    waiting = False
    for event in events:
        if event.kind == "status":
            waiting = is_relapse(event)
        elif event.kind == ACKNOWLEDGED:
            waiting = False
    return waiting


def acknowledge(
    session: Session,
    *,
    incident_id: int,
    actor: str,
    clock: Clock,
    message: str | None = None,
    data: dict[str, Any] | None = None,
) -> IncidentEvent | None:
    """Own a relapsed incident (the caller holds its row lock); None when no relapse
    awaits an acknowledgement."""
    if not awaits_acknowledgement(timeline(session, incident_id=incident_id)):
        return None
    return log_event(
        session,
        incident=get(session, incident_id=incident_id),
        kind=ACKNOWLEDGED,
        actor=actor,
        clock=clock,
        text=(message or "").strip() or "acknowledged the relapse",
        data={"relapse": True, **(data or {})},
    )
