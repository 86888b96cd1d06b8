"""Listeners told of every timeline event, inside the transaction that writes it.

Paging must happen exactly when an incident changes: a listener that writes (the notify
outbox) writes in the same transaction, so the event and its notifications commit or roll
back together. Listeners hang on the store (`Store.info`), not on the process, so two
stores in one process (tests, the demo) keep their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.incidents.models import Incident, IncidentEvent

Listener = Callable[[Session, Incident, IncidentEvent, Clock], None]
_KEY = "opsbook.incident_listeners"


def listen(info: dict[str, Any], listener: Listener) -> None:
    """Call `listener` for every event written through a session carrying `info`
    (a Store's `info`); listening twice with one listener adds it once."""
    listeners: list[Listener] = info.setdefault(_KEY, [])
    if listener not in listeners:
        listeners.append(listener)


def fire(session: Session, incident: Incident, event: IncidentEvent, clock: Clock) -> None:
    for listener in session.info.get(_KEY, ()):
        listener(session, incident, event, clock)
