"""Routines inside `opsbook serve`: every `maintenance.tick`, run the slots that passed.

Each round runs in a thread (a runbook's steps block: SQL, commands, HTTP), and the
event loop never waits on it. Two serve processes on one store both tick; the claim
in routines/service.py makes each slot run once."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.routines import service
from opsbook.runbooks.actions import Registry
from opsbook.store import Store

log = logging.getLogger("opsbook.routines")


class RoutineWorker:
    def __init__(self, config: Config, store: Store, registry: Registry, *, clock: Clock) -> None:
        self.config, self.store, self.registry, self.clock = config, store, registry, clock

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; a failed round is logged and the next one tries again."""
        every = self.config.maintenance.tick.total_seconds()
        while not stop.is_set():
            try:
                started = await asyncio.to_thread(
                    service.tick, self.store, self.config, self.registry, clock=self.clock
                )
                for run in started:
                    log.info(
                        "maintenance %s for %s%s: run %s %s",
                        run.routine,
                        run.slot_at.isoformat(),
                        " (late)" if run.late else "",
                        run.run_id,
                        run.outcome,
                    )
            except Exception:
                log.exception("a maintenance round failed; the next one tries again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
