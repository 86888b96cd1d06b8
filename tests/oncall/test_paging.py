"""Escalation end to end: incidents open, the clock moves by hand, escalation's rounds
queue pages, the outbox delivers them, and the fakes (Slack, PagerDuty, a real SMTP
server) count exactly what arrived."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from opsbook.config.models import IncidentPolicy
from tests.notify.fakes import FakePagerDuty, FakeSlack, FakeSmtp
from tests.oncall.paging_desk import Pages, config_for, smtp

MONDAY = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)  # Alice's week (Bob's from Jan 12)


@pytest.fixture
def mail() -> Iterator[FakeSmtp]:
    with smtp() as server:
        yield server


@pytest.fixture
def pages(desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, mail: FakeSmtp) -> Pages:
    desk = desk_for(config_for(slack, pagerduty, mail))
    desk.clock.set(MONDAY)
    return Pages(desk, slack, mail)


def test_a_p0_pages_the_on_call_at_once_by_slack_and_email(
    pages: Pages, pagerduty: FakePagerDuty
) -> None:
    incident = pages.desk.open("P0", "Site down")
    assert pages.round() == 1
    assert pages.lines(incident) == [
        "paged Alice (on call in primary, level 1) by slack-incidents, email-escalation"
    ]
    assert pages.mentions() == ["<@UALICE1>"]
    assert [to for to, _ in pages.mailed()] == ["cto@example.com", "alice@example.com"]
    # PagerDuty runs its own escalation: it gets the service-level trigger only.
    assert pagerduty.actions() == [("trigger", f"shop-incident-{incident}")]
    assert pages.round() == 0  # taken once


def test_unacknowledged_pages_climb_the_levels_then_repeat_then_stop(pages: Pages) -> None:
    incident = pages.desk.open("P0", "Site down")
    pages.round()

    def paged() -> list[str]:
        return [line.split(" (")[0] for line in pages.lines(incident) if line.startswith("paged")]

    pages.later(minutes=4, seconds=59)
    assert paged() == ["paged Alice"]
    pages.later(seconds=1)
    assert paged() == ["paged Alice", "paged DevOps Lead"]
    pages.later(minutes=5)
    assert paged()[-1] == "paged CTO"
    pages.later(minutes=5)  # the policy again (repeat: 1)
    assert paged()[-1] == "paged Alice"
    for _ in range(6):
        pages.later(minutes=5)
    assert paged() == [
        "paged Alice",
        "paged DevOps Lead",
        "paged CTO",
        "paged Alice",
        "paged DevOps Lead",
        "paged CTO",
    ]
    assert len(pages.mail_to("devops@example.com")) == 2
    # The P0 trigger went to the channel's list (the CTO), then two pages to the CTO.
    assert len(pages.mail_to("cto@example.com")) == 1 + 2


def test_acknowledging_stops_escalation(pages: Pages) -> None:
    incident = pages.desk.open("P0", "Site down")
    pages.round()
    pages.desk.later(minutes=3)
    pages.act("acknowledge", incident_id=incident, actor="Alice")
    assert pages.later(minutes=10) == 0
    assert [line.split(" (")[0] for line in pages.lines(incident)] == ["paged Alice"]


def test_acknowledged_without_update_renotifies_every_30_minutes_until_an_update(
    pages: Pages,
) -> None:
    incident = pages.desk.open("P1", "Auth errors")
    pages.round()
    pages.desk.later(minutes=2)
    pages.act("acknowledge", incident_id=incident, actor="Alice")
    pages.desk.deliver()
    before = len(pages.slack.messages)
    assert pages.later(minutes=29) == 0
    assert pages.later(minutes=1) >= 1
    renotified = [line for line in pages.lines(incident) if line.startswith("re-notified")]
    assert renotified == [
        "re-notified slack-incidents (acknowledged, no update since); "
        "re-notified Alice (acknowledged it) by slack-incidents, email-escalation"
    ]
    texts = [m["text"] for m in pages.slack.messages[before:]]
    assert sum(t.startswith("Still no update") for t in texts) == 2  # the channel, Alice
    pages.later(minutes=30)
    assert sum(line.startswith("re-notified") for line in pages.lines(incident)) == 2
    pages.act("update", incident_id=incident, actor="Alice", message="Found it: bad deploy")
    assert pages.later(minutes=29) == 0
    assert sum(line.startswith("re-notified") for line in pages.lines(incident)) == 2


def test_resolving_stops_everything(pages: Pages) -> None:
    incident = pages.desk.open("P0", "Site down")
    pages.round()
    pages.act("acknowledge", incident_id=incident, actor="Alice")
    pages.act("update", incident_id=incident, actor="Alice", status="monitoring", message="ok")
    pages.desk.later(minutes=16)
    pages.act("resolve", incident_id=incident, actor="Alice", policy=IncidentPolicy())
    pages.desk.deliver()
    sent = (len(pages.slack.messages), len(pages.smtp.messages))
    for _ in range(6):
        assert pages.later(minutes=30) == 0
    assert (len(pages.slack.messages), len(pages.smtp.messages)) == sent
