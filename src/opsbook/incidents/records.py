"""An incident's records: its row, read or locked for a change, and its timeline, written
only through `log_event` and read back in the order things happened."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config.secrets import mask_text, mask_value
from opsbook.incidents import hooks
from opsbook.incidents.errors import NoIncident
from opsbook.incidents.models import Incident, IncidentEvent


def get(session: Session, *, incident_id: int, lock: bool = False) -> Incident:
    """The incident, or NoIncident (an IncidentNotFound).

    Every change passes `lock=True` (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
    writer lock is taken at BEGIN), so two responders acting at once serialise: the
    second sees the first one's move instead of overwriting it."""
    query = select(Incident).where(Incident.id == incident_id)
    if lock:
        query = query.with_for_update()
    incident = session.scalars(query).first()
    if incident is None:
        raise NoIncident(f"no incident #{incident_id}")
    return incident


def log_event(
    session: Session,
    *,
    incident: Incident,
    kind: str,
    actor: str,
    clock: Clock,
    text: str = "",
    public: bool = False,
    data: dict[str, Any] | None = None,
    flush: bool = True,
) -> IncidentEvent:
    """Append one line to the timeline (flushed at once unless the caller writes many).

    Secrets are masked here, the one door to the timeline: those of the runbook being run
    (`config.secrets.masking`) and every password or credential by its shape. Listeners
    (`hooks`: the notify outbox) hear of the event here too, in the same transaction."""
    event = IncidentEvent(
        incident_id=incident.id,
        at=clock.now(),
        actor=actor,
        kind=kind,
        text=mask_text(text),
        public=public,
        data=mask_value(data or {}),
    )
    session.add(event)
    if flush:
        session.flush()
    hooks.fire(session, incident, event, clock)
    return event


def timeline(session: Session, *, incident_id: int, kind: str | None = None) -> list[IncidentEvent]:
    """One incident's timeline (only its events of `kind`, if given), oldest first (ties in
    time keep the order written)."""
    query = select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
    if kind is not None:
        query = query.where(IncidentEvent.kind == kind)
    return list(session.scalars(query.order_by(IncidentEvent.at, IncidentEvent.id)))


def timelines(session: Session, *, incident_ids: Iterable[int]) -> dict[int, list[IncidentEvent]]:
    """The timelines of many incidents in one query: listing 500 costs one round trip."""
    ids = list(incident_ids)
    found: dict[int, list[IncidentEvent]] = {i: [] for i in ids}
    if ids:
        for event in session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id.in_(ids))
            .order_by(IncidentEvent.at, IncidentEvent.id)
        ):
            found[event.incident_id].append(event)
    return found
