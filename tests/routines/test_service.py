"""Routines run by the scheduler on an injected clock: when they fire, a missed run, the
open checklist until a person marks it done, history, key reminders and audits."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from opsbook.clock import FrozenClock
from opsbook.registry import default_registry
from opsbook.routines.models import RoutineRun
from opsbook.routines.worker import RoutineWorker
from opsbook.store.audit import entries
from tests.routines.conftest import Setup, make_setup


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def test_weekly_runs_at_0900_berlin_each_monday_winter_and_summer(weekly: Setup) -> None:
    weekly.clock.set(utc(2026, 3, 22, 12))
    assert weekly.tick() == []  # first seen: last Monday is not owed
    weekly.clock.set(utc(2026, 3, 23, 7, 59))
    assert weekly.tick() == []
    weekly.clock.set(utc(2026, 3, 23, 8))  # 09:00 CET
    [run] = weekly.tick()
    assert (run.slot_at, run.late, run.outcome) == (utc(2026, 3, 23, 8), False, "waiting")
    assert weekly.tick() == []
    weekly.clock.set(utc(2026, 3, 30, 7))  # 09:00 CEST, after the change
    [run] = weekly.tick()
    assert run.slot_at == utc(2026, 3, 30, 7)


def _ticks_through(setup: Setup, start: dt.datetime, hours: int) -> list[tuple[str, str]]:
    """Tick every 10 minutes from `start` (after a first tick there, which catches up on
    what passed before it); (slot, when it ran) for each run, in UTC."""
    setup.clock.set(start - dt.timedelta(minutes=1))
    setup.tick()
    setup.clock.set(start)
    ran = []
    for _ in range(hours * 6 + 1):
        ran += [(r.slot_at.isoformat(), setup.clock.now().isoformat()) for r in setup.tick()]
        setup.clock.advance(dt.timedelta(minutes=10))
    return ran


@pytest.fixture
def new_york(tmp_path: Path, clock: FrozenClock) -> Iterator[Setup]:
    yield from make_setup(
        tmp_path,
        "maintenance:\n  routines:\n"
        "    early: {runbook: checklist, cron: '30 2 * * *', timezone: America/New_York}\n"
        "    night: {runbook: checklist, schedule: daily 01:30, timezone: America/New_York}\n",
        clock,
    )


def test_spring_forward_0230_runs_once_at_0300_and_fall_back_0130_once(new_york: Setup) -> None:
    spring = _ticks_through(new_york, utc(2026, 3, 8, 4), 6)  # 23:00 EST .. 03:00 EDT
    assert spring == [
        ("2026-03-08T06:30:00+00:00", "2026-03-08T06:30:00+00:00"),  # night, 01:30 EST
        ("2026-03-08T07:00:00+00:00", "2026-03-08T07:00:00+00:00"),  # early, 02:30 -> 03:00 EDT
    ]
    autumn = _ticks_through(new_york, utc(2026, 11, 1, 4), 5)  # 00:00 EDT .. 04:00 EST
    assert autumn == [
        ("2026-11-01T05:30:00+00:00", "2026-11-01T05:30:00+00:00"),  # night: 01:30 EDT only
        ("2026-11-01T07:30:00+00:00", "2026-11-01T07:30:00+00:00"),  # early: 02:30 EST
    ]


def test_three_weeks_down_runs_once_and_says_it_was_late(weekly: Setup) -> None:
    weekly.clock.set(utc(2026, 3, 1, 12))
    weekly.tick()
    weekly.clock.set(utc(2026, 3, 22, 12))  # three Mondays passed while down
    [run] = weekly.tick()
    assert (run.slot_at, run.late, run.missed) == (utc(2026, 3, 16, 8), True, 2)
    assert weekly.tick() == []
    [entry] = weekly.cli_json("maintenance", "history", "weekly")
    assert (entry["late"], entry["missed"], entry["trigger"]) == (True, 2, "schedule")
    shown = weekly.cli("maintenance", "history", "weekly").stdout
    assert "late" in shown and "(+2 missed)" in shown


def test_manual_steps_stay_due_until_a_person_marks_them_done(weekly: Setup) -> None:
    weekly.clock.set(utc(2026, 3, 22, 12))
    weekly.tick()
    weekly.clock.set(utc(2026, 3, 23, 8, 5))
    [run] = weekly.tick()
    due = weekly.cli_json("maintenance", "due")
    [checklist] = due["checklists"]
    assert [s["id"] for s in checklist["steps"]] == ["look", "disk"]
    assert checklist["mark_done"] == f"opsbook runbook resume {run.run_id} --done look --done disk"
    status = weekly.cli("status")
    assert "1 maintenance check due: weekly (2 steps), see opsbook maintenance due" in " ".join(
        status.stdout.split()
    )
    assert weekly.cli_json("status")["maintenance_due"] == [
        {"routine": "weekly", "run_id": run.run_id, "steps": 2}
    ]
    done = weekly.cli("runbook", "resume", str(run.run_id), "--done", "look", "--done", "disk")
    assert done.exit_code == 0, done.output
    assert weekly.cli_json("maintenance", "due")["checklists"] == []
    assert "maintenance check" not in weekly.cli("status").stdout
    [entry] = weekly.cli_json("maintenance", "history")
    assert entry["outcome"] == "succeeded"
    assert [f["status"] for f in entry["findings"]] == ["confirmed", "confirmed"]


def test_run_now_is_recorded_like_a_scheduled_run_and_audited(weekly: Setup) -> None:
    weekly.clock.set(utc(2026, 3, 24, 15))
    result = weekly.cli("maintenance", "run", "weekly")
    assert result.exit_code == 0, result.output
    assert "waiting" in result.stdout
    [row] = weekly.cli_json("maintenance", "routines")
    assert (row["name"], row["schedule"], row["timezone"]) == (
        "weekly",
        "weekly monday 09:00",
        "Europe/Berlin",
    )
    assert row["next_run_local"] == "2026-03-30 09:00 CEST"
    assert (row["last_run"], row["last_outcome"]) == ("2026-03-24T15:00:00+00:00", "waiting")
    with weekly.store.reading() as session:
        [claim] = session.scalars(select(RoutineRun)).all()
        assert claim.trigger == "manual"
        audit = entries(session, action="maintenance.run")
    assert [a.outcome for a in audit] == ["ok", "started"]
    assert audit[0].details["run"] == claim.run_id


@pytest.mark.parametrize("name", ["; rm -rf /", "$(id)", "[/x]bold", "\x1b[31mred", "x" * 5000])
def test_unknown_routine_or_key_is_refused_by_name(weekly: Setup, name: str) -> None:
    for command in (["run", name], ["rotated", name], ["history", name]):
        result = weekly.cli("maintenance", *command)
        assert result.exit_code == 2, result.output
        assert "\x1b[31m" not in result.output
    with weekly.store.reading() as session:
        assert session.scalars(select(RoutineRun)).all() == []
        assert entries(session, action="maintenance.rotated") == []


def test_key_reminders_say_when_each_key_was_last_rotated(weekly: Setup) -> None:
    weekly.clock.set(utc(2026, 6, 2, 12))
    result = weekly.cli("maintenance", "rotated", "stripe", "--on", "2026-06-01")
    assert result.exit_code == 0, result.output
    for bad in ("2026-06-03", "$(id)", "99999999-01-01", "1900-01-01"):
        assert weekly.cli("maintenance", "rotated", "stripe", "--on", bad).exit_code == 2
    weekly.clock.set(utc(2026, 11, 27, 12))
    says = [k["says"] for k in weekly.cli_json("maintenance", "due")["keys_due"]]
    assert says == [
        "vapi: never rotated (every 90 days)",
        "stripe: last rotated 2026-06-01, 179 days ago (every 90 days)",
    ]
    with weekly.store.reading() as session:
        [audit] = entries(session, action="maintenance.rotated")
    assert (audit.target, audit.details) == ("key stripe", {"rotated_on": "2026-06-01"})


MONTHLY_RUNBOOK = """\
name: monthly-checks
title: Monthly machine checks
steps:
  - id: keys_due
    title: Keys due
    uses: maintenance.key_rotation
    on_fail: continue
  - id: dependency_audit
    title: Audit
    uses: maintenance.dependency_audit
    on_fail: continue
