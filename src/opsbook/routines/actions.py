"""The monthly work's two machine steps, as runbook actions the `monthly` runbook uses:

- `maintenance.dependency_audit`: each of `maintenance.audit_commands` (an argument list,
  never shell text) with `audit_timeout`; its output is kept, and a non-zero exit, a
  timeout or a program that cannot start is a finding (the step fails, the run goes on).
- `maintenance.key_rotation`: the keys of `maintenance.keys` due for rotation, each with
  the date it was last rotated; any due is a finding.
"""

from __future__ import annotations

import os
import signal
import subprocess
from contextlib import suppress
from typing import Any

from opsbook.config.secrets import mask_text
from opsbook.routines.keys import key_states
from opsbook.runbooks.actions import Action, ActionContext, ActionFailed, ActionInputs, Registry
from opsbook.runbooks.step_actions import BODY_LIMIT
from opsbook.tails import Tail, read_in_thread


class NoInputs(ActionInputs):
    pass


def run_argv(argv: list[str], *, timeout: float, secrets: list[str]) -> dict[str, Any]:
    """One command, its own process group (ended whole on timeout); the last 64 KiB of its
    output (tails.Tail: a command printing without end is read, not kept), masked."""
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return {"argv": argv, "exit_code": None, "finding": f"cannot start: {exc.strerror}"}
    assert process.stdout is not None
    tail = Tail(BODY_LIMIT)
    reader = read_in_thread(process.stdout, tail)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        finding: str | None = f"timed out after {timeout:g}s"
    else:
        finding = f"exit {process.returncode}" if process.returncode else None
    reader.join(timeout=10)
    return {
        "argv": argv,
        "exit_code": process.returncode,
        "finding": finding,
        "output": mask_text(tail.text(), secrets),
    }


def _audit(context: ActionContext, _inputs: NoInputs) -> dict[str, Any]:
    maintenance = context.config.maintenance
    timeout = min(context.timeout, maintenance.audit_timeout.total_seconds())
    results = [
        run_argv(list(argv), timeout=timeout, secrets=context.secrets)
        for argv in maintenance.audit_commands
    ]
    output: dict[str, Any] = {"commands": results}
    found = [f"{' '.join(r['argv'])}: {r['finding']}" for r in results if r["finding"]]
    if found:
        raise ActionFailed(f"findings: {'; '.join(found)}", output)
    return output


def _keys(context: ActionContext, _inputs: NoInputs) -> dict[str, Any]:
    with context.store.reading() as session:
        states = key_states(session, context.config, clock=context.clock)
    due = [s for s in states if s.due]
    output: dict[str, Any] = {
        "keys": [
            {
                "key": s.key,
                "last_rotated": s.last_rotated.isoformat() if s.last_rotated else None,
                "days_ago": s.days_ago,
                "every_days": s.every_days,
                "due": s.due,
                "says": s.sentence,
            }
            for s in states
        ]
    }
    if due:
        raise ActionFailed(
            f"{len(due)} key{'s' if len(due) != 1 else ''} due for rotation: "
            + "; ".join(s.sentence for s in due),
            output,
        )
    return output


def _describe_audit(_inputs: NoInputs) -> str:
    return "run maintenance.audit_commands (each an argument list, with audit_timeout)"


def register(registry: Registry) -> None:
    registry.register(
        Action(
            "maintenance.dependency_audit",
            "Run the configured dependency-audit commands; a non-zero exit is a finding.",
            NoInputs,
            _audit,
            _describe_audit,
        )
    )
    registry.register(
        Action(
            "maintenance.key_rotation",
            "List the API keys due for rotation, with when each was last rotated.",
            NoInputs,
            _keys,
            lambda _i: "list maintenance.keys due for rotation",
        )
    )
