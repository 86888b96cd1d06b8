"""The API escalation builds on: `who_is_on_call` and `shifts`, over a real store (SQLite
and PostgreSQL) holding overrides, with instants handed in."""

from __future__ import annotations

import datetime as dt

import pytest

from opsbook.clock import FrozenClock
from opsbook.config.oncall import OncallConfig
from opsbook.oncall import service
from opsbook.store import Store

AT = dt.datetime(2026, 3, 4, 15, 0, tzinfo=dt.UTC)  # a Wednesday, 10:00 in New York


@pytest.fixture
def oncall() -> OncallConfig:
    return OncallConfig.model_validate(
        {
            "people": [
                {"name": "alice", "contacts": {"pagerduty_user_id": "PALICE1"}},
                {"name": "bob", "contacts": {"email": "bob@example.com"}},
            ],
            "schedules": [
                {
                    "name": "primary",
                    "timezone": "America/New_York",
                    "layers": [
                        {
                            "users": ["alice"],
                            "rotation": "weekly",
                            "restrict": ["weekdays 09:00-17:00"],
                        }
                    ],
                }
            ],
        }
    )


def test_who_is_on_call_gives_people_with_their_contacts(
    store: Store, oncall: OncallConfig
) -> None:
    with store.reading() as session:
        [person] = service.who_is_on_call(session=session, oncall=oncall, schedule="primary", at=AT)
        assert person.contacts.pagerduty_user_id == "PALICE1"
        night = AT + dt.timedelta(hours=10)
        assert (
            service.who_is_on_call(session=session, oncall=oncall, schedule="primary", at=night)
            == []
        )


def test_an_override_changes_who_and_the_shifts_mark_it(store: Store, oncall: OncallConfig) -> None:
    clock = FrozenClock(AT)
    with store.session() as session:
        added = service.add_override(
            session=session,
            oncall=oncall,
            schedule="primary",
            person="bob",
            start=AT,
            end=AT + dt.timedelta(hours=1),
            actor="lead",
            clock=clock,
        )
    with store.reading() as session:
        [person] = service.who_is_on_call(session=session, oncall=oncall, schedule="primary", at=AT)
        assert person.contacts.email == "bob@example.com"
        found = service.shifts(
            session=session,
            oncall=oncall,
            schedule="primary",
            start=AT,
            end=AT + dt.timedelta(hours=3),
        )
    assert [(s.person.name if s.person else None, s.override, s.override_id) for s in found] == [
        ("bob", True, added.override.id),
        ("alice", False, None),
    ]


def test_an_unknown_schedule_is_a_domain_error(store: Store, oncall: OncallConfig) -> None:
    with store.reading() as session, pytest.raises(service.OncallError, match="no schedule named"):
        service.who_is_on_call(session=session, oncall=oncall, schedule="nope", at=AT)
