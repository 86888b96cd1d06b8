from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from opsbook.incidents import service
from tests.incidents.conftest import Desk


@pytest.mark.parametrize(
    ("title", "severity", "error"),
    [
        ("   ", "P1", "the title must not be empty"),
        ("Site down", "P5", "unknown severity 'P5' (use P0, P1, P2 or P3)"),
        ("Site down", "critical", "unknown severity 'critical' (use P0, P1, P2 or P3)"),
    ],
)
def test_open_refuses_bad_input_and_stores_nothing(
    desk: Desk, title: str, severity: str, error: str
) -> None:
    with pytest.raises(service.IncidentError) as caught, desk.session() as session:
        service.open_incident(session, title=title, severity=severity, actor="a", clock=desk.clock)
    assert str(caught.value) == error
    with desk.session() as session:
        assert service.list_incidents(session) == []


def test_open_records_symptoms_and_the_default_action_item(desk: Desk) -> None:
    with desk.session() as session:
        incident = service.open_incident(
            session,
            title="Site down",
            severity="p0",
            actor="alice",
            clock=desk.clock,
            component="app",
            symptoms=["Health check endpoint returning 500", " "],
        )
        incident_id = incident.id
    with desk.session() as session:
        incident = service.get(session, incident_id=incident_id)
        [opened] = service.timeline(session, incident_id=incident_id)
        [item] = service.list_actions(session, incident_id=incident_id)
    assert (incident.severity, incident.status, incident.symptoms) == (
        "P0",
        "open",
        ["Health check endpoint returning 500"],
    )
    assert (opened.kind, opened.actor, opened.at) == ("opened", "alice", desk.clock.now())
    assert item.title == "Update runbook"


def test_unknown_incident(desk: Desk) -> None:
    with pytest.raises(service.IncidentNotFound, match="no incident #404"):
        desk.do(service.note, 404, text="hello")


def test_severity_change_needs_a_reason_and_lands_on_the_timeline(desk: Desk) -> None:
    incident_id = desk.open("P2")
    with pytest.raises(service.IncidentError, match="the reason"):
        desk.do(service.change_severity, incident_id, severity="P1", reason=" ")
    with pytest.raises(service.IncidentError, match="already P2"):
        desk.do(service.change_severity, incident_id, severity="P2", reason="same")
    desk.do(service.change_severity, incident_id, severity="P1", reason="auth failing too")
    desk.do(service.change_severity, incident_id, severity="P3", reason="only docs affected")
    with desk.session() as session:
        events = service.timeline(session, incident_id=incident_id)
    assert [e.text for e in events if e.kind == "severity"] == [
        "severity raised P2 -> P1: auth failing too",
        "severity lowered P1 -> P3: only docs affected",
    ]
    assert desk.incident(incident_id).severity == "P3"


def _monitoring(desk: Desk) -> int:
    incident_id = desk.open("P0", "Complete service outage")
    desk.do(service.acknowledge, incident_id)
    desk.do(service.update, incident_id, status="monitoring", message="rolled back")
    return incident_id


def test_resolve_before_15_minutes_of_monitoring_is_refused(desk: Desk) -> None:
    incident_id = _monitoring(desk)
    desk.later(minutes=6)
    with pytest.raises(service.IllegalMove) as caught:
        desk.resolve(incident_id)
    assert "monitoring for 6 min of the 15 min the runbook asks for" in str(caught.value)
    # The domain's word; each door says it its own way (--force, force: true): test_doors.py
    assert "Pass force to resolve now" in str(caught.value)
    assert desk.incident(incident_id).status == "monitoring"


def test_resolve_without_monitoring_is_refused_too(desk: Desk) -> None:
    incident_id = desk.open("P1")
    with pytest.raises(service.IllegalMove, match="it is open, not monitoring"):
        desk.resolve(incident_id)


def test_forced_early_resolve_says_so_on_the_timeline(desk: Desk) -> None:
    incident_id = _monitoring(desk)
    desk.later(minutes=6)
    event = desk.resolve(incident_id, message="All clear", force=True)
    assert event.text == "All clear"  # what customers read: the message alone
    assert event.data["forced"] is True and event.public is True
    [note] = [e for e in desk.timeline(incident_id) if e.kind == "note"]
    assert note.text == (
        "resolved early with --force after 6 min of monitoring; the runbook asks for 15 min"
    )
    assert not note.public


