"""The program's standard streams: writes that are never cut short without an error, and
output that cannot be written said in one line (exit 1) instead of a traceback."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys


def flush_output() -> None:
    """Standard output flushed here, so a write that fails is said like any other lost
    output (at the interpreter's exit it would be a traceback, or nothing)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # a reader that stopped (`| head`): click's, quiet
    except OSError as exc:
        if exc.errno not in CANNOT_WRITE:
            raise
        output_lost(exc, ours=True)


def whole_writes() -> None:
    """Standard output and error that never drop the rest of a write. Under
    PYTHONUNBUFFERED=1 (common in containers) Python writes text straight to the raw file,
    whose partial write (a file-size limit or a disk filling up mid-write) loses the rest
    with no error: `opsbook ... --json > f` left a cut file and exit 0. A buffered writer
    goes on writing until all is written or the error comes; a flush at each line keeps
    the output as prompt as unbuffered."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(getattr(stream, "buffer", None), io.FileIO):
            continue  # buffered already (the usual case, and the command server's child)
        raw = io.FileIO(stream.fileno(), "w", closefd=False)
        setattr(
            sys,
            name,
            io.TextIOWrapper(
                io.BufferedWriter(raw),
                encoding=stream.encoding,
                errors=stream.errors,
                line_buffering=True,
            ),
        )


# A full disk or quota, a dead terminal: the command's output cannot be written.
CANNOT_WRITE = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG}


def output_lost(exc: OSError, *, ours: bool = False) -> None:
    """One line on stderr instead of a traceback, and exit 1. When it is the console's
    output (or standard output, `ours`) that cannot be written, standard output goes to
    /dev/null so the interpreter's last flush of it cannot fail again; otherwise a file
    the command was writing is full, and the line says which when Python knows (what the
    command did before stays done)."""
    from opsbook.console import OutputLost, visible

    if ours or isinstance(exc, OutputLost):
        said = f"cannot write the output: {exc.strerror or exc}"
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
    else:
        where = f" ({visible(exc.filename)})" if exc.filename else ""
        said = f"cannot write a file{where}: {exc.strerror or exc}; what was done before stays"
    with contextlib.suppress(OSError):
        sys.stderr.write(f"error: {said}\n")
        sys.stderr.flush()
    raise SystemExit(1) from None
