"""Posts to #deploys: a verify's verdict, a rollback. They go through the notify outbox
like a runbook's `notify:` step (queued under a key naming what it announces, so a post
is made once, then sent at once) and say how it went: delivered, queued, failed, or not
sent because no channel shows `deploy.channel`; a repeat says when the first was queued
and posts nothing new. A post never decides a verdict."""

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
from opsbook.notify.models import Notification
from opsbook.store import Store


@dataclass(frozen=True)
class Posted:
    """Where the post went and how it stands; `status` "not sent" names why in `words`.
    `earlier` is when the same post was first queued, when this call found it queued
    already (its key seen before) and so posted nothing new."""

    channel: str
    status: str
    words: str
    earlier: dt.datetime | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "channel": self.channel,
            "status": self.status,
            "delivery": self.words,
            "announced_at": self.earlier.isoformat() if self.earlier else None,
        }


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
    post already queued under `key` is not queued again, only said as it stands."""
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
        message_id, earlier = _queue_once(store, key, queue)
        sent = notices.deliver_notice(store, config, message_id=message_id, clock=clock)
    except notices.NoticeError as exc:
        return Posted(wanted, "not sent", str(exc))
    if earlier is None:
        return Posted(sent.channel, sent.status, sent.words)
    said = f"already announced {earlier:%Y-%m-%d %H:%M %Z}: {sent.words}"
    return Posted(sent.channel, sent.status, said, earlier)


def _queue_once(
    store: Store, key: str, queue: Callable[[Session], Notification]
) -> tuple[int, dt.datetime | None]:
    """The message's id, and when it was first queued if it was before this call."""
    try:
        return _queued(store, key, queue)
    except IntegrityError:
        # Another check queued the same key between our look and our insert (the key is
        # unique): a second look finds theirs.
        return _queued(store, key, queue)


def _queued(
    store: Store, key: str, queue: Callable[[Session], Notification]
) -> tuple[int, dt.datetime | None]:
    with store.session() as session:
        found = outbox.keyed(session, key)
        row = found or queue(session)
        return row.id, found.created_at if found else None


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
