"""Every operation and query of `incidents.service`, called directly (no CliRunner), on
SQLite and PostgreSQL: an incident's whole life, one transaction per step as a door runs
it. The last test keeps the list honest as the service grows."""

from __future__ import annotations

import datetime as dt
import inspect
import re
from pathlib import Path

import pytest

from opsbook.incidents import service
from tests.conftest import T0
from tests.incidents.conftest import Desk


def test_an_incident_from_open_to_published_postmortem(desk: Desk) -> None:
    with desk.session() as session:
        incident = service.open_incident(
            session,
            title="Checkout failing",
            severity="P1",
            actor="alice",
            clock=desk.clock,
            component="payments",
            symptoms=["card payments time out"],
            message="Looking into checkout errors",
            public=True,
        )
        number = incident.id
    with desk.session() as session:
        [opened] = service.timeline(session, incident_id=number)
    assert (opened.kind, opened.text, opened.public) == (
        "opened",
        "Looking into checkout errors",
        True,
    )

    desk.later(minutes=2)
    with desk.session() as session:
        acked = service.acknowledge(session, incident_id=number, actor="bob", clock=desk.clock)
        assert acked is not None and acked.data == {"from": "open", "to": "acknowledged"}
    with desk.session() as session:
        # Someone already took it: refused, or left alone when only wanted if still open.
        with pytest.raises(service.IllegalMove, match="already acknowledged"):
            service.acknowledge(session, incident_id=number, actor="carol", clock=desk.clock)
        assert (
            service.acknowledge(
                session, incident_id=number, actor="carol", clock=desk.clock, only_if_open=True
            )
            is None
        )

    with desk.session() as session:
        said = service.update(
            session, incident_id=number, actor="bob", clock=desk.clock, message="Still digging"
        )
        moved = service.update(
            session,
            incident_id=number,
            actor="bob",
            clock=desk.clock,
            status="identified",
            message="The card provider is down",
            public=True,
        )
        noted = service.note(
            session, incident_id=number, actor="bob", clock=desk.clock, text="Paged the provider"
        )
        raised = service.change_severity(
            session,
            incident_id=number,
            severity="P0",
            reason="every checkout fails",
            actor="bob",
            clock=desk.clock,
        )
    assert (said.kind, said.public) == ("update", False)
    assert (moved.kind, moved.data["to"], moved.public) == ("status", "identified", True)
    assert (noted.kind, noted.text) == ("note", "Paged the provider")
    assert raised.text == "severity raised P1 -> P0: every checkout fails"

    with desk.session() as session:
        service.update(
            session, incident_id=number, actor="bob", clock=desk.clock, status="monitoring"
        )
    desk.later(minutes=15)
    with desk.session() as session:
        resolved = service.resolve(
            session, incident_id=number, actor="bob", clock=desk.clock, policy=desk.config.incidents
        )
    assert "forced" not in resolved.data and resolved.public

    with desk.session() as session:
        item = service.add_action(
            session,
            incident_id=number,
            title="Fail over to the second provider",
            owner="dave",
            due=dt.date(2026, 3, 16),
            clock=desk.clock,
            actor="bob",
        )
        done = service.complete_action(
            session, incident_id=number, item_id=item.id, clock=desk.clock, actor="dave"
        )
        assert done.done_at == desk.clock.now()
        assert [i.title for i in service.list_actions(session, incident_id=number)] == [
            "Update runbook",
            "Fail over to the second provider",
        ]

    with desk.session() as session:
        draft = service.write_postmortem(
            session,
            incident_id=number,
            actor="bob",
            clock=desk.clock,
            config=desk.config,
            impact="No checkout for 20 minutes",
            root_cause="The card provider's outage",
            resolution="Waited for the provider; added a second one",
            draft=True,
        )
    assert draft.state == "drafted"
    assert "**Root Cause**:\nThe card provider's outage\n" in draft.markdown
    assert "- [x] Fail over to the second provider (owner: dave, due 2026-03-16)" in (
        draft.markdown
    )
    with desk.session() as session:
        published = service.write_postmortem(
            session,
            incident_id=number,
            actor="bob",
            clock=desk.clock,
            config=desk.config,
            publish=True,
        )
        found = service.detail(
            session, incident_id=number, config=desk.config, now=desk.clock.now()
        )
    assert published.state == "published" == found.postmortem
    assert found.incident.status == "resolved" and found.incident.severity == "P0"
    assert [e.kind for e in found.events][-2:] == ["postmortem.drafted", "postmortem.published"]


def test_a_fix_that_did_not_hold_reopens_and_can_be_forced_shut(desk: Desk) -> None:
    number = desk.open("P2", "Slow search")
    with desk.session() as session:
        service.update(
            session, incident_id=number, actor="a", clock=desk.clock, status="monitoring"
        )
    desk.later(minutes=15)
    desk.resolve(number)
    with desk.session() as session:
        reopened = service.update(
            session,
            incident_id=number,
            actor="a",
            clock=desk.clock,
            status="investigating",
            message="slow again",
        )
        assert service.postmortem_state(service.timeline(session, incident_id=number)) == "none"
    assert reopened.data == {"from": "resolved", "to": "investigating"}
    with pytest.raises(service.IllegalMove, match="it is investigating, not monitoring"):
        desk.resolve(number)
    forced = desk.resolve(number, force=True, message="moved to the new index")
    assert forced.data["forced"] is True