def test_resolve_after_15_minutes(desk: Desk) -> None:
    incident_id = _monitoring(desk)
    desk.later(minutes=15)
    event = desk.resolve(incident_id)
    assert "forced" not in event.data
    assert desk.incident(incident_id).status == "resolved"
    with pytest.raises(service.IllegalMove, match="already resolved"):
        desk.resolve(incident_id)


def test_timeline_is_append_only(desk: Desk) -> None:
    incident_id = desk.open()
    for statement in (
        "UPDATE incident_events SET text = 'rewritten'",
        "DELETE FROM incident_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"), desk.session() as session:
            session.execute(text(statement))
    with desk.session() as session:
        assert service.timeline(session, incident_id=incident_id)[0].text == (
            "Database connection errors"
        )


def test_publishing_a_postmortem_needs_resolve_and_every_field(desk: Desk) -> None:
    incident_id = desk.open()
    with pytest.raises(service.IncidentError, match="not resolved"):
        desk.do(service.mark_postmortem, incident_id, state="published")
    desk.do(service.update, incident_id, status="monitoring", message="fixed")
    desk.later(minutes=15)
    desk.resolve(incident_id)
    desk.do(service.set_postmortem_fields, incident_id, root_cause="leaked connections")
    with pytest.raises(service.IncidentError, match="fill impact, resolution before publishing"):
        desk.do(service.mark_postmortem, incident_id, state="published")
    desk.do(
        service.set_postmortem_fields,
        incident_id,
        impact="12% of users",
        resolution="killed idle connections, fixed the client",
    )
    desk.do(service.mark_postmortem, incident_id, state="published")
    with desk.session() as session:
        assert service.postmortem_state(service.timeline(session, incident_id=incident_id)) == (
            "published"
        )


def test_action_items_across_incidents(desk: Desk) -> None:
    first, second = desk.open(), desk.open()
    with desk.session() as session:
        item = service.add_action(
            session,
            incident_id=first,
            title="Add statement_timeout",
            owner="bob",
            due=dt.date(2026, 3, 9),
            clock=desk.clock,
            actor="alice",
        )
        item_id = item.id
    desk.do(service.complete_action, first, item_id=item_id)
    with pytest.raises(service.IncidentError, match="already done"):
        desk.do(service.complete_action, first, item_id=item_id)
    with pytest.raises(service.IncidentNotFound, match=f"#{second} has no action item"):
        desk.do(service.complete_action, second, item_id=item_id)
    with desk.session() as session:
        open_items = service.list_actions(session, open_only=True)
        everything = service.list_actions(session)
    assert [(i.incident_id, i.title) for i in open_items] == [
        (first, "Update runbook"),
        (second, "Update runbook"),
    ]
    assert len(everything) == 3


def test_two_responders_at_once_lose_nothing(desk: Desk) -> None:
    """Threads against the same incident: every note lands, the status stays consistent."""
    incident_id = desk.open("P0", "Site down")
    errors: list[BaseException] = []
    moves = ["investigating", "identified", "monitoring", "investigating", "identified"]

    def responder(name: str) -> None:
        try:
            for n in range(15):
                desk.do(service.note, incident_id, actor=name, text=f"{name} note {n}")
                if name == "alice" and n < len(moves):
                    desk.do(
                        service.update,
                        incident_id,
                        actor=name,
                        status=moves[n],
                        message=f"step {n}",
                    )
                if name == "bob":
                    desk.do(service.update, incident_id, actor=name, message=f"bob update {n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=responder, args=(n,)) for n in ("alice", "bob", "carol")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with desk.session() as session:
        events = service.timeline(session, incident_id=incident_id)
    notes = {e.text for e in events if e.kind == "note"}
    assert notes == {f"{who} note {n}" for who in ("alice", "bob", "carol") for n in range(15)}
    assert len([e for e in events if e.kind == "update"]) == 15
    transitions = [e.data for e in events if e.kind == "status"]
    assert [t["to"] for t in transitions] == moves
    # Each move starts where the previous one ended: no update was lost or applied twice.
    assert [t["from"] for t in transitions] == ["open", *moves[:-1]]
    assert desk.incident(incident_id).status == "identified"
