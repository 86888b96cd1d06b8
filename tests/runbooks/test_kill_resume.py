"""A run killed with SIGKILL mid-step resumes: done steps are not repeated, the step in
flight is reported and retried."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import process_alive, wait_for
from tests.runbooks.conftest import Ops

pytestmark = pytest.mark.slow

SLOW = """\
    name: slow
    title: Slow
    parameters:
      flag: {type: str, required: true}
      log: {type: str, required: true}
    steps:
      - id: first
        title: Append a line
        run: echo first >> {{ params.log }}
      - id: wait
        title: Wait for the flag file
        run: while [ ! -f {{ params.flag }} ]; do sleep 0.05; done; echo released
        timeout: 5m
      - id: last
        title: Finish
        run: echo last >> {{ params.log }}
    """


def _start_slow_run(
    ops: Ops, flag: Path, log: Path, stderr: Any = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """`opsbook runbook run slow` as its own process, as a responder would start it."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "opsbook",
            "--config",
            str(ops.config),
            "runbook",
            "run",
            "slow",
            "--param",
            f"flag={flag}",
            "--param",
            f"log={log}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env={**os.environ},
    )


def test_sigkill_mid_step_then_resume(ops: Ops, tmp_path) -> None:
    ops.book("slow", SLOW)
    flag, log = tmp_path / "flag", tmp_path / "log"
    child = _start_slow_run(ops, flag, log)

    try:
        _wait_until_step_runs(ops, "wait")  # and its process is on record
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    [run] = ops.json("runbook", "runs")
    assert run["status"] == "interrupted"
    assert log.read_text() == "first\n"
    # The step's command does not outlive opsbook: its process group is killed with it.
    group = _step_process(ops, run["id"], "wait")
    wait_for(lambda: not process_alive(group), timeout=30)
    # It was audited before it acted, so the log shows it started and never ended.
    started = [
        (e["outcome"], e["unfinished"])
        for e in ops.json("audit", "list")
        if e["target"] == f"run {run['id']} step wait"
    ]
    assert started == [("started", True)]

    flag.touch()  # whatever the step was waiting for has now happened
    result = ops.run("runbook", "resume", str(run["id"]))
    assert result.exit_code == 0, result.output
    assert "step wait was in flight when the run stopped (attempt 1); retrying" in result.output
    assert log.read_text() == "first\nlast\n"  # the finished step was not repeated
    steps = _steps(ops, run["id"])
    assert [(s["id"], s["status"], s["attempts"]) for s in steps] == [
        ("first", "succeeded", 1),
        ("wait", "succeeded", 2),
        ("last", "succeeded", 1),
    ]
    again = ops.run("runbook", "resume", str(run["id"]))
    assert again.exit_code == 2
    assert "already succeeded: nothing to resume" in again.output


def _steps(ops: Ops, run_id: int) -> list[dict[str, Any]]:
    import sqlite3

    db = ops.root / "opsbook.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select step_id, status, attempts from runbook_step_runs where run_id = ?"
            " order by position",
            (run_id,),
        ).fetchall()
    return [{"id": r[0], "status": r[1], "attempts": r[2]} for r in rows]


def _step_process(ops: Ops, run_id: int, step_id: str) -> int:
    """The process group the step's command runs in, as the engine recorded it."""
    import sqlite3

    with sqlite3.connect(ops.root / "opsbook.db") as conn:
        [output] = conn.execute(
            "select output from runbook_step_runs where run_id = ? and step_id = ?",
            (run_id, step_id),
        ).fetchone()
    pid = json.loads(output)["process"]["pid"]
    assert isinstance(pid, int)
    return pid


def _wait_until_step_runs(ops: Ops, step_id: str) -> int:
    def running() -> bool:
        runs = ops.json("runbook", "runs")
        return bool(runs) and _step_status(ops, runs[0]["id"], step_id) == "running"

    wait_for(running, timeout=30)
    run_id = ops.json("runbook", "runs")[0]["id"]
    wait_for(lambda: "process" in _step_output(ops, run_id, step_id), timeout=30)
    return int(run_id)


