"""Issue 13's "Done when": one scripted P0 from open to resolve, driven through the service
functions and the very rounds `opsbook serve` runs (escalation's tick, the customer email
task, the outbox delivery) once a minute on an injected clock, and counted exactly at a
fake PagerDuty, a fake Slack and a real SMTP server (aiosmtpd).

The seed's clocks, as configured by default: level 1 paged at once, level 2 after 5
unacknowledged minutes; acknowledged with no update for 30 minutes, everyone is told again
and the lead reminded that the team and customer updates are due (the reminders arrive
as one digest: the lead was just re-notified, and the rate limit folds the rest); customer
email at 15 minutes with the public update, again 30 minutes later with a newer one, the
all-clear on resolve."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from opsbook.config import Config, parse_config
from opsbook.incidents import service as incidents
from opsbook.notify.customers_send import send_due
from opsbook.notify.models import DELIVERED
from opsbook.oncall import paging
from tests.notify.conftest import Desk, channels_yaml
from tests.notify.fakes import FakePagerDuty, FakeSlack, FakeSmtp, smtp_server
from tests.oncall.paging_desk import PEOPLE, POLICY

MONDAY = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)  # Alice is on call
ADMINS = ["ada@org1.example.com", "bob@org2.example.com"]
KEY = "shop-incident-1"
RESPONDERS = "[shop] Incident #1: Checkout down"


def config_for(slack: FakeSlack, pagerduty: FakePagerDuty, smtp: FakeSmtp) -> Config:
    mail = f"smtp_host: 127.0.0.1, smtp_port: {smtp.port}, security: none, timeout: 2s"
    text = (
        "project: shop\n"
        "status: {name: Shop, url: https://status.shop.example.com}\n"
        "notify:\n"
        "  incident_url: https://ops.example.com/incidents/{id}\n"
        "  outbox: {backoff: 10s, backoff_max: 5m, max_failures: 3, lease: 1m}\n"
        "  routing: {P0: [pagerduty, slack-incidents, email-escalation]}\n"
        f"  channels:\n{channels_yaml(slack, pagerduty)}"
        f"    - {{name: email-escalation, kind: email, {mail}, from: ops@example.com,"
        " to: [cto@example.com]}\n"
        f"    - {{name: customer-mail, kind: email, {mail}, from: status@shop.example.com,"
        " to: [unused@shop.example.com]}\n"
        f"  customers: {{channel: customer-mail, recipients: [{', '.join(ADMINS)}]}}\n"
        + PEOPLE.replace("TIMEZONE", "UTC").replace("MORE", "")
        + textwrap.dedent(POLICY)
    )
    return parse_config(text, file="opsbook.yaml", env={})


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    with smtp_server() as server:
        yield server


@dataclass
class Arrivals:
    """What reached the far sides since the last look."""

    pagerduty: list[tuple[str, str]]
    slack: list[str]
    mail: list[tuple[str, str]]  # (To, Subject), sorted: two channels send at once


@dataclass
class Story:
    desk: Desk
    pagerduty: FakePagerDuty
    slack: FakeSlack
    smtp: FakeSmtp
    seen: list[int] = field(default_factory=lambda: [0, 0, 0])

    def serve_round(self) -> None:
        """What serve's periodic tasks do at this moment: escalation's round, the customer
        email round, then the outbox worker delivering all that is due."""
        paging.tick(self.desk.store, self.desk.config, clock=self.desk.clock)
        send_due(self.desk.store, self.desk.config, clock=self.desk.clock)
        self.desk.deliver()

    def minute(self, at: int, *, every: int = 1) -> Arrivals:
        """Move the clock to `at` minutes after the opening, a round every minute (or
        `every` minutes) on the way, as serve would, and say what arrived."""
        while self.desk.clock.now() < MONDAY + dt.timedelta(minutes=at):
            self.desk.later(minutes=every)
            self.serve_round()
        return self.arrivals()

    def arrivals(self) -> Arrivals:
        pd, slack, mail = self.seen
        self.seen = [len(self.pagerduty.events), len(self.slack.messages), len(self.smtp.messages)]
        return Arrivals(
            [(e["event_action"], e["dedup_key"]) for e in self.pagerduty.events[pd:]],
            [m["text"].split(":")[0] for m in self.slack.messages[slack:]],
            sorted((str(m["To"]), str(m["Subject"])) for m in self.smtp.messages[mail:]),
        )

    def act(self, name: str, **kw: Any) -> None:
        with self.desk.store.session() as session:
            getattr(incidents, name)(session, incident_id=1, clock=self.desk.clock, **kw)

    def body(self, index: int) -> str:
        part = self.smtp.messages[index].get_body(("plain",))
        assert part is not None
        return str(part.get_content())


NOTHING = Arrivals([], [], [])


def test_a_p0_from_open_to_resolve_reaches_everyone_exactly_once(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, smtp: FakeSmtp
) -> None:
    story = Story(desk_for(config_for(slack, pagerduty, smtp)), pagerduty, slack, smtp)
    story.desk.clock.set(MONDAY)
    assert story.desk.open("P0", "Checkout down") == 1
    story.serve_round()
    opened = story.arrivals()
    assert opened.pagerduty == [("trigger", KEY)]
    assert opened.slack == ["New incident", "Paging"]
    assert slack.messages[1]["blocks"][0]["text"]["text"] == "<@UALICE1>"  # level 1: on call
    assert opened.mail == [("alice@example.com", RESPONDERS), ("cto@example.com", RESPONDERS)]

    assert story.minute(4) == NOTHING
    level_2 = story.minute(5)  # five unacknowledged minutes
    assert level_2 == Arrivals([], ["Paging"], [("devops@example.com", RESPONDERS)])
    assert "DevOps Lead" in slack.messages[-1]["blocks"][0]["text"]["text"]

    story.act("acknowledge", actor="Alice")  # at minute 5, arriving with the next round
    assert story.minute(6) == Arrivals(
        [("acknowledge", KEY)], ["Acknowledged"], [("cto@example.com", RESPONDERS)]
    )
    assert story.minute(9) == NOTHING  # acknowledged: no level 3

    story.act("update", actor="Alice", message="Checkout errors: investigating.", public=True)
    assert story.minute(10) == Arrivals([], ["Update"], [("cto@example.com", RESPONDERS)])
    assert story.minute(14) == NOTHING
    first_customers = story.minute(15)  # a P0 open 15 minutes, with a public update
    assert first_customers.mail == [(a, "[Shop] Major outage") for a in ADMINS]
    assert first_customers.pagerduty == [] and first_customers.slack == []
    assert all("investigating" in story.body(i) for i in (-1, -2))

    assert story.minute(38) == NOTHING
    # 30 minutes acknowledged with no update: the channels and Alice hear it again...
    assert story.minute(39) == Arrivals(
        [],
        ["Still no update", "Still no update"],
        [("alice@example.com", RESPONDERS), ("cto@example.com", RESPONDERS)],
    )
    # ...and the reminders that fell due with it reach her as one digest a minute later.
    digest = story.minute(40)
    assert digest.slack == ["More pages"]
    assert [to for to, _ in digest.mail] == ["alice@example.com"]
    listed = slack.messages[-1]["blocks"][-1]["text"]["text"]
    assert "Team update (every 30 min) due" in listed
    assert "Customer update (every 30 min) due" in listed

    story.act(
        "update", actor="Alice", message="Fix deployed; watching.", public=True, status="monitoring"
    )
    assert story.minute(41) == Arrivals([], ["Update"], [("cto@example.com", RESPONDERS)])
    assert story.minute(44) == NOTHING
    second_customers = story.minute(45)  # 30 minutes after the first, a newer update
    assert second_customers.mail == [(a, "[Shop] Major outage") for a in ADMINS]
    assert all("Fix deployed" in story.body(i) for i in (-1, -2))

    assert story.minute(59) == NOTHING
    story.act("resolve", actor="Alice", policy=story.desk.config.incidents, message="Fixed.")
    resolved = story.minute(60)
    assert resolved.pagerduty == [("resolve", KEY)]
    assert resolved.slack == ["Resolved"]
    assert resolved.mail == sorted(
        [("cto@example.com", RESPONDERS), *((a, "[Shop] All clear: Major outage") for a in ADMINS)]
    )

    # Nothing twice, nothing late: two hours of rounds (ten minutes apart: a due page
    # goes out at the first round after it falls due, whatever the spacing).
    assert story.minute(180, every=10) == NOTHING
    assert pagerduty.actions() == [("trigger", KEY), ("acknowledge", KEY), ("resolve", KEY)]
    assert len(pagerduty.requests) == 3 and len(slack.requests) == len(slack.messages) == 10
    assert len(smtp.messages) == 16
    assert len({m["Message-ID"] for m in smtp.messages}) == 16
    assert {row.status for row in story.desk.outbox()} == {DELIVERED}
