"""Escalation end to end: incidents open, the clock moves by hand, escalation's rounds
queue pages, the outbox delivers them, and the fakes (Slack, PagerDuty, a real SMTP
server) count exactly what arrived."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opsbook.config.models import IncidentPolicy
from opsbook.incidents import service as incidents
from opsbook.watch import service as watch
from opsbook.watch.result import CheckResult
from opsbook.web.app import create_app
from tests.conftest import wait_for
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


def test_the_lead_is_reminded_when_the_customer_and_team_updates_fall_due(pages: Pages) -> None:
    incident = pages.desk.open("P0", "Site down")
    pages.round()
    pages.desk.later(minutes=1)
    pages.act("acknowledge", incident_id=incident, actor="Bob")  # Bob leads, not Alice
    pages.later(minutes=14)  # 15 minutes open: customers are due to hear (P0)
    reminders = [line for line in pages.lines(incident) if line.startswith("reminded")]
    assert reminders == [
        "reminded Bob (incident lead) by slack-incidents, email-escalation:"
        " Tell customers (after 15 min) due"
    ]
    assert [m["Subject"] for m in pages.mail_to("bob@example.com")] == [
        f"[shop] Incident #{incident}: Site down"
    ]
    pages.later(minutes=1)  # nothing new is due: no second reminder for the same moment
    assert len([line for line in pages.lines(incident) if line.startswith("reminded")]) == 1


def test_an_override_changes_who_is_paged(pages: Pages) -> None:
    from opsbook.oncall import service as oncall

    with pages.desk.store.session() as session:
        oncall.add_override(
            session=session,
            oncall=pages.desk.config.oncall,
            schedule="primary",
            person="Bob",
            start=MONDAY,
            end=MONDAY + dt.timedelta(hours=8),
            actor="alice",
            clock=pages.desk.clock,
        )
    incident = pages.desk.open("P0", "Site down")
    pages.round()
    assert pages.lines(incident) == [
        "paged Bob (on call in primary, level 1) by slack-incidents, email-escalation"
    ]
    assert pages.mentions() == ["<@UBOB1>"]


def test_a_handoff_mid_incident_pages_the_new_on_call_at_the_next_level(
    pages: Pages,
) -> None:
    # Alice's week ends Monday 12 January 09:00; the incident opens 5 minutes before.
    pages.desk.clock.set(dt.datetime(2026, 1, 12, 8, 55, tzinfo=dt.UTC))
    incident = pages.desk.open("P0", "Site down")
    pages.round()
    for _ in range(3):
        pages.later(minutes=5)  # the lead, the CTO, then level 1 again: Bob's week now
    paged = [line.split(" (")[0] for line in pages.lines(incident) if line.startswith("paged")]
    assert paged == ["paged Alice", "paged DevOps Lead", "paged CTO", "paged Bob"]


def test_a_raise_from_p2_to_p0_starts_escalation_and_a_raise_after_ack_asks_no_new_ack(
    pages: Pages,
) -> None:
    quiet = pages.desk.open("P2", "Search is slow")
    assert pages.round() == 0
    pages.desk.later(minutes=10)
    pages.act("change_severity", incident_id=quiet, severity="P0", reason="down", actor="bob")
    pages.round()
    assert pages.lines(quiet) == [
        "paged Alice (on call in primary, level 1) by slack-incidents, email-escalation"
    ]
    owned = pages.desk.open("P1", "Auth errors")
    pages.round()
    pages.act("acknowledge", incident_id=owned, actor="Alice")
    pages.act("change_severity", incident_id=owned, severity="P0", reason="all", actor="Alice")
    pages.later(minutes=10)
    assert [line.split(" (")[0] for line in pages.lines(owned)] == ["paged Alice"]


def test_a_relapse_while_monitoring_pages_again_until_it_is_acknowledged(
    pages: Pages, pagerduty: FakePagerDuty
) -> None:
    """health fails, Alice owns it and puts the fix in monitoring; health fails again: the
    incident is investigating, paged from level 1 as a new P0, until someone owns it."""
    desk = pages.desk
    down = CheckResult(
        "health",
        "http",
        "down",
        "GET /api/health: 500",
        desk.clock.now(),
        component="app",
        severity="P0",
    )
    ok = replace(down, state="ok", summary="GET /api/health: 200")
    watch.process_results(desk.store, desk.config, [down], clock=desk.clock)
    incident = 1
    pages.round()
    pages.act("acknowledge", incident_id=incident, actor="Alice")
    pages.act("update", incident_id=incident, actor="Alice", status="monitoring", message="fix")
    desk.later(minutes=5)
    watch.process_results(
        desk.store, desk.config, [replace(ok, at=desk.clock.now())], clock=desk.clock
    )
    desk.later(minutes=4)
    watch.process_results(
        desk.store, desk.config, [replace(down, at=desk.clock.now())], clock=desk.clock
    )
    assert pages.round() == 1
    paged = [line.split(" (")[0] for line in pages.lines(incident)]
    assert paged == ["paged Alice", "paged Alice"]
    # As a new fire: PagerDuty is triggered again.
    assert pagerduty.actions()[-1] == ("trigger", f"shop-incident-{incident}")
    pages.later(minutes=5)
    assert [line.split(" (")[0] for line in pages.lines(incident)][-1] == "paged DevOps Lead"
    pages.act("acknowledge", incident_id=incident, actor="Alice")
    for _ in range(3):
        pages.later(minutes=5)
    paged = [line.split(" (")[0] for line in pages.lines(incident) if line.startswith("paged")]
    assert paged == ["paged Alice", "paged Alice", "paged DevOps Lead"]  # owned: no more
    with desk.store.reading() as session:
        assert incidents.get(session, incident_id=incident).status == "investigating"


def test_ten_pages_within_a_minute_reach_a_person_as_one_page_and_one_digest(
    pages: Pages,
) -> None:
    first = pages.desk.open("P0", "Site down")
    pages.round()
    others = []
    for n in range(10):
        pages.desk.later(seconds=5)
        others.append(pages.desk.open("P0", f"Alert storm {n}"))
        pages.round()
    assert pages.mentions() == ["<@UALICE1>"]
    assert len(pages.mail_to("alice@example.com")) == 1
    folded = pages.lines(others[0])[0]
    assert folded == (
        "paged Alice (on call in primary, level 1): folded into their digest"
        " (paged within the rate limit)"
    )
    pages.later(seconds=15)  # the minute since the first page is over
    digests = [m for m in pages.slack.messages if m["text"].startswith("More pages")]
    assert len(digests) == 1
    body = " ".join(b.get("text", {}).get("text", "") for b in digests[0]["blocks"])
    assert "10 more pages for Alice (10 incidents)" in body
    assert all(f"#{n}" in body for n in others)
    mails = pages.mail_to("alice@example.com")
    assert len(mails) == 2
    assert "10 more pages for Alice" in mails[1]["Subject"]
    pages.later(minutes=1)
    assert len([m for m in pages.slack.messages if m["text"].startswith("More pages")]) == 1
    assert pages.lines(first)[0].startswith("paged Alice")


def test_a_daylight_saving_change_mid_incident_neither_skips_nor_doubles_a_page(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, mail: FakeSmtp
) -> None:
    desk = desk_for(config_for(slack, pagerduty, mail, timezone="America/New_York"))
    # 01:58 in New York on 8 March 2026: at 02:00 the wall clock jumps to 03:00.
    desk.clock.set(dt.datetime(2026, 3, 8, 6, 58, tzinfo=dt.UTC))
    pages = Pages(desk, slack, mail)
    incident = desk.open("P0", "Site down")
    pages.round()
    for _ in range(38):  # 19 minutes, a round every 30 seconds
        pages.later(seconds=30)
    paged = [line.split(" (")[0] for line in pages.lines(incident) if line.startswith("paged")]
    assert paged == ["paged Alice", "paged DevOps Lead", "paged CTO", "paged Alice"]
    with desk.store.reading() as session:
        from opsbook.incidents import service as incidents

        at = [e.at for e in incidents.timeline(session, incident_id=incident, kind="paging")]
    starts = [a for a, line in zip(at, pages.lines(incident), strict=True) if line[:5] == "paged"]
    assert [(b - starts[0]) // dt.timedelta(minutes=1) for b in starts] == [0, 5, 10, 15]


def test_serve_runs_escalation_beside_the_outbox_worker(pages: Pages) -> None:
    incident = pages.desk.open("P0", "Site down")
    app = create_app(pages.desk.config, pages.desk.store, clock=pages.desk.clock)
    with TestClient(app):
        wait_for(lambda: any(m["text"].startswith("Paging") for m in pages.slack.messages))
    assert pages.lines(incident) == [
        "paged Alice (on call in primary, level 1) by slack-incidents, email-escalation"
    ]


def test_an_acknowledger_who_is_no_valid_person_blocks_no_other_incident(pages: Pages) -> None:
    """A lead named by a free-form actor (`OPSBOOK_ACTOR=" "`) that is not a valid person
    name: their incident is still worked (the lead has no contacts), and every other
    incident is still paged."""
    first = pages.desk.open("P1", "Auth errors")
    pages.round()
    pages.act("acknowledge", incident_id=first, actor="   ")
    pages.desk.later(minutes=30)
    second = pages.desk.open("P0", "Site down")
    assert pages.round() >= 2
    assert pages.lines(second)[0].startswith("paged Alice")
    assert pages.lines(first)[-1].startswith("reminded     (incident lead)")


def test_an_incident_whose_round_fails_holds_up_no_other(pages: Pages) -> None:
    """One incident's step failing (here a timeline line no opsbook wrote) is logged, and
    the round goes on to the others and to the digests."""
    broken = pages.desk.open("P1", "Auth errors")
    with pages.desk.store.session() as session:
        incidents.log_event(
            session, incident=incidents.get(session, incident_id=broken), kind="paging",
            actor="someone", clock=pages.desk.clock,
            data={"what": "page", "level": 1, "people": [{"paged": True}]},
        )  # fmt: skip
    pages.desk.later(minutes=30)
    second = pages.desk.open("P0", "Site down")
    pages.round()
    assert pages.lines(second)[0].startswith("paged Alice")
