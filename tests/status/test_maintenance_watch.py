"""A maintenance under way quiets its components' checks: the scheduler, with an injected
clock, runs a failing check before, during and after the window; only outside it does the
check open an incident. Its results and its alert are still recorded, marked."""

from __future__ import annotations

import asyncio
import datetime as dt

from opsbook.clock import FrozenClock
from opsbook.incidents import service as incidents
from opsbook.status import maintenance
from opsbook.store import Store, open_store
from opsbook.watch import service
from opsbook.watch.probe import ProbeContext, new_session
from opsbook.watch.scheduler import Scheduler
from tests.status.factories import status_config


async def _cycle(scheduler: Scheduler) -> None:
    async with new_session() as session:
        ctx = ProbeContext(session=session, config=scheduler.config, clock=scheduler.clock)
        scheduler.launch(ctx)
        if scheduler.tasks:
            await asyncio.wait(scheduler.tasks)
        await scheduler.flush()


def _open_incidents(store: Store) -> int:
    with store.reading() as session:
        return len(incidents.list_incidents(session, open_only=True))


def test_a_window_in_progress_opens_no_incident(store_url: str, clock: FrozenClock) -> None:
    config = status_config(store_url)
    store = open_store(store_url)
    try:
        start = clock.now() + dt.timedelta(seconds=5)
        with store.session() as session:
            planned = maintenance.schedule(
                session=session, status=config.status, title="Database upgrade",
                components=["Database"], start=start, end=start + dt.timedelta(minutes=10),
                actor="t", clock=clock,
            )  # fmt: skip
        clock.advance(dt.timedelta(seconds=30))  # inside the window
        # Only `pg-main` (exit 1) runs: the http checks point at nothing real.
        config = config.model_copy(
            update={"checks": [c for c in config.checks if c.name == "pg-main"]}
        )
        scheduler = Scheduler(config, store, clock=clock)
        for _ in range(3):
            asyncio.run(_cycle(scheduler))
            clock.advance(dt.timedelta(seconds=30))
        [state] = service.check_states(store)
        assert (state.name, state.state, state.failing) == ("pg-main", "down", True)
        [alert] = service.open_alerts(store)
        assert alert.state == "firing" and alert.incident_id is None
        assert alert.summary.startswith(f"in maintenance #{planned.id}: ")
        assert _open_incidents(store) == 0
        clock.advance(dt.timedelta(minutes=10))  # the window has ended: a fault again
        asyncio.run(_cycle(scheduler))
        [alert] = service.open_alerts(store)
        assert alert.incident_id is not None and not alert.summary.startswith("in maintenance")
        assert _open_incidents(store) == 1
    finally:
        store.close()


def test_completing_by_hand_ends_the_quiet(store_url: str, clock: FrozenClock) -> None:
    config = status_config(store_url)
    config = config.model_copy(update={"checks": [c for c in config.checks if c.name == "pg-main"]})
    store = open_store(store_url)
    try:
        start = clock.now() + dt.timedelta(hours=1)
        with store.session() as session:
            planned = maintenance.schedule(
                session=session, status=config.status, title="Early work",
                components=["Database"], start=start, end=start + dt.timedelta(hours=1),
                actor="t", clock=clock,
            )  # fmt: skip
            maintenance.start(session=session, maintenance_id=planned.id, actor="t", clock=clock)
        scheduler = Scheduler(config, store, clock=clock)
        asyncio.run(_cycle(scheduler))
        assert _open_incidents(store) == 0
        with store.session() as session:
            maintenance.complete(session=session, maintenance_id=planned.id, actor="t", clock=clock)
        clock.advance(dt.timedelta(seconds=30))
        asyncio.run(_cycle(scheduler))
        assert _open_incidents(store) == 1
    finally:
        store.close()