"""


def test_monthly_audit_commands_and_keys_are_kept_as_findings(
    tmp_path: Path, clock: FrozenClock
) -> None:
    hostile = ["; rm -rf /", "$(id)", "[/x]", "'quoted\""]
    maintenance = (
        "maintenance:\n  routines:\n"
        "    monthly: {runbook: monthly-checks, schedule: monthly first friday 09:00}\n"
        "  audit_commands:\n"
        f"    - [{sys.executable}, -c, \"print('1 vulnerability'); raise SystemExit(1)\"]\n"
        f"    - {json.dumps(['echo', *hostile])}\n"
        "    - [/nonexistent/pip-audit]\n"
        "  keys: {openai: {every: 30d}}\n"
    )
    setup = next(make_setup(tmp_path, maintenance, clock))
    (tmp_path / "runbooks" / "monthly-checks.yaml").write_text(MONTHLY_RUNBOOK)
    clock.set(utc(2026, 4, 3, 9, 1))
    result = setup.cli("maintenance", "run", "monthly")
    assert result.exit_code == 1, result.output  # findings
    [entry] = setup.cli_json("maintenance", "history", "monthly")
    keys, audit = entry["findings"]
    assert keys["status"] == "failed"
    assert keys["error"] == "1 key due for rotation: openai: never rotated (every 30 days)"
    assert audit["status"] == "failed"
    first, echoed, missing = audit["output"]["commands"]
    assert (first["exit_code"], first["finding"]) == (1, "exit 1")
    assert "1 vulnerability" in first["output"]
    assert echoed["finding"] is None
    assert echoed["output"] == " ".join(hostile) + "\n"  # arguments, never shell text
    assert missing["finding"].startswith("cannot start")


def test_the_serve_worker_runs_a_due_slot_and_stops_when_told(weekly: Setup) -> None:
    weekly.clock.set(utc(2026, 3, 22, 12))
    weekly.tick()
    weekly.clock.set(utc(2026, 3, 23, 8))

    def claimed() -> int:
        with weekly.store.reading() as session:
            return len(session.scalars(select(RoutineRun)).all())

    async def serve_once() -> None:
        stop = asyncio.Event()
        worker = RoutineWorker(weekly.config, weekly.store, default_registry(), clock=weekly.clock)
        task = asyncio.create_task(worker.run(stop))
        while not claimed():  # the round runs in a thread; the test's loop stays free
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(asyncio.wait_for(serve_once(), 60))  # fails instead of hanging
    assert claimed() == 1
