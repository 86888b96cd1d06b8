"""The outbox worker inside `opsbook serve`: claim due messages, send them concurrently
with no store transaction open, record each outcome soon after it arrives.

Claims and records are short transactions run in a thread (the event loop never waits on
the store); the network waits happen between them, holding no lock of any kind."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import uuid
from collections.abc import Sequence

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.notify import outbox
from opsbook.notify.channels import Answer, SendContext, Sender, new_http, sender_for
from opsbook.notify.channels.base import guarded
from opsbook.notify.message import Message
from opsbook.store import Store

log = logging.getLogger("opsbook.notify")


class OutboxWorker:
    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        name: str | None = None,
    ) -> None:
        self.config, self.store, self.clock = config, store, clock
        self.policy = config.notify.outbox
        self.rng = rng or random.Random()
        self.name = name or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.senders: dict[str, Sender] = {c.name: sender_for(c) for c in config.notify.channels}
        self.inflight: set[asyncio.Task[None]] = set()
        self.done: list[tuple[Message, Answer]] = []
        self.wake = asyncio.Event()
        self.pruned_at: dt.datetime | None = None

    async def step(self, ctx: SendContext, *, only: Sequence[int] | None = None) -> int:
        """Record what finished, then claim as many due messages as there is room for and
        start sending them (`only`: among these ids); returns how many were claimed."""
        self.wake.clear()
        await self.flush()
        room = self.policy.concurrency - len(self.inflight)
        if room <= 0:
            return 0
        if not await asyncio.to_thread(outbox.has_due, self.store, clock=self.clock, only=only):
            return 0
        claimed = await asyncio.to_thread(
            outbox.claim,
            self.store,
            worker=self.name,
            limit=room,
            policy=self.policy,
            clock=self.clock,
            only=only,
        )
        for message in claimed:
            task = asyncio.create_task(self._deliver(message, ctx))
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)
        return len(claimed)

    async def _deliver(self, message: Message, ctx: SendContext) -> None:
        sender = self.senders.get(message.channel)
        if sender is None:
            answer = Answer("failed", f"no channel named {message.channel!r} in the config now")
        else:
            answer = await guarded(sender, message, ctx)
        if not answer.delivered:
            log.warning(
                "notification %d to %s (%s, attempt %d): %s",
                message.id,
                message.channel,
                message.kind,
                message.attempt,
                answer.detail,
            )
        self.done.append((message, answer))
        self.wake.set()

    async def flush(self) -> None:
        batch, self.done = self.done, []
        if not batch:
            return
        try:
            await asyncio.to_thread(
                outbox.record,
                self.store,
                batch,
                worker=self.name,
                policy=self.policy,
                clock=self.clock,
                rng=self.rng,
            )
        except Exception:
            # The store is briefly unavailable: keep the outcomes and try again; if this
            # process dies first, the leases run out and the messages go again (same key).
            log.exception("recording %d notification outcomes failed; will retry", len(batch))
            self.done = batch + self.done

    async def prune(self) -> int:
        """Prune old delivered and dead rows, at most every `prune_every` (the clock's
        time): a short batch between deliveries, so the table does not grow forever."""
        now = self.clock.now()
        if self.pruned_at is not None and now - self.pruned_at < self.policy.prune_every:
            return 0
        self.pruned_at = now
        try:
            removed = await asyncio.to_thread(
                outbox.prune, self.store, policy=self.policy, clock=self.clock
            )
        except Exception:
            log.exception("pruning the outbox failed; the next round tries again")
            return 0
        if removed:
            log.info("pruned %d old outbox messages", removed)
        return removed

    async def settle(self) -> None:
        """Wait for every send in flight and record them (a stop, or a test's step)."""
        if self.inflight:
            await asyncio.wait(set(self.inflight))
        await self.flush()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, then finish the sends in flight."""
        poll = self.policy.poll_every.total_seconds()
        async with new_http(self.policy.concurrency) as http:
            ctx = SendContext(http=http, clock=self.clock)
            while not stop.is_set():
                await self.prune()
                try:
                    claimed = await self.step(ctx)
                except Exception:
                    log.exception("the outbox worker could not claim; will retry")
                    claimed = 0
                if claimed and len(self.inflight) < self.policy.concurrency:
                    continue  # more may be due: a backlog drains without waiting a poll
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), poll)
            await self.settle()


async def deliver_due(
    config: Config, store: Store, *, clock: Clock, rng: random.Random, rounds: int = 10_000
) -> int:
    """Send what is due now, round after round until nothing is, and record how each went;
    returns how many sends were made. For tests and the benchmark (serve runs `run`).
    `rounds` bounds it: with a frozen clock, `Retry-After: 0` would be due forever."""
    worker = OutboxWorker(config, store, clock=clock, rng=rng)
    sent = 0
    async with new_http(worker.policy.concurrency) as http:
        ctx = SendContext(http=http, clock=clock)
        for _ in range(rounds):
            claimed = await worker.step(ctx)
            await worker.settle()
            if not claimed:
                break
            sent += claimed
    return sent
