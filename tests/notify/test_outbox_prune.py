"""Pruning the outbox: delivered rows go after `keep_delivered`, dead ones after
`keep_dead`, in small batches, and never while their incident is open (their keys are
what keep a repeated decision from sending twice)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import update

from opsbook.incidents import service as incidents
from opsbook.notify import outbox
from opsbook.notify.models import DEAD, DELIVERED, Notification
from opsbook.notify.worker import OutboxWorker
from tests.notify.conftest import Desk, channels_yaml, make_config
from tests.notify.fakes import FakePagerDuty, FakeSlack, Reply

DAY = dt.timedelta(days=1)


def resolve(desk: Desk, incident_id: int) -> None:
    with desk.store.session() as session:
        incidents.resolve(
            session, incident_id=incident_id, actor="alice", clock=desk.clock,
            policy=desk.config.incidents, force=True,
        )  # fmt: skip


def prune(desk: Desk, **kw: Any) -> int:
    return outbox.prune(desk.store, policy=desk.config.notify.outbox, clock=desk.clock, **kw)


def enqueue(desk: Desk, key: str, incident_id: int | None = None) -> Notification:
    with desk.store.session() as session:
        row = outbox.enqueue(
            session, channel="slack-incidents", kind="digest", incident_id=incident_id,
            payload={"text": "x"}, clock=desk.clock, key=key,
        )  # fmt: skip
        session.expunge(row)
        return row


def test_delivered_rows_go_after_keep_delivered_once_their_incident_is_resolved(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    resolved, still_open = desk.open("P0", "Gone"), desk.open("P0", "Still burning")
    enqueue(desk, "digest:no-incident")
    desk.deliver()
    resolve(desk, resolved)
    desk.deliver()
    kept = {row.key: row.incident_id for row in desk.outbox() if row.incident_id == still_open}
    assert len(desk.outbox()) == 7 and len(kept) == 2

    desk.later(days=30)  # exactly 30 days: not older yet
    assert prune(desk) == 0
    desk.later(seconds=1)
    assert prune(desk) == 5  # the resolved incident's 4, the one with no incident
    assert {row.key: row.incident_id for row in desk.outbox()} == kept
    # The open incident's keys still make a repeat a no-op: nothing queued, nothing sent.
    for key in kept:
        assert enqueue(desk, key).status == DELIVERED
    assert desk.deliver() == 0 and len(desk.outbox()) == 2
    desk.later(days=365)
    assert prune(desk) == 0  # however old: the incident is open


def test_dead_rows_are_kept_for_keep_dead_then_go(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    slack.answer_next(Reply(404, "no_service"))  # refused for good: dead at once
    number = desk.open("P0")
    desk.deliver()
    resolve(desk, number)
    desk.deliver()
    # Slack's trigger died; its resolve, and PagerDuty's trigger and resolve, went out.
    assert sorted(row.status for row in desk.outbox()) == [DEAD, *[DELIVERED] * 3]
    desk.later(days=31)
    assert prune(desk) == 3
    assert [row.status for row in desk.outbox()] == [DEAD]  # still there to read and retry
    desk.later(days=59, seconds=1)
    assert prune(desk) == 1 and desk.outbox() == []


def test_pruning_goes_in_small_batches_and_stops_after_a_few(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    for n in range(7):
        enqueue(desk, f"old-{n}")
    desk.deliver()
    desk.later(days=31)
    assert prune(desk, batch=2, batches=2) == 4  # two short transactions, then a later round
    assert prune(desk, batch=2) == 3 and desk.outbox() == []


def test_the_worker_prunes_at_most_every_prune_every(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    worker = OutboxWorker(desk.config, desk.store, clock=desk.clock)
    enqueue(desk, "first")
    desk.deliver()
    desk.later(days=31)
    assert asyncio.run(worker.prune()) == 1
    enqueue(desk, "second")
    desk.deliver()
    with desk.store.session() as session:  # delivered long ago
        session.execute(update(Notification).values(due_at=desk.clock.now() - 40 * DAY))
        session.execute(update(Notification).values(delivered_at=desk.clock.now() - 40 * DAY))
    desk.later(minutes=4, seconds=59)
    assert asyncio.run(worker.prune()) == 0  # pruned under five minutes ago
    desk.later(seconds=1)
    assert asyncio.run(worker.prune()) == 1
