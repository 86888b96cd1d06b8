"""Run every check on its interval: bounded concurrency, jitter, never two runs of one
check at once, each interval measured from the schedule (not from when a run ended),
and no single check able to stop the loop."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections import deque
from dataclasses import dataclass, field

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.checks import CheckBase
from opsbook.store import Store
from opsbook.watch import service
from opsbook.watch.lag import LagMeter
from opsbook.watch.probe import ProbeContext, new_session
from opsbook.watch.result import CheckResult
from opsbook.watch.runner import run_one

log = logging.getLogger("opsbook.watch")
LAGS_KEPT = 16
FLUSH_EVERY = dt.timedelta(milliseconds=500)
BACKLOG = 100_000  # results waiting for the store: ~100 s at 1,000 checks/s


@dataclass
class Slot:
    """One check's place in the schedule: when it is next due, and whether it runs now."""

    check: CheckBase
    due: dt.datetime
    running: bool = False
    runs: int = 0
    # The last few scheduling lags (seconds): bounded, serve runs for months.
    lags: deque[float] = field(default_factory=lambda: deque(maxlen=LAGS_KEPT))


class Scheduler:
    """Runs `config.checks` on their intervals and stores their results in batches;
    evaluates the alert rules (and detaches alerts from incidents a person resolved) every
    `watch.evaluate_every`, and prunes history hourly."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        backlog: int = BACKLOG,
        lag: LagMeter | None = None,
    ) -> None:
        self.config, self.store, self.clock = config, store, clock
        self.backlog = backlog
        self.lag = lag or LagMeter()  # what /metrics reads
        self.rounds = 0  # launches that started at least one check
        rng = rng or random.Random()
        now = clock.now()
        # Jitter spreads the first runs so checks with one interval do not fire together.
        self.slots = [
            Slot(check, now + check.interval * rng.uniform(0, config.watch.jitter))
            for check in config.checks
            if config.off_reason("checks", check.name) is None
        ]
        self.gate = asyncio.Semaphore(config.watch.concurrency)
        self.tasks: set[asyncio.Task[None]] = set()
        self.next_rules = now
        self.next_prune = now
        self.finished: list[CheckResult] = []
        self.flushing: asyncio.Task[int] | None = None
        self.next_flush = now

    def due(self) -> list[Slot]:
        """The checks due now that are not already running."""
        now = self.clock.now()
        return [s for s in self.slots if not s.running and s.due <= now]

    def _advance(self, slot: Slot) -> None:
        """Next run on the schedule; a run that overran skips the slots it missed."""
        now = self.clock.now()
        slot.due += slot.check.interval
        if slot.due <= now:
            missed = (now - slot.due) // slot.check.interval + 1
            slot.due += slot.check.interval * missed

    async def _run(self, slot: Slot, ctx: ProbeContext, round_number: int) -> None:
        try:
            async with self.gate:
                # Measured once the gate lets it in: a full gate is lateness too.
                lag = (self.clock.now() - slot.due).total_seconds()
                slot.lags.append(lag)
                self.lag.observe(lag, round_number=round_number)
                result = await run_one(slot.check, ctx)
            self.finished.append(result)  # stored by the next background flush
        except Exception:  # the loop outlives any one check
            log.exception("check %s failed to run", slot.check.name)
        finally:
            slot.runs += 1
            slot.running = False
            self._advance(slot)

    def launch(self, ctx: ProbeContext) -> int:
        """Start every due check as a task; returns how many started."""
        started = 0
        for slot in self.due():
            slot.running = True
            task = asyncio.create_task(self._run(slot, ctx, self.rounds))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            started += 1
        self.rounds += 1 if started else 0
        return started

    async def flush(self) -> int:
        """Store what finished since the last flush, in one transaction."""
        batch, self.finished = self.finished, []
        if not batch:
            return 0
        try:
            await asyncio.to_thread(
                service.process_results, self.store, self.config, batch, clock=self.clock
            )
        except Exception:
            # Keep the results (the store may be briefly unavailable) and try again next tick,
            # but never more than `backlog` of them: a store down for an hour must not take
            # the memory of the process that would report it.
            log.exception("storing %d check results failed; will retry", len(batch))
            self.finished = batch + self.finished
            if len(self.finished) > self.backlog:
                dropped = len(self.finished) - self.backlog
                del self.finished[:dropped]
                log.error("store unavailable: dropped the %d oldest check results", dropped)
            return 0
        return len(batch)

    def flush_in_background(self) -> None:
        """One flush at a time, off the scheduling path: storing never delays a launch.
        Flushes are at least FLUSH_EVERY apart so that, at a thousand checks a second, each
        transaction carries hundreds of results and its fixed cost is paid rarely."""
        now = self.clock.now()
        idle = self.flushing is None or self.flushing.done()
        if self.finished and idle and now >= self.next_flush:
            self.next_flush = now + FLUSH_EVERY
            self.flushing = asyncio.create_task(self.flush())

    async def housekeeping(self) -> None:
        """Flush finished results, evaluate rules and prune, each when its time has come."""
        self.flush_in_background()
        now = self.clock.now()
        if now >= self.next_rules:
            self.next_rules = now + self.config.watch.evaluate_every
            await asyncio.to_thread(
                service.evaluate_rules, self.store, self.config, clock=self.clock
            )
            await asyncio.to_thread(service.detach_resolved, self.store, clock=self.clock)
        if now >= self.next_prune:
            self.next_prune = now + dt.timedelta(hours=1)
            await asyncio.to_thread(service.prune, self.store, self.config, clock=self.clock)

    async def run(self, stop: asyncio.Event, *, tick: float = 0.1) -> None:
        """Schedule until `stop` is set, then let the running checks finish and store them."""
        async with new_session(limit=self.config.watch.concurrency) as session:
            ctx = ProbeContext(
                session=session, config=self.config, clock=self.clock, store=self.store
            )
            while not stop.is_set():
                self.launch(ctx)
                try:
                    await self.housekeeping()
                except Exception:
                    log.exception("rule evaluation failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), tick)
            if self.tasks:
                await asyncio.wait(self.tasks, timeout=10)
            if self.flushing is not None:
                await self.flushing
            await self.flush()
