"""Slack's Acknowledge and Resolve buttons: in the message only with a signing secret, and
`POST /api/v1/slack/interactions` acting on a press signed as Slack documents, with the
outcome posted to the press's response_url (a fake that counts what it got)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from opsbook.incidents import service as incidents
from tests.conftest import wait_for
from tests.notify.conftest import make_config
from tests.notify.fakes import FakePagerDuty, FakeSlack, FakeSlackResponses
from tests.notify.twoway import (
    HOSTILE,
    SLACK_SECRET,
    channels,
    post_slack,
    seen,
    serving,
    slack_form,
    slack_headers,
    slack_press,
)

KEY = "shop-incident-1"


@pytest.fixture
def responses() -> Iterator[FakeSlackResponses]:
    fake = FakeSlackResponses()
    yield fake
    fake.stop()


def _buttons(message: dict[str, Any]) -> list[tuple[str, str | None]]:
    found = []
    for block in message["blocks"]:
        if block["type"] == "actions":
            found += [(e["text"]["text"], e.get("action_id")) for e in block["elements"]]
    return found


def _values(message: dict[str, Any]) -> set[str]:
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    return {e["value"] for b in actions for e in b["elements"] if "value" in e}


def test_the_buttons_are_in_the_message_only_with_a_signing_secret(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    incident_id = desk.open("P0", "Site down")
    desk.deliver()
    with desk.store.session() as session:
        incidents.acknowledge(session, incident_id=incident_id, actor="bob", clock=desk.clock)
        incidents.resolve(
            session,
            incident_id=incident_id,
            actor="bob",
            clock=desk.clock,
            policy=desk.config.incidents,
            force=True,
        )
    desk.deliver()
    opened, acknowledged, resolved = slack.messages
    assert _buttons(opened) == [
        ("Open incident", None),
        ("Acknowledge", "opsbook_ack"),
        ("Resolve", "opsbook_resolve"),
    ]
    assert _values(opened) == {KEY}
    assert _buttons(acknowledged) == [("Open incident", None), ("Resolve", "opsbook_resolve")]
    assert _buttons(resolved) == [("Open incident", None)]

    unsigned = desk_for(make_config(channels(slack, pagerduty, slack_secret=None)))
    unsigned.open("P0", "Site down again")
    unsigned.deliver()
    assert _buttons(slack.messages[-1]) == [("Open incident", None)]


def test_acknowledge_pressed_in_slack_acknowledges_and_says_so_in_the_channel(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, responses: FakeSlackResponses
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    incident_id = desk.open("P0", "Site down")
    desk.deliver()
    now = int(desk.clock.now().timestamp())
    body = slack_form(slack_press("opsbook_ack", KEY, responses.response_url, username="jane"))
    with serving(desk) as url:
        answer = post_slack(url, body, timestamp=now)
        assert (answer.status_code, answer.content) == (200, b"")
        wait_for(lambda: len(responses.replies) == 1)
        assert post_slack(url, body, timestamp=now).status_code == 200  # the same press again
        wait_for(lambda: len(responses.replies) == 2)
    state = seen(desk, incident_id)
    assert state.status == "acknowledged"
    assert state.kinds() == [("opened", "alice"), ("status", "slack:jane")]
    assert responses.replies[0] == {
        "text": "Acknowledged by @jane (incident #1)",
        "response_type": "in_channel",
        "replace_original": False,
    }
    assert responses.replies[1]["response_type"] == "ephemeral"
    assert responses.replies[1]["text"].startswith("Nothing done: already done")
    desk.deliver()
    # PagerDuty hears of it; the Slack channel already has the reply, not a second message.
    assert [e["event_action"] for e in pagerduty.events] == ["trigger", "acknowledge"]
    assert [m["text"].split(":")[0] for m in slack.messages] == ["New incident"]


def test_resolve_pressed_too_early_is_refused_and_slack_is_told_why(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, responses: FakeSlackResponses
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    incident_id = desk.open("P0", "Site down")
    with desk.store.session() as session:
        incidents.update(
            session, incident_id=incident_id, actor="bob", clock=desk.clock, status="monitoring"
        )
    desk.later(minutes=12)
    with serving(desk) as url:
        press = slack_press("opsbook_resolve", KEY, responses.response_url)
        answer = post_slack(url, slack_form(press), timestamp=int(desk.clock.now().timestamp()))
        assert answer.status_code == 200
        wait_for(lambda: len(responses.replies) == 1)
        desk.later(minutes=3)
        press = slack_press("opsbook_resolve", KEY, responses.response_url)
        post_slack(url, slack_form(press), timestamp=int(desk.clock.now().timestamp()))
        wait_for(lambda: len(responses.replies) == 2)
    refusal, done = (r["text"] for r in responses.replies)
    assert refusal.startswith("Not resolved: incident #1 cannot be resolved yet: it has been")
    assert "monitoring for 12 min of the 15 min the runbook asks for (ready at 09:45 UTC)" in (
        refusal
    )
    assert done == "Resolved by @jane (incident #1)"
    state = seen(desk, incident_id)
    assert state.status == "resolved"
    [note] = [e for e in state.events if e.kind == "note"]
    assert note.actor == "slack:jane" and note.text.startswith("Slack asked to resolve")


def test_stale_unsigned_or_forged_presses_are_refused_and_change_nothing(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, responses: FakeSlackResponses
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    incident_id = desk.open("P0")
    now = int(desk.clock.now().timestamp())
    body = slack_form(slack_press("opsbook_ack", KEY, responses.response_url))
    signed = slack_headers(body, now)
    cases = {
        "six minutes old": slack_headers(body, now - 360),
        "six minutes ahead": slack_headers(body, now + 360),
        "another secret": slack_headers(body, now, secret="x" * 32),
        "no signature": {k: v for k, v in signed.items() if k != "X-Slack-Signature"},
        "no timestamp": {k: v for k, v in signed.items() if k != "X-Slack-Request-Timestamp"},
        "timestamp not the signed one": signed | {"X-Slack-Request-Timestamp": str(now + 1)},
        "not a number": slack_headers(body, now) | {"X-Slack-Request-Timestamp": "1e9"},
        "huge": slack_headers(body, now) | {"X-Slack-Request-Timestamp": "9" * 400},
        "v1": signed | {"X-Slack-Signature": signed["X-Slack-Signature"].replace("v0=", "v1=")},
        "hostile": signed | {"X-Slack-Signature": "v0=$(reboot); rm -rf / [/x] '\""},
    }
    with serving(desk) as url:
        for case, headers in cases.items():
            answer = post_slack(url, body, headers, timestamp=now)
            assert answer.status_code == 401, case
            assert answer.json()["error"] == "bad signature", case
        # A press that was signed, with its body changed on the way.
        tampered = body.replace(b"opsbook_ack", b"opsbook_resolve")
        assert post_slack(url, tampered, signed, timestamp=now).status_code == 401
    assert seen(desk, incident_id).status == "open"
    assert responses.requests == []


def test_signed_bodies_that_are_not_interactions_are_refused(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, responses: FakeSlackResponses
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    now = int(desk.clock.now().timestamp())
    deep = "[" * 100 + "]" * 100
    bodies = {
        b"payload=%7Bnot+json": "not a Slack interaction payload",
        b"nothing=here": "not a Slack interaction payload",
        b"payload=%7B%7D&payload=%7B%7D": "not a Slack interaction payload",
        b"\xff\xfe": "not a Slack interaction payload",
        b'payload={"type": 1}': "not a Slack interaction payload",
        slack_form({"type": "block_actions", "response_url": "file:///etc/passwd"}): "not a",
        slack_form({"type": "block_actions", "trigger_id": "\ud800"}): "not a",
        slack_form(deep): "not a Slack interaction payload",  # measured once decoded
        deep.encode(): "JSON nested deeper than 64 levels",  # the middleware's refusal
    }
    with serving(desk) as url:
        for body, error in bodies.items():
            answer = post_slack(url, body, timestamp=now)
            assert answer.status_code == 400, body[:40]
            assert answer.json()["error"].startswith(error), body[:40]


def test_other_interactions_and_unknown_keys_are_answered_200(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, responses: FakeSlackResponses
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    incident_id = desk.open("P0")
    now = int(desk.clock.now().timestamp())
    other_button = slack_press("somebody_elses_button", KEY, responses.response_url)
    shortcut = {"type": "shortcut", "callback_id": "x", "trigger_id": "1.2.3"}
    unknown = slack_press("opsbook_ack", "shop-incident-77", responses.response_url)
    with serving(desk) as url:
        for payload in (other_button, shortcut, unknown):
            answer = post_slack(url, slack_form(payload), timestamp=now)
            assert (answer.status_code, answer.content) == (200, b"")
        wait_for(lambda: len(responses.replies) == 1)
    assert responses.replies[0]["text"] == "Nothing done: no opsbook incident has that key"
    assert responses.replies[0]["response_type"] == "ephemeral"
    assert seen(desk, incident_id).status == "open"


def test_unconfigured_interactivity_answers_404(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, responses: FakeSlackResponses
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty, slack_secret=None)))
    now = int(desk.clock.now().timestamp())
    body = slack_form(slack_press("opsbook_ack", KEY, responses.response_url))
    with serving(desk) as url:
        answer = post_slack(url, body, timestamp=now)
    assert answer.status_code == 404
    assert answer.json()["error"] == "Slack interactivity is not configured"


def test_a_hostile_username_is_data_everywhere_it_goes(
    desk_for: Any,
    slack: FakeSlack,
    pagerduty: FakePagerDuty,
    responses: FakeSlackResponses,
    terminal: Any,
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    incident_id = desk.open("P0")
    now = int(desk.clock.now().timestamp())
    press = slack_press("opsbook_ack", KEY, responses.response_url, username=HOSTILE)
    with serving(desk) as url:
        assert post_slack(url, slack_form(press), timestamp=now).status_code == 200
        wait_for(lambda: len(responses.replies) == 1)
    # Slack's own escaping: `<!channel>` shows as typed, it does not ping the channel.
    assert "&lt;!channel&gt;" in responses.replies[0]["text"]
    assert "<!channel>" not in responses.replies[0]["text"]
    shown = terminal(desk, "incident", "show", str(incident_id))
    assert "slack:Jane; rm -rf / $(reboot) \"'[/x][bold]\\x1b[31m\\x07" in shown
    assert "\x1b" not in shown and "\x07" not in shown
    assert SLACK_SECRET not in shown
