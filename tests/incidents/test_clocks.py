"""Every SLA clock at its edges: due at the due time, overdue one second later."""

from __future__ import annotations

import datetime as dt

from opsbook.incidents import service
from tests.incidents.conftest import Desk

ONE_SECOND = dt.timedelta(seconds=1)


def _edge(desk: Desk, incident_id: int, name: str, due_at: dt.datetime) -> None:
    """At the due time the clock is due; one second later it is overdue."""
    desk.clock.set(due_at)
    assert desk.clocks(incident_id)[name].state == "due"
    assert desk.clocks(incident_id)[name].due_at == due_at
    desk.clock.set(due_at + ONE_SECOND)
    assert desk.clocks(incident_id)[name].state == "overdue"


def test_acknowledge_within_5_minutes(desk: Desk) -> None:
    opened = desk.clock.now()
    incident_id = desk.open("P1")
    _edge(desk, incident_id, "ack", opened + dt.timedelta(minutes=5))


def test_ack_on_time_is_met_and_late_is_late(desk: Desk) -> None:
    on_time, late = desk.open("P1"), desk.open("P0")
    desk.later(minutes=5)
    desk.do(service.acknowledge, on_time)
    desk.later(seconds=1)
    desk.do(service.acknowledge, late)
    assert desk.clocks(on_time)["ack"].state == "met"
    assert desk.clocks(late)["ack"].state == "late"


def test_p2_and_p3_are_not_paged_so_have_no_ack_clock(desk: Desk) -> None:
    assert "ack" not in desk.clocks(desk.open("P2"))
    assert "ack" not in desk.clocks(desk.open("P3"))


def test_first_response_within_the_severity_sla(desk: Desk) -> None:
    opened = desk.clock.now()
    p1, p2, p3 = desk.open("P1"), desk.open("P2"), desk.open("P3")
    _edge(desk, p1, "response", opened + dt.timedelta(minutes=30))
    _edge(desk, p2, "response", opened + dt.timedelta(hours=4))
    _edge(desk, p3, "response", opened + dt.timedelta(hours=24))


def test_p0_response_is_immediate_so_its_ack_clock_stands_for_it(desk: Desk) -> None:
    clocks = desk.clocks(desk.open("P0"))
    assert "response" not in clocks
    assert clocks["ack"].label == "Acknowledge (response: immediate)"


def test_ack_alone_is_not_a_response_but_an_update_is(desk: Desk) -> None:
    incident_id = desk.open("P2")
    desk.do(service.acknowledge, incident_id)
    assert desk.clocks(incident_id)["response"].met_at is None
    desk.later(minutes=10)
    desk.do(service.update, incident_id, message="looking at the slow queries")
    assert desk.clocks(incident_id)["response"].state == "met"


def test_team_update_every_30_minutes_while_open(desk: Desk) -> None:
    opened = desk.clock.now()
    incident_id = desk.open("P1")
    _edge(desk, incident_id, "team_update", opened + dt.timedelta(minutes=30))
    desk.do(service.update, incident_id, message="still investigating")
    updated = desk.clock.now()
    _edge(desk, incident_id, "team_update", updated + dt.timedelta(minutes=30))
    desk.do(service.note, incident_id, text="a note is not an update")
    assert desk.clocks(incident_id)["team_update"].due_at == updated + dt.timedelta(minutes=30)


def test_p0_customers_told_after_15_minutes_then_every_30(desk: Desk) -> None:
    opened = desk.clock.now()
    incident_id = desk.open("P0")
    _edge(desk, incident_id, "customer_update", opened + dt.timedelta(minutes=15))
    desk.do(service.update, incident_id, message="internal only")  # not public: still due
    assert desk.clocks(incident_id)["customer_update"].state == "overdue"
    desk.do(service.update, incident_id, message="We're aware of an issue", public=True)
    told = desk.clock.now()
    _edge(desk, incident_id, "customer_update", told + dt.timedelta(minutes=30))


def test_customer_clock_is_for_p0_only(desk: Desk) -> None:
    assert "customer_update" not in desk.clocks(desk.open("P1"))


def test_escalate_without_mitigation_after_30_minutes(desk: Desk) -> None:
    opened = desk.clock.now()
    incident_id = desk.open("P1")
    _edge(desk, incident_id, "escalate", opened + dt.timedelta(minutes=30))
    desk.do(service.update, incident_id, status="monitoring", message="pool restarted")
    clock = desk.clocks(incident_id)["escalate"]
    assert (clock.state, clock.met_at) == ("late", desk.clock.now())


def test_mitigated_in_time_meets_the_escalation_clock(desk: Desk) -> None:
    incident_id = desk.open("P1")
    desk.later(minutes=29)
    desk.do(service.update, incident_id, status="monitoring", message="fixed")
    assert desk.clocks(incident_id)["escalate"].state == "met"


def test_monitor_15_minutes_before_resolve(desk: Desk) -> None:
    incident_id = desk.open("P1")
    desk.do(service.update, incident_id, status="monitoring", message="fixed")
    since = desk.clock.now()
    desk.clock.set(since + dt.timedelta(minutes=15) - ONE_SECOND)
    assert desk.clocks(incident_id)["monitor"].state == "due"
    desk.clock.set(since + dt.timedelta(minutes=15))
    assert desk.clocks(incident_id)["monitor"].state == "met"


def test_postmortem_due_24_hours_after_resolve(desk: Desk) -> None:
    incident_id = desk.open("P1")
    desk.do(service.update, incident_id, status="monitoring", message="fixed")
    desk.later(minutes=15)
    desk.resolve(incident_id)
    resolved = desk.clock.now()
    clocks = desk.clocks(incident_id)
    assert "team_update" not in clocks and "customer_update" not in clocks
    _edge(desk, incident_id, "postmortem", resolved + dt.timedelta(hours=24))
    desk.do(
        service.set_postmortem_fields,
        incident_id,
        impact="all users",
        root_cause="pool",
        resolution="restart",
    )
    desk.do(service.mark_postmortem, incident_id, state="published")
    assert desk.clocks(incident_id)["postmortem"].state == "late"


def test_raising_severity_restarts_the_ack_clock(desk: Desk) -> None:
    incident_id = desk.open("P2")
    desk.later(hours=1)
    desk.do(service.change_severity, incident_id, severity="P0", reason="payments down too")
    raised = desk.clock.now()
    _edge(desk, incident_id, "ack", raised + dt.timedelta(minutes=5))


def test_due_clocks_across_incidents_most_urgent_first(desk: Desk) -> None:
    first = desk.open("P1")
    desk.later(minutes=2)
    second = desk.open("P0")
    desk.later(minutes=4)
    with desk.session() as session:
        due = service.due_clocks(session, config=desk.config, now=desk.clock.now())
    assert [(d.incident.id, d.clock.name, d.clock.state) for d in due[:2]] == [
        (first, "ack", "overdue"),
        (second, "ack", "due"),
    ]
