"""`command` checks: the exit status of a command."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import time

from opsbook.config.checks import CommandCheck
from opsbook.watch.checks.fetch import short
from opsbook.watch.probe import ProbeContext
from opsbook.watch.result import CheckResult, State


async def run(check: CommandCheck, ctx: ProbeContext) -> CheckResult:
    now = ctx.clock.now()
    started = time.monotonic()
    if isinstance(check.command, list):
        process = await asyncio.create_subprocess_exec(
            *check.command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        label = shlex.join(check.command)
    else:
        # A string is the config author's own shell command, run as written: nothing is
        # templated into it (a list runs without a shell).
        process = await asyncio.create_subprocess_shell(
            check.command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        label = check.command
    try:
        output, _ = await asyncio.wait_for(process.communicate(), check.timeout.total_seconds())
    except TimeoutError:
        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        return CheckResult(
            check.name,
            "command",
            "down",
            f"$ {label}: still running after {check.timeout.total_seconds():g}s",
            now,
        )
    elapsed = round((time.monotonic() - started) * 1000, 1)
    text = short(output.decode(errors="replace").strip(), 160)
    code = process.returncode
    state: State = "ok" if code == check.ok_exit else "down"
    tail = f": {text}" if text else ""
    return CheckResult(
        check.name,
        "command",
        state,
        f"$ {label}: exit {code}{tail}",
        now,
        elapsed,
        {"exit_code": float(code or 0)},
    )
