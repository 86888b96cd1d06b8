"""Notices: a line for a team's channel ("Deploying abc to production", "Rolled back"),
from a runbook's `notify:` step, through the outbox like every other message.

A notice is queued in the caller's transaction under a key naming its run and step, so a
resumed run does not post it twice. Then it is sent at once through the outbox's own
claim and record (no second sending path): serve or no serve, the step learns how it
went. When another holder has it (a serve claimed it first) or it waits behind earlier
messages of its incident, the step waits a bounded time (the channel's timeout and a
second) and then says plainly that it is queued: never "ok" for what did not arrive."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.notify import Channel, PagerDutyChannel, SlackChannel
from opsbook.notify import outbox
from opsbook.notify.channels import SendContext, new_http
from opsbook.notify.message import cut, one_line
from opsbook.notify.models import DEAD, DELIVERED, PENDING, Notification
from opsbook.notify.worker import OutboxWorker
from opsbook.store import Store

NOTICE = "notice"
TEXT_LIMIT = 4_000  # characters of a notice kept: a line for a channel, not a document
QUEUED = "queued; opsbook serve delivers it"
POLL = 0.05  # seconds between looks at a notice another process is sending


class NoticeError(ValueError):
    """A notice that cannot go where it was sent, in words naming the channel."""


def notice_channel(config: Config, wanted: str) -> Channel:
    """The channel a notice names: a channel's `name`, or what a Slack channel shows
    (`channel: "#deploys"`, written with or without the `#`). PagerDuty takes incidents,
    not notices, and an off channel would only queue what cannot go: both refused."""
    found = next((c for c in config.notify.channels if c.name == wanted), None)
    if found is None:
        shown = [
            c
            for c in config.notify.channels
            if isinstance(c, SlackChannel) and c.channel and _same(c.channel, wanted)
        ]
        if len(shown) > 1:
            names = ", ".join(c.name for c in shown)
            raise NoticeError(f"{wanted!r} is shown by several channels ({names}): name one")
        found = shown[0] if shown else None
    if found is None:
        raise NoticeError(f"no channel named or showing {wanted!r} ({_known(config)})")
    if isinstance(found, PagerDutyChannel):
        raise NoticeError(
            f"channel {found.name!r} is PagerDuty, which takes incidents (trigger, acknowledge,"
            " resolve), not notices: send notices to a Slack, email or webhook channel"
        )
    off = config.off_reason("notify.channels", found.name)
    if off is not None:
        raise NoticeError(f"channel {found.name!r} is off: {off}")
    return found


def _same(display: str, wanted: str) -> bool:
    return display.lstrip("#").casefold() == wanted.lstrip("#").casefold()


def _known(config: Config) -> str:
    names = [
        f"{c.name} ({c.channel})" if isinstance(c, SlackChannel) and c.channel else c.name
        for c in config.notify.channels
    ]
    return "channels: " + (", ".join(names) or "none configured")


def queue_notice(
    session: Session,
    config: Config,
    *,
    channel: str,
    text: str,
    key: str | None,
    incident_id: int | None,
    actor: str,
    clock: Clock,
) -> Notification:
    """Queue a notice in the caller's transaction; with `key`, once (a repeat returns the
    message already queued, delivered or not)."""
    found = notice_channel(config, channel)
    payload: dict[str, Any] = {
        "project": config.project,
        "text": cut(text, TEXT_LIMIT),
        "actor": actor,
        "at": clock.now().isoformat(),
        "incident": {"id": incident_id} if incident_id is not None else {},
    }
    return outbox.enqueue(
        session,
        channel=found.name,
        kind=NOTICE,
        incident_id=incident_id,
        payload=payload,
        clock=clock,
        key=key,
    )


@dataclass(frozen=True)
class NoticeResult:
    """How a notice went: `delivered`, `queued` (serve sends it) or `failed` (dead)."""

    channel: str
    status: str
    detail: str
    message_id: int

    @property
    def words(self) -> str:
        if self.status == "delivered":
            return "delivered"
        if self.status == "failed":
            return f"failed: {self.detail}"
        return f"{QUEUED} ({self.detail})" if self.detail else QUEUED


def deliver_notice(
    store: Store,
    config: Config,
    *,
    message_id: int,
    clock: Clock,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> NoticeResult:
    """Send the queued notice now through the outbox's claim and record (and, first, the
    messages of its incident to its channel still waiting ahead of it: it goes out in
    their order), or wait for whoever holds one, up to the channel's timeout and a second;
    then say how it stands."""
    row = _row(store, message_id)
    channel = next((c for c in config.notify.channels if c.name == row.channel), None)
    patience = (channel.timeout if channel else dt.timedelta(seconds=10)).total_seconds() + 1
    waited = 0.0  # counted in the sleeps taken: a test's sleep returns at once
    while True:
        if row.status == PENDING and row.due_at <= clock.now():
            line = outbox.line_to(store, message_id)
            asyncio.run(_send_now(config, store, line, clock, rng or random.Random()))
            row = _row(store, message_id)
        settled = row.status in (DELIVERED, DEAD) or (row.status == PENDING and row.attempts)
        if settled or waited >= patience:
            return _result(row)
        sleep(POLL)
        waited += POLL
        row = _row(store, message_id)


async def _send_now(
    config: Config, store: Store, line: list[int], clock: Clock, rng: random.Random
) -> None:
    """Send `line` in order: each step claims only what is not waiting behind another."""
    worker = OutboxWorker(config, store, clock=clock, rng=rng)
    async with new_http(1) as http:
        context = SendContext(http=http, clock=clock)
        for _ in line:
            if not await worker.step(context, only=line):
                break
            await worker.settle()


def _row(store: Store, message_id: int) -> Notification:
    with store.reading() as session:
        row = session.get(Notification, message_id)
        if row is None:
            raise NoticeError(f"outbox message #{message_id} is gone")
        session.expunge(row)
        return row


def _result(row: Notification) -> NoticeResult:
    if row.status == DELIVERED:
        return NoticeResult(row.channel, "delivered", row.answer or "", row.id)
    if row.status == DEAD:
        return NoticeResult(row.channel, "failed", one_line(row.last_error or ""), row.id)
    why = row.last_error or (
        "being sent" if row.attempts else "waiting behind earlier messages to the channel"
    )
    return NoticeResult(row.channel, "queued", one_line(why), row.id)
