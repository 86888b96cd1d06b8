"""Notify operations, the domain's front door: connect the outbox to a store, send a test
through a channel, list the outbox, retry a message.

Later capabilities (escalation, reminders, customer email) queue their messages with
`enqueue` in their own transaction, with a key naming what they announce so that a
repeat of their decision queues nothing twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.notify import Channel
from opsbook.config.secrets import collect_secrets
from opsbook.incidents import hooks
from opsbook.notify.channels import Answer, SendContext, new_http, sender_for
from opsbook.notify.events import CONFIG_KEY, incident_url, on_incident_event
from opsbook.notify.message import Message
from opsbook.notify.models import DEAD, DELIVERED, PENDING, SENDING, Notification
from opsbook.notify.outbox import enqueue
from opsbook.notify.routing import route
from opsbook.store import Store
from opsbook.store.audit import audited, record

__all__ = [
    "NotifyError",
    "OutboxRow",
    "TestResult",
    "attach",
    "enqueue",
    "list_outbox",
    "retry",
    "route",
    "send_test",
]


class NotifyError(Exception):
    """A request refused in the domain's words (an unknown channel, a delivered message)."""


def attach(store: Store, config: Config) -> None:
    """From now on, every incident event written through `store` queues the notifications
    its route asks for, in the event's transaction."""
    store.info[CONFIG_KEY] = config
    hooks.listen(store.info, on_incident_event)


@dataclass(frozen=True)
class TestResult:
    channel: str
    kind: str
    outcome: str
    answer: str
    status: int | None


def send_test(
    store: Store, config: Config, *, channel: str, actor: str, clock: Clock
) -> TestResult:
    """Send a clearly marked test through the channel's own code, now (not through the
    outbox: the person asking waits for the answer). Audited, with the answer."""
    found = _channel(config, channel)
    message = Message(0, f"test-{uuid.uuid4().hex}", found.name, "test", _test_payload(config))
    secrets = collect_secrets(found)
    with audited(
        store, action="notify.test", target=found.name, actor=actor, secrets=secrets, clock=clock
    ) as audit:
        answer = asyncio.run(_send_once(found, message, clock))
        audit.details = {"outcome": answer.outcome, "answer": answer.detail}
        audit.outcome = "ok" if answer.delivered else "failed"
    return TestResult(found.name, found.kind, answer.outcome, answer.detail, answer.status)


async def _send_once(channel: Channel, message: Message, clock: Clock) -> Answer:
    async with new_http(4) as http:
        return await sender_for(channel).send(message, SendContext(http=http, clock=clock))


def _channel(config: Config, name: str) -> Channel:
    for channel in config.notify.channels:
        if channel.name == name:
            off = config.off_reason("notify.channels", name)
            if off is not None:
                raise NotifyError(f"channel {name!r} is off: {off}")
            return channel
    known = ", ".join(c.name for c in config.notify.channels) or "none configured"
    raise NotifyError(f"no channel named {name!r} (channels: {known})")


def _test_payload(config: Config) -> dict[str, Any]:
    return {
        "project": config.project,
        "incident": {
            "id": 0,
            "title": "opsbook test message: this channel works, nothing is wrong",
            "severity": "P3",
            "label": "Test",
            "status": "test",
            "component": None,
            "url": incident_url(config, 0),
        },
        "due": None,
        "changes": [],
        "text": "Sent by `opsbook notify test`. No incident is open because of it.",
    }


@dataclass(frozen=True)
class OutboxRow:
    id: int
    channel: str
    kind: str
    incident_id: int | None
    status: str
    attempts: int
    failures: int
    created_at: dt.datetime
    due_at: dt.datetime
    delivered_at: dt.datetime | None
    last_error: str | None
    answer: str | None
    key: str


def list_outbox(session: Session, *, dead: bool = False, limit: int = 100) -> list[OutboxRow]:
    """Messages not yet delivered (or only the dead ones), oldest first."""
    states = (DEAD,) if dead else (PENDING, SENDING, DEAD)
    rows = session.scalars(
        select(Notification)
        .where(Notification.status.in_(states))
        .order_by(Notification.id)
        .limit(limit)
    )
    return [_row(r) for r in rows]


def retry(session: Session, *, message_id: int, actor: str, clock: Clock) -> OutboxRow:
    """Send a dead or waiting message again now, its failures forgiven. Audited."""
    row = session.scalars(
        select(Notification).where(Notification.id == message_id).with_for_update()
    ).first()
    if row is None:
        raise NotifyError(f"no outbox message #{message_id}")
    if row.status == DELIVERED:
        raise NotifyError(f"message #{message_id} was delivered; it is not sent twice")
    if row.status == SENDING:
        raise NotifyError(f"message #{message_id} is being sent now")
    before = row.status
    row.status, row.failures, row.due_at, row.last_error = PENDING, 0, clock.now(), None
    # Its age counts from now: `give_up_after` would otherwise bury it again at once.
    row.created_at = clock.now()
    record(
        session,
        action="notify.retry",
        target=f"notification #{row.id}",
        outcome="ok",
        actor=actor,
        details={"channel": row.channel, "kind": row.kind, "was": before},
        clock=clock,
    )
    session.flush()
    return _row(row)


def _row(row: Notification) -> OutboxRow:
    return OutboxRow(
        id=row.id,
        channel=row.channel,
        kind=row.kind,
        incident_id=row.incident_id,
        status=row.status,
        attempts=row.attempts,
        failures=row.failures,
        created_at=row.created_at,
        due_at=row.due_at,
        delivered_at=row.delivered_at,
        last_error=row.last_error,
        answer=row.answer,
        key=row.key,
    )
