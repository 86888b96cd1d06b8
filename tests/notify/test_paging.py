"""Routing by severity and component, end to end: incident events queue messages in their
own transaction, the worker delivers them, the fakes count exactly what arrived."""

from __future__ import annotations

from typing import Any

import pytest

from opsbook.config.models import IncidentPolicy
from opsbook.incidents import service as incidents
from opsbook.notify.service import NotifyError, send_test
from tests.notify.conftest import ROUTING_KEY, channels_yaml, make_config
from tests.notify.fakes import FakePagerDuty, FakeSlack, FakeWebhookReceiver

POLICY = IncidentPolicy()


def _texts(slack: FakeSlack) -> list[str]:
    return [m["text"] for m in slack.messages]


def test_a_p0_from_open_to_resolve_pages_under_one_dedup_key(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    incident_id = desk.open("P1", "Checkout failing", component="payments")
    desk.deliver()
    with desk.store.session() as session:
        incidents.change_severity(
            session,
            incident_id=incident_id,
            severity="P0",
            reason="all payments fail",
            actor="bob",
            clock=desk.clock,
        )
    desk.deliver()
    desk.later(minutes=2)
    with desk.store.session() as session:
        incidents.acknowledge(session, incident_id=incident_id, actor="bob", clock=desk.clock)
    with desk.store.session() as session:
        incidents.update(
            session,
            incident_id=incident_id,
            actor="bob",
            clock=desk.clock,
            status="monitoring",
            message="Rolled back the deploy",
        )
    desk.later(minutes=20)
    with desk.store.session() as session:
        incidents.resolve(
            session, incident_id=incident_id, actor="bob", clock=desk.clock, policy=POLICY
        )
    desk.deliver()

    key = f"shop-incident-{incident_id}"
    # P1 alerts (PagerDuty + Slack by default); the raise to P0 is an update to both, and
    # PagerDuty, already triggered, hears only acknowledge and resolve after.
    assert pagerduty.actions() == [("trigger", key), ("acknowledge", key), ("resolve", key)]
    trigger = pagerduty.events[0]
    assert trigger["payload"]["severity"] == "error"
    assert trigger["payload"]["summary"] == f"[P1] Incident #{incident_id}: Checkout failing"
    assert trigger["payload"]["component"] == "payments"
    assert trigger["links"] == [
        {
            "href": f"https://ops.example.com/incidents/{incident_id}",
            "text": f"Incident #{incident_id}",
        }
    ]
    assert [t.split(":")[0] for t in _texts(slack)] == [
        "New incident",
        "Update",
        "Acknowledged",
        "Update",
        "Resolved",
    ]
    raised = slack.messages[1]
    changed = [b for b in raised["blocks"] if "What changed" in b.get("text", {}).get("text", "")]
    assert changed and "severity P1 -&gt; P0" in changed[0]["text"]["text"]
    assert "[P0]" in raised["text"]
    monitoring = slack.messages[3]
    assert any(
        "Rolled back the deploy" in b.get("text", {}).get("text", "") for b in monitoring["blocks"]
    )
    fields = slack.messages[0]["blocks"][1]["fields"]
    assert [f["text"].split("\n")[0] for f in fields] == [
        "*Severity*",
        "*Status*",
        "*Due*",
        "*Component*",
    ]
    assert "Acknowledge" in fields[2]["text"]
    button = slack.messages[0]["blocks"][-1]["elements"][0]
    assert button["url"] == f"https://ops.example.com/incidents/{incident_id}"
    assert all(m.status == "delivered" for m in desk.outbox())


def test_a_p2_that_becomes_p0_pages(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, receiver: FakeWebhookReceiver
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty, receiver)))
    incident_id = desk.open("P2", "Search is slow")
    desk.deliver()
    # P2 is a ticket: the webhook only.
    assert [a["type"] for a in receiver.accepted] == ["incident.trigger"]
    assert (pagerduty.events, slack.messages) == ([], [])
    with desk.store.session() as session:
        incidents.change_severity(
            session,
            incident_id=incident_id,
            severity="P0",
            reason="down",
            actor="bob",
            clock=desk.clock,
        )
    desk.deliver()
    assert pagerduty.actions() == [("trigger", f"shop-incident-{incident_id}")]
    assert pagerduty.events[0]["payload"]["severity"] == "critical"
    assert _texts(slack)[0].startswith("New incident: [P0]")
    # The ticket hears of the raise as an update.
    assert [a["type"] for a in receiver.accepted] == ["incident.trigger", "incident.update"]
    assert receiver.accepted[1]["changes"] == ["severity P2 -> P0"]


