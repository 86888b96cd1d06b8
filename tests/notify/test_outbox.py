"""The outbox under failure: 500s, timeouts, refused connections, 429 with Retry-After,
refusals never retried, dead after the limit, a lease that ran out, order per incident."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import Any

from opsbook.incidents import service as incidents
from opsbook.notify import outbox
from opsbook.notify.channels import SendContext, new_http, sender_for
from opsbook.notify.channels.base import parse_retry_after
from opsbook.notify.message import Message
from opsbook.postgres.cluster import free_port
from tests.notify.conftest import ROUTING_KEY, Desk, channels_yaml, make_config
from tests.notify.fakes import FakePagerDuty, FakeSlack, FakeWebhookReceiver, Reply


def _only(desk: Desk, channel: str) -> Any:
    [row] = [m for m in desk.outbox() if m.channel == channel]
    return row


def test_a_500_is_retried_after_a_backoff_with_jitter(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    slack.answer_next(Reply(500, "rollup_error"))
    desk.open("P0")
    desk.deliver()
    row = _only(desk, "slack-incidents")
    assert (row.status, row.failures, row.last_error) == ("pending", 1, "500 rollup_error")
    wait = row.due_at - desk.clock.now()
    assert dt.timedelta(seconds=5) <= wait <= dt.timedelta(seconds=10)  # 10s, equal jitter
    assert desk.deliver() == 0  # not due yet
    desk.later(seconds=10)
    desk.deliver()
    assert _only(desk, "slack-incidents").status == "delivered"
    assert (len(slack.requests), len(slack.messages)) == (2, 1)
    assert len(pagerduty.events) == 1


def test_a_timeout_and_a_refused_connection_are_retried(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v2/enqueue"
    channels = channels_yaml(slack, pagerduty).replace(pagerduty.events_url, closed)
    desk = desk_for(make_config(channels))
    slack.answer_next(Reply(200, "ok", hang=True))
    desk.open("P0")
    desk.deliver()
    slack.release()
    assert _only(desk, "slack-incidents").last_error == "no answer within 1s"
    refused = _only(desk, "pagerduty")
    assert refused.status == "pending" and refused.failures == 1
    assert refused.last_error.startswith("could not reach it: Cannot connect to host 127.0.0.1")
    desk.later(seconds=10)
    desk.deliver()
    assert _only(desk, "slack-incidents").status == "delivered"
    assert len(slack.messages) == 1


def test_429_waits_exactly_as_long_as_retry_after_says_and_is_not_a_failure(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    pagerduty.answer_next(*[Reply(429, '{"status":"throttle event"}', {"Retry-After": "120"})] * 5)
    desk.open("P0")
    for _ in range(5):  # more 429s than max_failures (3): still not dead
        desk.deliver()
        row = _only(desk, "pagerduty")
        assert (row.status, row.failures) == ("pending", 0)
        assert row.due_at == desk.clock.now() + dt.timedelta(seconds=120)
        desk.later(seconds=119)
        assert desk.deliver() == 0
        desk.later(seconds=1)
    desk.deliver()
    assert _only(desk, "pagerduty").status == "delivered"
    assert len(pagerduty.events) == 1 and len(pagerduty.requests) == 6


def test_a_refusal_that_cannot_change_is_never_retried(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    wrong_key = channels_yaml(slack, pagerduty).replace(ROUTING_KEY, "short-key")
    desk = desk_for(make_config(wrong_key))
    slack.answer_next(Reply(400, "invalid_payload"))
    desk.open("P0")
    desk.deliver()
    desk.later(hours=2)
    assert desk.deliver() == 0
    pd, sl = _only(desk, "pagerduty"), _only(desk, "slack-incidents")
    assert (pd.status, pd.attempts, sl.status, sl.attempts) == ("dead", 1, "dead", 1)
    assert sl.last_error == "400 invalid_payload"
    assert "'routing_key' must be a 32 character string" in pd.last_error
    assert (len(pagerduty.requests), len(slack.requests)) == (1, 1)


def test_dead_after_the_limit(desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    slack.answer_next(*[Reply(503, "service unavailable")] * 3)
    desk.open("P0")
    for _ in range(3):
        desk.deliver()
        desk.later(minutes=10)
    row = _only(desk, "slack-incidents")
    assert (row.status, row.failures) == ("dead", 3)
    assert row.last_error == "503 service unavailable (failed 3 times)"
    assert desk.deliver() == 0


def test_a_message_whose_sender_died_goes_again_with_the_same_key(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, receiver: FakeWebhookReceiver
) -> None:
    config = make_config(channels_yaml(slack, pagerduty, receiver))
    desk = desk_for(config)
    desk.open("P2")  # a ticket: the webhook
    [ghost] = outbox.claim(
        desk.store, worker="ghost", limit=10, policy=config.notify.outbox, clock=desk.clock
    )
    webhook = next(c for c in config.notify.channels if c.name == "tickets")
    answer = asyncio.run(_send(sender_for(webhook), ghost, desk))  # sent, then "killed"
    assert answer.delivered
    assert desk.deliver() == 0  # leased to the ghost
    desk.later(minutes=1)  # the lease runs out
    desk.deliver()
    row = _only(desk, "tickets")
    assert (row.status, row.attempts) == ("delivered", 2)
    # The receiver saw the key twice and kept the message once.
    assert (len(receiver.requests), len(receiver.accepted), receiver.duplicates) == (2, 1, 1)
    keys = {r["headers"]["idempotency-key"] for r in receiver.requests}
    assert keys == {row.key}


async def _send(sender: Any, message: Message, desk: Desk) -> Any:
    async with new_http() as http:
        return await sender.send(message, SendContext(http=http, clock=desk.clock))


def test_an_acknowledge_never_overtakes_its_trigger(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    pagerduty.answer_next(Reply(500, "oops"))
    incident_id = desk.open("P0")
    with desk.store.session() as session:
        incidents.acknowledge(session, incident_id=incident_id, actor="a", clock=desk.clock)
    desk.deliver()
    assert pagerduty.events == []  # the trigger failed; the acknowledge waits behind it
    # Slack's own order is kept apart: it got both.
    assert [m["text"].split(":")[0] for m in slack.messages] == ["New incident", "Acknowledged"]
    desk.later(seconds=10)
    desk.deliver()
    key = f"shop-incident-{incident_id}"
    assert pagerduty.actions() == [("trigger", key), ("acknowledge", key)]


def test_enqueue_with_a_key_queues_once(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    incident_id = desk.open("P3")
    for _ in range(2):
        with desk.store.session() as session:
            outbox.enqueue(
                session,
                channel="slack-incidents",
                kind="update",
                incident_id=incident_id,
                payload={"incident": {"id": incident_id, "title": "reminder"}},
                clock=desk.clock,
                key=f"reminder-{incident_id}-1",
            )
    assert [m.key for m in desk.outbox()] == [f"reminder-{incident_id}-1"]


def test_backoff_grows_to_its_cap_and_survives_huge_failure_counts() -> None:
    config = make_config("    []\n")
    policy = config.notify.outbox
    rng = random.Random(1)
    ceilings = [outbox.backoff(n, policy, rng, None) for n in (1, 2, 3, 100)]
    assert dt.timedelta(seconds=5) <= ceilings[0] <= dt.timedelta(seconds=10)
    assert dt.timedelta(seconds=10) <= ceilings[1] <= dt.timedelta(seconds=20)
    assert dt.timedelta(seconds=20) <= ceilings[2] <= dt.timedelta(seconds=40)
    assert dt.timedelta(seconds=150) <= ceilings[3] <= dt.timedelta(minutes=5)


def test_retry_after_in_seconds_dates_and_nonsense(clock: Any) -> None:
    assert parse_retry_after("30", clock) == dt.timedelta(seconds=30)
    assert parse_retry_after("9" * 400, clock) == dt.timedelta(days=1)
    assert parse_retry_after("Mon, 02 Mar 2026 09:31:00 GMT", clock) == dt.timedelta(minutes=1)
    assert parse_retry_after("Mon, 02 Mar 2020 09:31:00 GMT", clock) == dt.timedelta(0)
    for nonsense in ("-5", "soon", "1e9", "$(reboot)", "\x00", ""):
        assert parse_retry_after(nonsense, clock) is None
