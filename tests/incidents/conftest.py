from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents import service
from opsbook.incidents.clocks import SlaClock
from opsbook.incidents.models import Incident, IncidentEvent
from opsbook.store import Store


@dataclass
class Desk:
    """An incident desk: the store, the config and a clock the test moves by hand."""

    store: Store
    config: Config
    clock: FrozenClock

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.store.session() as session:
            yield session

    def open(self, severity: str = "P1", title: str = "Database connection errors") -> int:
        with self.session() as session:
            return service.open_incident(
                session, title=title, severity=severity, actor="alice", clock=self.clock
            ).id

    def later(self, **delta: float) -> dt.datetime:
        return self.clock.advance(dt.timedelta(**delta))

    def do(self, fn: Callable[..., object], incident_id: int, **kwargs: object) -> None:
        with self.session() as session:
            fn(
                session,
                incident_id=incident_id,
                actor=kwargs.pop("actor", "alice"),
                clock=self.clock,
                **kwargs,
            )

    def resolve(self, incident_id: int, **kwargs: Any) -> IncidentEvent:
        with self.session() as session:
            return service.resolve(
                session,
                incident_id=incident_id,
                actor="alice",
                clock=self.clock,
                policy=self.config.incidents,
                **kwargs,
            )

    def incident(self, incident_id: int) -> Incident:
        with self.session() as session:
            return service.get(session, incident_id=incident_id)

    def timeline(self, incident_id: int) -> list[IncidentEvent]:
        with self.session() as session:
            return list(service.timeline(session, incident_id=incident_id))

    def clocks(self, incident_id: int) -> dict[str, SlaClock]:
        with self.session() as session:
            incident = service.get(session, incident_id=incident_id)
            events = service.timeline(session, incident_id=incident_id)
            found = service.clocks_for(incident, events, config=self.config, now=self.clock.now())
        return {c.name: c for c in found}


@pytest.fixture
def desk(store: Store, clock: FrozenClock) -> Desk:
    return Desk(store, Config(), clock)
