"""Runbook notices (`notify:` steps) through the outbox: delivered, queued or failed said
as it is, once per run and step (a resumed run posts nothing twice), every channel kind
rendering one (PagerDuty refusing), hostile text escaped by the channel."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select, update

from opsbook.config import Config
from opsbook.notify import outbox
from opsbook.notify.notices import NoticeError, deliver_notice, notice_channel, queue_notice
from opsbook.registry import default_registry
from opsbook.runbooks.engine import Engine, Interaction
from opsbook.runbooks.model import Runbook
from opsbook.runbooks.plan import refusals
from opsbook.runbooks.records import RunRecord, StepRecord
from tests.notify.conftest import Desk, channels_yaml, make_config
from tests.notify.fakes import FakePagerDuty, FakeSlack, FakeWebhookReceiver, Reply, smtp_server

HOSTILE = (
    "<!channel> <http://evil.example|click> & [/x][bold]x \x1b[31mred\x1b[0m nul\x00"
    " ; rm -rf / $(reboot) 'q\"\nsecond line"
)
ANNOUNCE = Runbook.model_validate(
    {
        "name": "announce",
        "title": "Announce",
        "steps": [
            {
                "id": "tell",
                "title": "Tell #incidents",
                "notify": {"channel": "#incidents", "message": "Deploying {{ params.commit }}"},
            }
        ],
    }
)


def run_announce(desk: Desk, incident_id: int | None = None) -> tuple[int, StepRecord]:
    engine = Engine(desk.store, desk.config, default_registry(), desk.clock, "alice")
    params = {"commit": "abc123"}
    run_id = engine.start(ANNOUNCE, source="test", params=params, incident_id=incident_id)
    engine.execute(run_id, ANNOUNCE, Interaction(), params)
    return run_id, step_of(desk, run_id)


def step_of(desk: Desk, run_id: int) -> StepRecord:
    with desk.store.reading() as session:
        record = session.scalars(select(StepRecord).where(StepRecord.run_id == run_id)).one()
        session.expunge(record)
        return record


def test_a_notice_step_is_delivered_and_says_so(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    _, record = run_announce(desk)
    assert record.status == "succeeded"
    assert (record.output["delivery"], record.output["channel"]) == ("delivered", "slack-incidents")
    assert [m["text"] for m in slack.messages] == ["Deploying abc123"]
    assert pagerduty.requests == []


def test_a_resumed_run_does_not_post_its_notice_twice(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    run_id, _ = run_announce(desk)
    # Killed after Slack's `ok`, before the step was recorded: the resume runs it again.
    with desk.store.session() as session:
        session.execute(update(StepRecord).values(status="interrupted"))
        session.execute(update(RunRecord).values(status="interrupted", pid=None))
    engine = Engine(desk.store, desk.config, default_registry(), desk.clock, "alice")
    _, runbook, params = engine.claim(run_id)
    assert engine.execute(run_id, runbook, Interaction(), params) == "succeeded"
    assert step_of(desk, run_id).output["delivery"] == "delivered"
    assert len(slack.requests) == 1 and len(desk.outbox()) == 1


def test_a_notice_slack_refuses_for_good_fails_the_step_with_its_reason(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    slack.answer_next(Reply(404, "no_service"))
    _, record = run_announce(desk)
    assert record.status == "failed"
    assert record.error == "notice to slack-incidents failed: 404 no_service"
    assert record.output["status"] == "failed"


def test_a_notice_that_must_wait_is_queued_and_serve_delivers_it_once(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    slack.answer_next(Reply(500, "rollup_error"))
    _, record = run_announce(desk)
    assert record.status == "succeeded"
    assert record.output["status"] == "queued"
    assert record.output["delivery"] == "queued; opsbook serve delivers it (500 rollup_error)"
    desk.later(seconds=10)
    assert desk.deliver() == 1  # what serve's worker does
    assert [m["text"] for m in slack.messages] == ["Deploying abc123"]
    assert desk.deliver() == 0


def test_a_notice_behind_its_incidents_earlier_messages_sends_them_first_in_order(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    """No serve running: waiting for one to send what is ahead would only time out."""
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    incident = desk.open()
    with desk.store.session() as session:
        for number in (1, 2):
            queue_notice(
                session, desk.config, channel="slack-incidents", text=f"earlier {number}",
                key=f"earlier-{number}", incident_id=incident, actor="alice", clock=desk.clock,
            )  # fmt: skip
    _, record = run_announce(desk, incident_id=incident)
    assert (record.status, record.output["delivery"]) == ("succeeded", "delivered")
    said = [m["text"] for m in slack.messages]
    assert said[-3:] == ["earlier 1", "earlier 2", "Deploying abc123"]
    assert all(
        row.status == "delivered" for row in desk.outbox() if row.channel == "slack-incidents"
    )


def test_a_notice_serve_is_sending_is_waited_for_a_bounded_time(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    with desk.store.session() as session:
        row = queue_notice(
            session, desk.config, channel="slack-incidents", text="hello", key="k",
            incident_id=None, actor="alice", clock=desk.clock,
        )  # fmt: skip
        message_id = row.id
    policy = desk.config.notify.outbox
    [_held] = outbox.claim(
        desk.store, worker="serve-1", limit=5, policy=policy, clock=desk.clock, only=[message_id]
    )
    slept: list[float] = []
    result = deliver_notice(
        desk.store, desk.config, message_id=message_id, clock=desk.clock, sleep=slept.append
    )
    assert result.words == "queued; opsbook serve delivers it (being sent)"
    assert sum(slept) == pytest.approx(2.0)  # the channel's 1s timeout and a second
    assert slack.requests == []  # not sent a second time beside serve


def test_channels_are_found_by_name_or_by_what_slack_shows(
    slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    config = make_config(channels_yaml(slack, pagerduty))
    assert notice_channel(config, "slack-incidents").name == "slack-incidents"
    assert notice_channel(config, "#incidents").name == "slack-incidents"
    assert notice_channel(config, "incidents").name == "slack-incidents"
    with pytest.raises(NoticeError, match="is PagerDuty, which takes incidents"):
        notice_channel(config, "pagerduty")
    with pytest.raises(NoticeError) as refused:
        notice_channel(config, "#deploys")
    assert str(refused.value) == (
        "no channel named or showing '#deploys' (channels: pagerduty, slack-incidents (#incidents))"
    )


def test_a_runbook_with_a_notice_nowhere_to_go_is_refused_before_it_runs(
    slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    config = make_config(channels_yaml(slack, pagerduty))
    bad = ANNOUNCE.model_copy(
        update={"steps": [s.model_copy(update={"notify": n}) for s, n in _notifies()]}
    )
    assert refusals(bad, {"commit": "x"}, default_registry(), config=config) == [
        "step tell: channel 'pagerduty' is PagerDuty, which takes incidents (trigger,"
        " acknowledge, resolve), not notices: send notices to a Slack, email or webhook channel"
    ]
    assert refusals(ANNOUNCE, {"commit": "x"}, default_registry(), config=config) == []


def _notifies() -> list[tuple[Any, Any]]:
    step = ANNOUNCE.steps[0]
    assert step.notify is not None
    return [(step, step.notify.model_copy(update={"channel": "pagerduty"}))]


def _notice_to(desk: Desk, channel: str, text: str) -> str:
    with desk.store.session() as session:
        row = queue_notice(
            session, desk.config, channel=channel, text=text, key=None, incident_id=None,
            actor="alice", clock=desk.clock,
        )  # fmt: skip
        message_id = row.id
    return deliver_notice(desk.store, desk.config, message_id=message_id, clock=desk.clock).words


def test_every_kind_renders_a_notice_with_hostile_text_escaped(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, receiver: FakeWebhookReceiver
) -> None:
    huge = HOSTILE + "x" * 100_000
    with smtp_server() as smtp:
        mail = (
            f"    - {{name: mail, kind: email, smtp_host: 127.0.0.1, smtp_port: {smtp.port},"
            " security: none, from: ops@example.com, to: [team@example.com], timeout: 2s}\n"
        )
        config: Config = make_config(channels_yaml(slack, pagerduty, receiver) + mail)
        desk = desk_for(config)
        assert _notice_to(desk, "#incidents", huge) == "delivered"
        assert _notice_to(desk, "tickets", HOSTILE) == "delivered"
        assert _notice_to(desk, "mail", HOSTILE) == "delivered"
        [sent] = smtp.messages
    [posted] = slack.messages
    raw = json.dumps(posted)
    for live in ("<!channel>", "<http://", "\x1b", "\\u001b", "\x00", "\\u0000"):
        assert live not in raw
    assert posted["text"].startswith("&lt;!channel&gt; &lt;http://evil.example|click&gt; &amp;")
    assert len(posted["text"]) <= 2_500
    [hooked] = receiver.accepted
    assert hooked["type"] == "notice" and hooked["text"] == HOSTILE  # JSON carries it as data
    subject = str(sent["Subject"])
    assert subject.startswith("[shop] notice: <!channel>") and "\n" not in subject
    assert "\\x1b[31m" in subject and "\x1b" not in subject and "\x00" not in sent.as_string()
    assert pagerduty.requests == []
    stored = [row.payload["text"] for row in desk.outbox()]
    assert len(stored[0]) == 4_000  # a huge message is cut before it is stored
