"""Posts to #deploys: a verify's verdict, a rollback. They go through the notify outbox
like a runbook's `notify:` step (queued under a key naming the deploy record, so a post
is made once, then sent at once) and say how it went: delivered, queued, failed, or not
sent because no channel shows `deploy.channel`. A post never decides a verdict."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.notify import notices
from opsbook.store import Store


@dataclass(frozen=True)
class Posted:
    """Where the post went and how it stands; `status` "not sent" names why in `words`."""

    channel: str
    status: str
    words: str

    def as_dict(self) -> dict[str, str]:
        return {"channel": self.channel, "status": self.status, "delivery": self.words}


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
    """Queue `text` to deploy.channel and send it now (or leave it queued for serve)."""
    wanted = config.deploy.channel
    try:
        with store.session() as session:
            row = notices.queue_notice(
                session,
                config,
                channel=wanted,
                text=text,
                key=key,
                incident_id=incident_id,
                actor=actor,
                clock=clock,
            )
            message_id = row.id
        sent = notices.deliver_notice(store, config, message_id=message_id, clock=clock)
    except notices.NoticeError as exc:
        return Posted(wanted, "not sent", str(exc))
    return Posted(sent.channel, sent.status, sent.words)


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