def _step_output(ops: Ops, run_id: int, step_id: str) -> dict[str, Any]:
    import sqlite3

    with sqlite3.connect(ops.root / "opsbook.db") as conn:
        [output] = conn.execute(
            "select output from runbook_step_runs where run_id = ? and step_id = ?",
            (run_id, step_id),
        ).fetchone()
    found = json.loads(output) if output else {}
    return found if isinstance(found, dict) else {}


def _children(pid: int) -> list[tuple[int, bytes]]:
    """(pid, command line) of each live child of a process."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid:
            found.append((int(entry), command))
    return found


def test_sigterm_ends_the_step_and_records_it_interrupted(ops: Ops, tmp_path) -> None:
    ops.book("slow", SLOW)
    flag, log = tmp_path / "flag", tmp_path / "log"
    child = _start_slow_run(ops, flag, log, stderr=subprocess.PIPE)
    try:
        run_id = _wait_until_step_runs(ops, "wait")
        group = _step_process(ops, run_id, "wait")
    finally:
        child.send_signal(signal.SIGTERM)
        _out, stderr = child.communicate(timeout=30)
    assert child.returncode == 1
    assert f"run {run_id} interrupted (SIGTERM)" in stderr.decode()
    assert f"opsbook runbook resume {run_id}" in stderr.decode()
    assert not process_alive(group)  # ended before opsbook exited, not left behind
    [run] = ops.json("runbook", "runs")
    assert run["status"] == "interrupted"
    assert _step_status(ops, run_id, "wait") == "interrupted"

    flag.touch()
    result = ops.run("runbook", "resume", str(run_id))
    assert result.exit_code == 0, result.output
    assert "step wait was in flight when the run stopped" in result.output
    assert log.read_text() == "first\nlast\n"


def test_resume_refuses_while_the_step_process_still_runs(ops: Ops, tmp_path) -> None:
    ops.book("slow", SLOW)
    flag, log = tmp_path / "flag", tmp_path / "log"
    child = _start_slow_run(ops, flag, log)
    try:
        run_id = _wait_until_step_runs(ops, "wait")
        group = _step_process(ops, run_id, "wait")
        # The reaper is what ends the step when opsbook dies; with it gone first, the
        # step's process outlives opsbook, as it would if opsbook's host lost power
        # halfway through killing it.
        [reaper] = [pid for pid, cmd in _children(child.pid) if b"opsbook-reaper" in cmd]
        os.kill(reaper, signal.SIGKILL)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    try:
        assert process_alive(group)
        refused = ops.run("runbook", "resume", str(run_id))
        assert refused.exit_code == 2
        assert f"step wait is still running as process group {group}" in refused.output
        assert _step_status(ops, run_id, "wait") == "running"
    finally:
        os.killpg(group, signal.SIGKILL)
    wait_for(lambda: not process_alive(group), timeout=30)
    flag.touch()
    result = ops.run("runbook", "resume", str(run_id))
    assert result.exit_code == 0, result.output
    assert log.read_text() == "first\nlast\n"


def _step_status(ops: Ops, run_id: int, step_id: str) -> Any:
    return next(s["status"] for s in _steps(ops, run_id) if s["id"] == step_id)


def test_a_live_run_is_not_resumed_twice(ops: Ops, tmp_path) -> None:
    ops.book("slow", SLOW)
    flag, log = tmp_path / "flag", tmp_path / "log"
    child = _start_slow_run(ops, flag, log)
    try:
        wait_for(
            lambda: (
                bool(ops.json("runbook", "runs"))
                and _step_status(ops, ops.json("runbook", "runs")[0]["id"], "wait") == "running"
            ),
            timeout=30,
        )
        run_id = ops.json("runbook", "runs")[0]["id"]
        result = ops.run("runbook", "resume", str(run_id))
        assert result.exit_code == 2
        assert f"run {run_id} is still running (pid {child.pid})" in result.output
    finally:
        flag.touch()
        child.wait(timeout=30)
    assert json.loads(ops.run("runbook", "runs", "--json").stdout)[0]["status"] == "succeeded"
