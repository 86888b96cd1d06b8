"""The processes a run depends on: whether the run's own process, or a step's process
group, is still alive, and SIGTERM turned into an orderly stop.

A run records its pid and host, and a shell step its process group, before it waits on
anything; a resume reads them to refuse starting the same work twice.
"""

from __future__ import annotations

import os
import socket
from contextlib import AbstractContextManager

from opsbook import stopping
from opsbook.runbooks.records import RunRecord, StepRecord


class RunError(ValueError):
    """The run cannot start or resume (bad parameters, unknown run, already running)."""


class Interrupted(BaseException):
    """opsbook was told to stop (SIGTERM) while a run was going: the step in flight is
    ended and recorded as interrupted, so a resume starts it again."""


def refuse_if_still_running(run_id: int, step: StepRecord) -> None:
    process = (step.output or {}).get("process")
    if not isinstance(process, dict) or process.get("host") != socket.gethostname():
        return
    pid = process.get("pid")
    if isinstance(pid, int) and group_alive(pid):
        raise RunError(
            f"run {run_id}: step {step.step_id} is still running as process group {pid} "
            f"(started before opsbook stopped); not starting it twice. Wait for it, or end "
            f"it with: kill -TERM -{pid}"
        )


def group_alive(pgid: int) -> bool:
    """Whether any process of a group still runs; zombies (dead, not yet reaped) do not."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                state, _ppid, group = stat.read().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError, IndexError):
            continue
        if int(group) == pgid and state not in ("Z", "X"):
            return True
    return False


def stop_on_sigterm() -> AbstractContextManager[None]:
    """While a run goes, SIGTERM raises Interrupted in the main thread: the step in
    flight ends (its process group with it) and is recorded as interrupted."""
    return stopping.on_sigterm(Interrupted)


def shown_status(run: RunRecord) -> str:
    """`interrupted` for a run whose process died mid-way (killed, crashed, rebooted)."""
    if (
        run.status == "running"
        and run.host == socket.gethostname()
        and (run.pid is None or not alive(run.pid))
    ):
        return "interrupted"
    return run.status


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
