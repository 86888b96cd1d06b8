"""One rollback per env, with real processes: a live holder (its heartbeat moving) is never
taken over however long it runs; a SIGKILLed one is, once `lock_for` has passed without a
beat; a holder that was taken over cannot report a verdict; and a Ctrl-C of `opsbook deploy
rollback` (a real SIGINT) leaves the env unlocked, its record failed as interrupted."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from opsbook.clock import FrozenClock
from opsbook.deploy import locks
from opsbook.deploy.models import Deploy
from opsbook.store import open_store
from tests.conftest import process_alive, wait_for
from tests.deploy.conftest import NEW, Desk
from tests.deploy.test_rollback import command_yaml, configure
from tests.notify.fakes import FakeSlack

LOCK_FOR = dt.timedelta(seconds=4)

# A holder in a process of its own: claims the env, beats every second, holds until told.
HOLDER = textwrap.dedent(
    """
    import datetime as dt, pathlib, sys, time
    from opsbook.clock import SystemClock
    from opsbook.deploy import locks
    from opsbook.deploy.models import Deploy
    from opsbook.store import open_store

    store_url, folder, lock_for = sys.argv[1], pathlib.Path(sys.argv[2]), float(sys.argv[3])
    store, clock = open_store(store_url), SystemClock()
    now = clock.now()
    row = Deploy(kind="rollback", commit="c" * 40, env="production", actor=sys.argv[4],
                 url="http://x", stages=[], started_at=now, ended_at=now, deployment="d")
    try:
        row_id = locks.claim(store, row, lock_for=dt.timedelta(seconds=lock_for), clock=clock)
    except locks.Busy as exc:
        (folder / f"{sys.argv[4]}.busy").write_text(str(exc))
        sys.exit(3)
    every = dt.timedelta(seconds=lock_for / 4)
    with locks.Heartbeat(store, row_id, "production", every=every, clock=clock):
        (folder / f"{sys.argv[4]}.holds").write_text(str(row_id))
        while not (folder / "release").exists():
            time.sleep(0.05)
    locks.finish(store, row_id, "production", verdict="passed", failed_stage=None,
                 stages=[], clock=clock)
    """
)


def _holder(store_url: str, folder: Path, name: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-c", HOLDER, store_url, str(folder), "4", name]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _running(store_url: str) -> list[Deploy]:
    store = open_store(store_url)
    try:
        with store.reading() as session:
            found = list(session.scalars(select(Deploy).where(Deploy.kind == "rollback")))
            for row in found:
                session.expunge(row)
            return found
    finally:
        store.close()


def test_a_live_holder_is_never_taken_over_and_a_killed_one_is(
    tmp_path: Path, fresh_store_url: str
) -> None:
    open_store(fresh_store_url).close()
    first = _holder(fresh_store_url, tmp_path, "first")
    try:
        wait_for(lambda: (tmp_path / "first.holds").exists(), timeout=30)
        claimed = time.monotonic()
        # What is under test is the passing of lock_for while the holder lives.
        wait_for(lambda: time.monotonic() > claimed + 2 * LOCK_FOR.total_seconds(), timeout=30)
        second = _holder(fresh_store_url, tmp_path, "second")
        assert second.wait(timeout=60) == 3, second.stderr
        assert "is still running: one at a time" in (tmp_path / "second.busy").read_text()
    finally:
        first.kill()
        first.wait()
    killed = time.monotonic()
    wait_for(lambda: time.monotonic() > killed + LOCK_FOR.total_seconds() + 1, timeout=30)
    third = _holder(fresh_store_url, tmp_path, "third")
    try:
        wait_for(lambda: (tmp_path / "third.holds").exists(), timeout=30)
        (tmp_path / "release").write_text("")
        assert third.wait(timeout=60) == 0
    finally:
        third.kill()
        third.wait()
    rows = sorted(_running(fresh_store_url), key=lambda r: r.id)
    assert [(r.actor, r.verdict, r.running) for r in rows] == [
        ("first", "failed", None),
        ("third", "passed", None),
    ]
    assert rows[0].stages[0]["saw"] == "abandoned: its process ended"


def test_a_holder_that_was_taken_over_cannot_report_a_verdict(fresh_store_url: str) -> None:
    store = open_store(fresh_store_url)
    clock = FrozenClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    try:
        row = Deploy(
            kind="rollback", commit="c" * 40, env="production", actor="slow", url="http://x",
            stages=[], started_at=clock.now(), ended_at=clock.now(), deployment="d",
        )  # fmt: skip
        slow = locks.claim(store, row, lock_for=LOCK_FOR, clock=clock)
        clock.advance(LOCK_FOR + dt.timedelta(seconds=1))  # its heartbeat stalled
        row.actor = "new"
        taker = locks.claim(store, row, lock_for=LOCK_FOR, clock=clock)
        with pytest.raises(locks.TakenOver, match="taken over by another rollback"):
            locks.finish(
                store, slow, "production", verdict="passed", failed_stage=None, stages=[],
                clock=clock,
            )  # fmt: skip
        beat = locks.Heartbeat(store, slow, "production", every=LOCK_FOR, clock=clock)
        beat.beat()
        assert beat.lost
        locks.finish(
            store, taker, "production", verdict="passed", failed_stage=None, stages=[],
            clock=clock,
        )  # fmt: skip
    finally:
        store.close()
    rows = {r.actor: r for r in _running(fresh_store_url)}
    assert rows["slow"].verdict == "failed" and rows["new"].verdict == "passed"


def test_ctrl_c_of_a_rollback_leaves_the_env_unlocked(
    desk: Desk, slack: FakeSlack, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    script = tmp_path / "promote.py"
    script.write_text(
        f"import pathlib, signal\npathlib.Path({str(started)!r}).write_text('')\nsignal.pause()\n"
    )
    configure(desk, slack, command_yaml([sys.executable, str(script), "{deployment}"], "10m"))
    desk.deploy(NEW)
    assert desk.opsbook("deploy", "verify", "--commit", NEW, "--watch", "0").exit_code == 0
    argv = [sys.executable, "-m", "opsbook", "--config", str(desk.config), "deploy", "rollback"]
    process = subprocess.Popen(
        [*argv, "--to", "dpl-x", "--commit", NEW, "--reason", "r", "--watch", "0", "--yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_for(lambda: started.exists(), timeout=60)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process_alive(process.pid):
            process.kill()
            process.wait()
    [row] = _running(desk.store_url)
    assert row.running is None and row.verdict == "failed", row.verdict
    assert row.stages[0]["saw"].startswith("interrupted")
