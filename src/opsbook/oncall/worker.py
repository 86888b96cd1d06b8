"""Escalation inside `opsbook serve`: every `escalation.tick`, take what is due.

Each round runs in a thread (the event loop never waits on the store) and only writes
the outbox and the timeline; the outbox worker beside it does the sending. Two serve
processes on one store both run it: the incident row lock and the step keys make each
page happen once (oncall/paging.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.oncall import paging
from opsbook.store import Store

log = logging.getLogger("opsbook.oncall")


class EscalationWorker:
    def __init__(self, config: Config, store: Store, *, clock: Clock) -> None:
        self.config, self.store, self.clock = config, store, clock

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; a failed round is logged and the next one tries again."""
        every = self.config.escalation.tick.total_seconds()
        while not stop.is_set():
            try:
                await asyncio.to_thread(paging.tick, self.store, self.config, clock=self.clock)
            except Exception:
                log.exception("an escalation round failed; the next one tries again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
