"""A paging desk for escalation tests: the seed's chain (the on-call of `primary`, then the
DevOps lead, then the CTO) over a fake Slack, a fake PagerDuty and a real SMTP server."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opsbook.config import Config, parse_config
from opsbook.incidents import service as incidents
from opsbook.oncall import paging
from tests.notify.conftest import Desk, channels_yaml
from tests.notify.fakes import FakePagerDuty, FakeSlack, FakeSmtp, smtp_server

PEOPLE = """\
oncall:
  people:
    - {name: Alice, contacts: {email: alice@example.com, slack_user_id: UALICE1}}
    - {name: Bob, contacts: {email: bob@example.com, slack_user_id: UBOB1}}
    - {name: DevOps Lead, contacts: {email: devops@example.com}}
    - {name: CTO, contacts: {email: cto@example.com}}
MORE  schedules:
    - name: primary
      timezone: TIMEZONE
      layers:
        - {users: [Alice, Bob], rotation: weekly, handoff: "Monday 09:00", start: 2026-01-05}
"""

POLICY = """\
escalation:
  policies:
    - name: default
      repeat: 1
      channels: [slack-incidents, email-escalation]
      levels:
        - targets: [{schedule: primary}]
        - targets: [{person: DevOps Lead}]
        - targets: [{person: CTO}]
"""


def config_for(
    slack: FakeSlack,
    pagerduty: FakePagerDuty,
    smtp: FakeSmtp,
    *,
    policy: str = POLICY,
    timezone: str = "UTC",
    extra: str = "",
    more_people: str = "",
) -> Config:
    email = (
        f"    - {{name: email-escalation, kind: email, smtp_host: 127.0.0.1,"
        f" smtp_port: {smtp.port}, security: none, from: ops@example.com,"
        f" to: [cto@example.com], timeout: 10s}}\n"
    )
    text = (
        "project: shop\n"
        "notify:\n"
        "  incident_url: https://ops.example.com/incidents/{id}\n"
        "  outbox: {backoff: 10s, backoff_max: 5m, max_failures: 3, lease: 1m}\n"
        "  routing: {P0: [pagerduty, slack-incidents, email-escalation],"
        " P1: [pagerduty, slack-incidents]}\n"
        f"  channels:\n{channels_yaml(slack, pagerduty, timeout='10s')}{email}"
        + PEOPLE.replace("TIMEZONE", timezone).replace("MORE", more_people)
        + textwrap.dedent(policy)
        + textwrap.dedent(extra)
    )
    return parse_config(text, file="opsbook.yaml", env={})


@contextmanager
def smtp() -> Iterator[FakeSmtp]:
    with smtp_server() as server:
        yield server


class Pages:
    """The desk with escalation's round, and what each far side got, in words."""

    def __init__(self, desk: Desk, slack: FakeSlack, smtp: FakeSmtp) -> None:
        self.desk, self.slack, self.smtp = desk, slack, smtp

    def round(self) -> int:
        """One escalation round, then deliver what it queued."""
        taken = paging.tick(self.desk.store, self.desk.config, clock=self.desk.clock)
        self.desk.deliver()
        return taken

    def later(self, **delta: float) -> int:
        self.desk.later(**delta)
        return self.round()

    def mailed(self) -> list[tuple[str, str]]:
        return [(str(m["To"]), str(m["Subject"])) for m in self.smtp.messages]

    def mail_to(self, address: str) -> list[Any]:
        return [m for m in self.smtp.messages if str(m["To"]) == address]

    def mentions(self) -> list[str]:
        return [
            m["blocks"][0]["text"]["text"]
            for m in self.slack.messages
            if m["text"].startswith(("Paging", "Reminder", "More pages", "Still no update"))
        ]

    def lines(self, incident_id: int) -> list[str]:
        with self.desk.store.reading() as session:
            events = incidents.timeline(session, incident_id=incident_id, kind="paging")
            return [e.text for e in events]

    def act(self, name: str, **kw: Any) -> Any:
        with self.desk.store.session() as session:
            return getattr(incidents, name)(session, clock=self.desk.clock, **kw)