def test_p3_is_recorded_only(desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    desk.open("P3", "Typo on the pricing page")
    assert desk.deliver() == 0
    assert desk.outbox() == []
    assert (pagerduty.requests, slack.requests) == ([], [])


def test_routes_are_overridable_per_severity_and_per_component(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    config = make_config(
        channels_yaml(slack, pagerduty),
        """\
          routing:
            P1: [slack-incidents]
          components:
            database:
              P1: [pagerduty]
        """,
    )
    desk = desk_for(config)
    desk.open("P1", "Auth errors", component="auth")
    desk.open("P1", "Connections at 95%", component="database")
    desk.open("P0", "Everything down", component="database")  # P0 not overridden: default
    desk.deliver()
    assert [m["text"].split(": ", 1)[1][:10] for m in slack.messages] == [
        "[P1] Incid",
        "[P0] Incid",
    ]
    assert [e["payload"]["summary"][:4] for e in pagerduty.events] == ["[P1]", "[P0]"]


def test_notifications_commit_with_their_event_or_not_at_all(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    with pytest.raises(RuntimeError), desk.store.session() as session:
        incidents.open_incident(session, title="x", severity="P0", actor="a", clock=desk.clock)
        assert len(session.info) > 0
        raise RuntimeError("the caller failed after opening")
    assert desk.outbox() == []
    desk.open("P0")
    assert [(m.channel, m.kind, m.status) for m in desk.outbox()] == [
        ("pagerduty", "trigger", "pending"),
        ("slack-incidents", "trigger", "pending"),
    ]


def test_a_reopened_incident_triggers_again_with_the_same_key(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    incident_id = desk.open("P0")
    with desk.store.session() as session:
        incidents.resolve(
            session, incident_id=incident_id, actor="a", clock=desk.clock, policy=POLICY, force=True
        )
    with desk.store.session() as session:
        incidents.update(
            session, incident_id=incident_id, actor="a", clock=desk.clock, status="investigating"
        )
    desk.deliver()
    key = f"shop-incident-{incident_id}"
    assert pagerduty.actions() == [("trigger", key), ("resolve", key), ("trigger", key)]


def test_notes_are_not_sent(desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    incident_id = desk.open("P0")
    desk.deliver()
    with desk.store.session() as session:
        incidents.note(session, incident_id=incident_id, actor="a", clock=desk.clock, text="hm")
    assert desk.deliver() == 0
    assert len(slack.messages) == 1


def test_a_channel_whose_secret_is_unset_is_off_and_gets_nothing(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    # PagerDuty's key is left unset: the channel is off (config check says so), so a P0
    # pages Slack only and queues nothing that could only die.
    channels = channels_yaml(slack, pagerduty).replace(
        "routing_key: " + ROUTING_KEY, 'routing_key: "${PD_KEY}"'
    )
    config = make_config(channels)
    assert config.off_reason("notify.channels", "pagerduty") is not None
    desk = desk_for(config)
    desk.open("P0", "Site down")
    desk.deliver()
    assert pagerduty.events == []
    assert [t.split(":")[0] for t in _texts(slack)] == ["New incident"]
    with pytest.raises(NotifyError, match="channel 'pagerduty' is off: PD_KEY is not set"):
        send_test(desk.store, config, channel="pagerduty", actor="bob", clock=desk.clock)
