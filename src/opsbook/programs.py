"""A configured program run to its end: the monthly dependency audit, the pre-deployment
test command. An argument list, never shell text; its own process group, ended whole at
the timeout; the tail of its output kept, secrets masked (they may print a token)."""

from __future__ import annotations

import os
import signal
import subprocess
from contextlib import suppress
from pathlib import Path
from typing import Any

from opsbook.config.secrets import mask_text
from opsbook.tails import Tail, read_in_thread


def run_argv(
    argv: list[str], *, timeout: float, secrets: list[str], cwd: Path | None = None
) -> dict[str, Any]:
    """One command, its own process group (ended whole on timeout); the last 64 KiB of its
    output (tails.Tail: a command printing without end is read, not kept), masked.
    `finding` says what went wrong (exit N, timed out, cannot start), None when it passed."""
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return {"argv": argv, "exit_code": None, "finding": f"cannot start: {exc.strerror}"}
    assert process.stdout is not None
    tail = Tail()  # its end: where a failure says why
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
