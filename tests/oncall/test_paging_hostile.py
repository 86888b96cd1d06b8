"""Hostile names and titles in pages: they reach Slack escaped (no mention, no link, no
markup of their own) and email as one-line headers, through the channels' own code."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from opsbook.clock import FrozenClock
from opsbook.config.notify import EmailChannel
from opsbook.notify.channels import SendContext
from opsbook.notify.channels.email import Email
from opsbook.notify.message import Message
from tests.notify.fakes import FakePagerDuty, FakeSlack, smtp_server
from tests.oncall.paging_desk import Pages, config_for

NAME = "Eve <!channel> [/x] `$(touch pwned)`; rm -rf / *bold* \x1b[2J"
TITLE = "Down\r\nBcc: evil@example.com <!here> <http://evil|click> [/x] \x00"
YAML_NAME = NAME.replace("\x1b", "\\e")  # YAML's double-quoted escape for ESC
MONDAY = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)


def test_hostile_names_and_titles_reach_slack_and_email_as_text(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    with smtp_server() as mail:
        config = config_for(
            slack,
            pagerduty,
            mail,
            policy="""\
            escalation:
              policies:
                - name: default
                  channels: [slack-incidents, email-escalation]
                  levels: [{targets: [{person: "NAME"}]}]
            """.replace("NAME", YAML_NAME),
            more_people=f'    - {{name: "{YAML_NAME}", contacts: {{email: eve@example.com}}}}\n',
        )
        desk = desk_for(config)
        desk.clock.set(MONDAY)
        pages = Pages(desk, slack, mail)
        incident = desk.open("P0", TITLE.replace("\x00", ""))
        pages.round()
    raw = json.dumps(slack.messages)
    assert "<!channel>" not in raw and "<!here>" not in raw and "<http://evil" not in raw
    page = next(m for m in slack.messages if m["text"].startswith("Paging"))
    assert page["blocks"][0]["text"]["text"].startswith("*Eve &lt;!channel&gt;")
    assert "\\x1b" in page["blocks"][0]["text"]["text"]
    [mailed] = [m for m in mail.messages if str(m["To"]) == "eve@example.com"]
    assert "Bcc" not in mailed and "\n" not in str(mailed["Subject"])
    assert pages.lines(incident)[0].startswith("paged Eve <!channel> [/x]")


def test_an_address_that_is_not_one_plain_address_is_never_sent_to() -> None:
    channel = EmailChannel.model_validate(
        {
            "name": "e",
            "kind": "email",
            "smtp_host": "127.0.0.1",
            "from": "o@x.com",
            "to": ["a@x.com"],
        }
    )
    payload = {"incident": {"id": 1, "title": "t"}, "page": {"person": "Eve", "email": "a,b@x.com"}}
    message = Message(1, "k", "e", "page", payload)
    answer = asyncio.run(Email(channel).send(message, SendContext(http=None, clock=FrozenClock())))  # type: ignore[arg-type]
    assert answer.outcome == "failed" and "not one plain email address" in answer.detail