def test_lists_clocks_and_numbers_across_incidents(desk: Desk) -> None:
    first = desk.open("P1", "Auth errors")
    second = desk.open("P3", "Typo on the pricing page")
    desk.later(minutes=10)
    now = desk.clock.now()
    with desk.session() as session:
        listed = service.list_incidents(session, open_only=True, severity="p1")
        rows = service.summaries(session, config=desk.config, now=now)
        due = service.due_clocks(session, config=desk.config, now=now)
        events = service.timelines(session, incident_ids=[first, second])
        incident = service.get(session, incident_id=first)
        clocks = service.clocks_for(incident, events[first], config=desk.config, now=now)
        numbers = service.report(session, config=desk.config, since=T0, now=now)
    assert [i.id for i in listed] == [first]
    assert [(r.incident.id, r.postmortem) for r in rows] == [(second, "none"), (first, "none")]
    assert due[0].incident.id == first and due[0].clock.name == "ack"
    assert due[0].clock.state == "overdue"
    assert [len(events[first]), len(events[second])] == [1, 1]
    assert {c.name for c in clocks} >= {"ack", "response", "team_update"}
    assert numbers.total == 2


def test_fields_and_phases_one_at_a_time(desk: Desk) -> None:
    number = desk.open()
    with desk.session() as session:
        [event] = service.set_postmortem_fields(
            session, incident_id=number, actor="a", clock=desk.clock, root_cause=" pool leak "
        )
        assert event.text == "root cause: pool leak"
        with pytest.raises(service.IncidentError, match="not resolved"):
            service.mark_postmortem(
                session, incident_id=number, state="drafted", actor="a", clock=desk.clock
            )


def test_the_building_blocks(desk: Desk) -> None:
    assert service.parse_severity(" p2 ") == "P2"
    assert service.parse_status("Monitoring") is service.Status.MONITORING
    number = desk.open()
    with desk.session() as session:
        event = service.move(
            session,
            incident_id=number,
            status=service.Status.IDENTIFIED,
            actor="a",
            clock=desk.clock,
            data={"why": "a test"},
        )
        with pytest.raises(service.IllegalMove, match="allowed from identified"):
            service.move(
                session, incident_id=number, status=service.Status.OPEN, actor="a", clock=desk.clock
            )
    assert event.data == {"from": "open", "to": "identified", "why": "a test"}


def test_the_timeline_door_masks_secrets(desk: Desk) -> None:
    number = desk.open()
    with desk.session() as session:
        incident = service.get(session, incident_id=number, lock=True)
        event = service.log_event(
            session,
            incident=incident,
            kind="db.remediation",
            actor="runbook",
            clock=desk.clock,
            text="reconnected with postgresql://app:hunter22@db:5432/app",
            data={"token": "abc123"},
        )
    with desk.session() as session:
        stored = service.timeline(session, incident_id=number)[-1]
    assert stored.id == event.id
    assert stored.text == "reconnected with postgresql://app:***@db:5432/app"
    assert stored.data == {"token": "***"}


def test_a_refusal_names_inputs_in_the_words_of_each_door(desk: Desk) -> None:
    number = desk.open()
    with pytest.raises(service.IncidentError) as caught, desk.session() as session:
        service.update(session, incident_id=number, actor="a", clock=desk.clock)
    refusal = caught.value
    assert str(refusal) == "give status, message, or both"
    assert refusal.worded(lambda name: f"--{name}") == "give --status, --message, or both"


def test_a_relapse_moves_only_a_monitoring_incident_back_and_is_owned_again(desk: Desk) -> None:
    number = desk.open("P0")
    with desk.session() as session:
        assert (
            service.relapse(
                session, incident_id=number, reason="relapse: x", actor="watch", clock=desk.clock
            )
            is None
        )  # open: nothing to send back
        service.acknowledge(session, incident_id=number, actor="alice", clock=desk.clock)
        service.update(
            session,
            incident_id=number,
            actor="alice",
            clock=desk.clock,
            status="monitoring",
            message="fix deployed",
        )
    desk.later(minutes=4)
    with desk.session() as session:
        moved = service.relapse(
            session,
            incident_id=number,
            reason="relapse: check:health firing again while monitoring",
            actor="watch",
            clock=desk.clock,
        )
        assert moved is not None and moved.data["relapse"] is True
        assert service.get(session, incident_id=number).status == "investigating"
    with desk.session() as session:
        owned = service.acknowledge(session, incident_id=number, actor="bob", clock=desk.clock)
        assert owned is not None and owned.kind == "acknowledged"
    with pytest.raises(service.IllegalMove, match="already investigating"), desk.session() as s:
        service.acknowledge(s, incident_id=number, actor="carol", clock=desk.clock)


def test_every_exported_operation_is_called_directly_here() -> None:
    """A function added to the service's front door is added to this file too."""
    exported = {name for name in service.__all__ if inspect.isfunction(getattr(service, name))}
    called = set(re.findall(r"service\.(\w+)\(", Path(__file__).read_text()))
    assert exported - called == set()
