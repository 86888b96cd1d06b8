"""Posts to #deploys: a verify's verdict, a rollback, a checklist's "Deploying X". They go
through the notify outbox like a runbook's `notify:` step (queued under a key naming what
it announces, so a post is made once, then sent at once) and say how it went: delivered,
queued, failed, or not sent because no channel shows `deploy.channel`.

A repeat (the key seen before) posts nothing new once the first was delivered ("already
announced WHEN"). One never delivered is sent again now through the outbox's own claim,
so the repeat is what finally tells the team: a queued one is made due at once, a dead one
requeued as `opsbook notify retry` would (audited as a retry), one being sent is waited
for. Its words say it was "queued at WHEN" and how it stands. A post never decides a
verdict."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.notify import notices, outbox
from opsbook.notify import service as notify_service
from opsbook.notify.models import DEAD, DELIVERED, PENDING, Notification
from opsbook.store import Store


@dataclass(frozen=True)
class Posted:
    """Where the post went and how it stands; `status` "not sent" names why in `words`.
    `earlier` is when an earlier call delivered the same post (so this one posted nothing
    new); `queued_at` is when the same post was first queued, when this call found it
    queued already (its key seen before)."""

    channel: str
    status: str
    words: str
    earlier: dt.datetime | None = None
    queued_at: dt.datetime | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "channel": self.channel,
            "status": self.status,
            "delivery": self.words,
            "announced_at": self.earlier.isoformat() if self.earlier else None,
            "queued_at": self.queued_at.isoformat() if self.queued_at else None,
        }


@dataclass(frozen=True)
class _Found:
    """The post already queued under the key, as this call found it."""

    id: int
    status: str
    queued_at: dt.datetime
    delivered_at: dt.datetime | None


def post(
    store: Store,
    config: Config,
    *,
    text: str,
    key: str,
    incident_id: int | None,
    actor: str,
    clock: Clock,
) -> Posted:
    """Queue `text` to deploy.channel and send it now (or leave it queued for serve); a
    post already queued under `key` is not queued again: said as delivered when it was,
    else sent again now."""
    wanted = config.deploy.channel

    def queue(session: Session) -> Notification:
        return notices.queue_notice(
            session,
            config,
            channel=wanted,
            text=text,
            key=key,
            incident_id=incident_id,
            actor=actor,
            clock=clock,
        )

    try:
        message_id, found = _queue_once(store, key, queue, actor=actor, clock=clock)
        sent = notices.deliver_notice(store, config, message_id=message_id, clock=clock)
    except notices.NoticeError as exc:
        return Posted(wanted, "not sent", str(exc))
    if found is None:
        return Posted(sent.channel, sent.status, sent.words)
    return _repeat(sent, found)


def _repeat(sent: notices.NoticeResult, found: _Found) -> Posted:
    """A post whose key was seen before, in words that say which of its states it is."""
    queued = found.queued_at
    if found.status == DELIVERED and found.delivered_at is not None:
        said = f"already announced {_when(found.delivered_at)}"
        return Posted(sent.channel, sent.status, said, found.delivered_at, queued)
    if sent.status == "delivered":
        said = f"delivered (first queued at {_when(queued)})"
    elif sent.status == "failed":
        said = f"queued at {_when(queued)}, not delivered: {sent.words}"
    else:
        why = f" ({sent.detail})" if sent.detail else ""
        said = f"queued at {_when(queued)}, not delivered yet{why}; opsbook serve delivers it"
    return Posted(sent.channel, sent.status, said, None, queued)


def _when(at: dt.datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M %Z}".rstrip()


def _send_again(session: Session, found: Notification, *, actor: str, clock: Clock) -> None:
    """A post never delivered, made due now: a queued one (waiting out a backoff while its
    channel was down), or a dead one requeued as a retry. One being sent is left to its
    sender; one delivered is not sent twice."""
    if found.status == PENDING:
        outbox.make_due(session, message_id=found.id, clock=clock)
    elif found.status == DEAD:
        notify_service.retry(session, message_id=found.id, actor=actor, clock=clock)


def _queue_once(
    store: Store, key: str, queue: Callable[[Session], Notification], *, actor: str, clock: Clock
) -> tuple[int, _Found | None]:
    """The message's id, and how it stood if it was queued before this call."""
    try:
        return _queued(store, key, queue, actor=actor, clock=clock)
    except IntegrityError:
        # Another check queued the same key between our look and our insert (the key is
        # unique): a second look finds theirs.
        return _queued(store, key, queue, actor=actor, clock=clock)


def _queued(
    store: Store, key: str, queue: Callable[[Session], Notification], *, actor: str, clock: Clock
) -> tuple[int, _Found | None]:
    with store.session() as session:
        row = outbox.keyed(session, key)
        if row is None:
            return queue(session).id, None
        found = _Found(row.id, row.status, row.created_at, row.delivered_at)
        _send_again(session, row, actor=actor, clock=clock)
        return row.id, found


async def post_async(
    store: Store,
    config: Config,
    *,
    text: str,
    key: str,
    incident_id: int | None,
    actor: str,
    clock: Clock,
) -> Posted:
    """`post` from async code: delivery runs its own event loop, so in a thread."""
    return await asyncio.to_thread(
        post,
        store,
        config,
        text=text,
        key=key,
        incident_id=incident_id,
        actor=actor,
        clock=clock,
    )
