"""The scheduler with an injected clock: intervals from the schedule, no overlap, no crash."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import Any

import pytest

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.store import Store
from opsbook.watch import service
from opsbook.watch.probe import ProbeContext, new_session
from opsbook.watch.result import CheckResult
from opsbook.watch.scheduler import LAGS_KEPT, Scheduler


def config(*checks: dict[str, Any]) -> Config:
    return Config.model_validate({"watch": {"jitter": 0}, "checks": list(checks)})


async def _cycle(scheduler: Scheduler) -> int:
    async with new_session() as session:
        ctx = ProbeContext(session=session, config=scheduler.config, clock=scheduler.clock)
        started = scheduler.launch(ctx)
        if scheduler.tasks:
            await asyncio.wait(scheduler.tasks)
        await scheduler.flush()
        return started


def test_intervals_are_measured_from_the_schedule(store: Store, clock: FrozenClock) -> None:
    start = clock.now()
    scheduler = Scheduler(
        config({"name": "ok", "kind": "command", "command": "true", "interval": "10s"}),
        store,
        clock=clock,
    )
    assert asyncio.run(_cycle(scheduler)) == 1
    [slot] = scheduler.slots
    assert slot.due == start + dt.timedelta(seconds=10)
    clock.advance(dt.timedelta(seconds=9))
    assert asyncio.run(_cycle(scheduler)) == 0  # not due yet
    clock.advance(dt.timedelta(seconds=2))  # 11s: due at 10s, runs late
    assert asyncio.run(_cycle(scheduler)) == 1
    assert slot.due == start + dt.timedelta(seconds=20)  # not 11s + 10s
    clock.advance(dt.timedelta(seconds=25))  # 36s: missed the 20s and 30s slots
    asyncio.run(_cycle(scheduler))
    assert slot.due == start + dt.timedelta(seconds=40)


def test_a_running_check_is_not_started_again(store: Store, clock: FrozenClock) -> None:
    scheduler = Scheduler(
        config({"name": "slow", "kind": "command", "command": "true"}), store, clock=clock
    )
    scheduler.slots[0].running = True
    assert scheduler.due() == []


def test_jitter_spreads_first_runs_within_the_fraction(store: Store, clock: FrozenClock) -> None:
    checks = [
        {"name": f"c{i}", "kind": "command", "command": "true", "interval": "100s"}
        for i in range(20)
    ]
    cfg = Config.model_validate({"watch": {"jitter": 0.1}, "checks": checks})
    scheduler = Scheduler(cfg, store, clock=clock, rng=random.Random(3))
    offsets = [(s.due - clock.now()).total_seconds() for s in scheduler.slots]
    assert all(0 <= o <= 10 for o in offsets) and len(set(offsets)) == 20


def test_results_debounce_then_alert_and_state_survives(store: Store, clock: FrozenClock) -> None:
    cfg = config(
        {
            "name": "db-down",
            "kind": "command",
            "command": "exit 1",
            "interval": "10s",
            "fail_after": 2,
            "severity": "P1",
            "component": "database",
        }
    )
    scheduler = Scheduler(cfg, store, clock=clock)
    asyncio.run(_cycle(scheduler))
    [state] = service.check_states(store)
    assert (state.state, state.failing, state.failures) == ("down", False, 1)
    assert service.open_alerts(store) == []
    clock.advance(dt.timedelta(seconds=10))
    # A fresh scheduler (a restart) continues from the stored counters.
    asyncio.run(_cycle(Scheduler(cfg, store, clock=clock)))
    [state] = service.check_states(store)
    assert state.failing is True
    [alert] = service.open_alerts(store)
    assert (alert.rule, alert.state, alert.incident_id is not None) == (
        "check:db-down",
        "firing",
        True,
    )


def test_one_broken_check_does_not_stop_the_others(store: Store, clock: FrozenClock) -> None:
    cfg = config(
        {"name": "broken", "kind": "http", "url": "http://[::1"},
        {"name": "fine", "kind": "command", "command": "true"},
    )
    scheduler = Scheduler(cfg, store, clock=clock)
    assert asyncio.run(_cycle(scheduler)) == 2
    states = {s.name: s.state for s in service.check_states(store)}
    assert states["fine"] == "ok" and states["broken"] in ("down", "error")


def test_what_a_slot_remembers_stays_bounded(store: Store, clock: FrozenClock) -> None:
    scheduler = Scheduler(
        config({"name": "c", "kind": "command", "command": "true", "interval": "10s"}),
        store,
        clock=clock,
    )
    for _ in range(LAGS_KEPT + 5):
        asyncio.run(_cycle(scheduler))
        clock.advance(dt.timedelta(seconds=12))  # each run starts later on its slot
    [slot] = scheduler.slots
    assert slot.runs == LAGS_KEPT + 5
    # Only the latest lags are kept: the first run's (the only one on time) is gone.
    assert len(slot.lags) == LAGS_KEPT and 0.0 not in slot.lags
    assert list(slot.lags)[-3:] == [6.0, 8.0, 10.0]


def test_results_wait_for_a_broken_store_up_to_a_bound(
    store: Store,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = Scheduler(
        config({"name": "c", "kind": "command", "command": "true"}), store, clock=clock, backlog=5
    )
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE check_state")  # the store really fails now
    result = CheckResult("c", "command", "ok", "exit 0", clock.now())
    scheduler.finished = [result] * 3
    assert asyncio.run(scheduler.flush()) == 0
    assert len(scheduler.finished) == 3  # kept for the next try
    scheduler.finished += [result] * 4
    assert asyncio.run(scheduler.flush()) == 0
    assert len(scheduler.finished) == 5
    assert "dropped the 2 oldest check results" in caplog.text
