"""Action items: what the post-mortem says to do so it does not happen again.

Each is added or completed on the incident's timeline too, so the record says who
promised what and when it was done."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.incidents.errors import IncidentError, IncidentNotFound, required
from opsbook.incidents.models import ActionItem, Incident
from opsbook.incidents.records import get, log_event

# The seed's post-mortem template always ends with "Update runbook".
DEFAULT_ACTION_ITEM = "Update runbook"


def add_default_item(session: Session, *, incident: Incident, clock: Clock) -> ActionItem:
    """The item every new incident starts with; not on the timeline, as nobody chose it."""
    item = ActionItem(incident_id=incident.id, title=DEFAULT_ACTION_ITEM, created_at=clock.now())
    session.add(item)
    return item


def add_action(
    session: Session,
    *,
    incident_id: int,
    title: str,
    clock: Clock,
    actor: str,
    owner: str | None = None,
    due: dt.date | None = None,
) -> ActionItem:
    """Add an item, with an owner and a due date when known."""
    incident = get(session, incident_id=incident_id, lock=True)
    item = ActionItem(
        incident_id=incident.id,
        title=required(title, "the action item"),
        owner=(owner or "").strip() or None,
        due=due,
        created_at=clock.now(),
    )
    session.add(item)
    session.flush()
    log_event(
        session,
        incident=incident,
        kind="action.added",
        actor=actor,
        clock=clock,
        text=f"action item {item.id}: {item.title}",
        data={"item": item.id},
    )
    return item


def complete_action(
    session: Session, *, incident_id: int, item_id: int, clock: Clock, actor: str
) -> ActionItem:
    """Mark an item of this incident done; an item of another incident is not found here,
    so a mistyped incident number cannot close someone else's promise."""
    incident = get(session, incident_id=incident_id, lock=True)
    item = session.get(ActionItem, item_id)
    if item is None or item.incident_id != incident.id:
        raise IncidentNotFound(f"incident #{incident.id} has no action item {item_id}")
    if item.done_at is not None:
        raise IncidentError(f"action item {item_id} is already done")
    item.done_at = clock.now()
    log_event(
        session,
        incident=incident,
        kind="action.done",
        actor=actor,
        clock=clock,
        text=f"action item {item.id} done: {item.title}",
        data={"item": item.id},
    )
    return item


def list_actions(
    session: Session, *, incident_id: int | None = None, open_only: bool = False
) -> list[ActionItem]:
    """Items of one incident (which must exist) or of all, by incident then item."""
    query = select(ActionItem).order_by(ActionItem.incident_id, ActionItem.id)
    if incident_id is not None:
        get(session, incident_id=incident_id)
        query = query.where(ActionItem.incident_id == incident_id)
    if open_only:
        query = query.where(ActionItem.done_at.is_(None))
    return list(session.scalars(query))
