"""The forked child of the command server: it becomes one command.

It says STARTED first, reads the client's request (its terminal, folder, environment,
umask, ignored signals and arguments), takes them on, notes the command in the log
beside the socket, runs `opsbook.cli` exactly as the program would, and hands back the
exit status. The server never reads a request: no command's environment or arguments
pass through the server's memory, and a slow sender holds up only its own child.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import signal
import socket
import sys
import threading
import time
import traceback
import types
from pathlib import Path
from typing import Any, NoReturn, TextIO

from opsbook.cliserver import wire

REQUEST_TIMEOUT = 2.0  # seconds a connection has to send its whole request
LOG_LIMIT = 1 << 20  # bytes of the log beside the socket before it starts again


def run_command(conn: socket.socket, log: Path) -> NoReturn:
    """Become the command: the client's terminal, folder, environment and arguments. The
    exit status goes to the client from here too, so a server killed meanwhile does not
    turn a command that succeeded into "unknown"."""
    code = 1
    try:
        # First, from here: the client must hear STARTED before any EXITED (the child's
        # own, or the server's as it reaps), or it would run the command again itself.
        wire.send_reply(conn, wire.STARTED, os.getpid())
        for number in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        conn.settimeout(REQUEST_TIMEOUT)
        request, fds = wire.receive_request(conn, deadline=time.monotonic() + REQUEST_TIMEOUT)
        _take_terminal(request, fds)
        _note(log, request["argv"])
        _watch_client(conn)
        code = _run(request["argv"])
    except (OSError, ValueError, KeyError, TypeError):
        code = 1  # not a request: nothing ran, nothing to say to a terminal it never gave
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            wire.send_reply(conn, wire.EXITED, code)
        finally:
            os._exit(code)


def _take_terminal(request: dict[str, Any], fds: list[int]) -> None:
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    fds.clear()
    for number in request.get("ignored") or []:
        signal.signal(int(number), signal.SIG_IGN)  # as the client's caller left them
    os.chdir(request["cwd"])
    os.umask(int(request["umask"]))
    _take_limits(request.get("limits"))
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})
    time.tzset()  # local time by the client's TZ, not the server's
    streams = dict(request.get("streams") or {})
    sys.stdin = _stream(0, False, streams.get("stdin"))
    sys.stdout = _stream(1, True, streams.get("stdout"))
    sys.stderr = _stream(2, True, streams.get("stderr"))
    from opsbook.console import renew

    renew()


def _take_limits(given: object) -> None:
    """The client's resource limits, each no higher than this process's own hard limit
    (which a process cannot raise): the command never gets more than its caller had."""
    import resource

    if not isinstance(given, dict):
        return
    for name in wire.LIMITS:
        pair = given.get(name)
        which = getattr(resource, name, None)
        if which is None or not isinstance(pair, list) or len(pair) != 2:
            continue
        if not all(type(v) is int for v in pair):
            continue
        hard = _lowest(pair[1], resource.getrlimit(which)[1])
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (_lowest(pair[0], hard), hard))


def _lowest(a: int, b: int) -> int:
    """The lower of two limits, RLIM_INFINITY being the highest."""
    import resource

    if a == resource.RLIM_INFINITY:
        return b
    return a if b == resource.RLIM_INFINITY else min(a, b)


def _note(log: Path, argv: Any) -> None:
    """One line per command beside the socket: when, its pid, and its group and command
    when they are opsbook's names (never its arguments, which may carry a secret, and
    never a word that is not a known name: "?" stands for it)."""
    from opsbook.cli import command

    words = wire.command_words([str(a) for a in argv[1:]]) if isinstance(argv, list) else None
    known: list[str] = []
    group = command()
    for word in words or []:
        commands = getattr(group, "commands", {})
        group = commands.get(word) if word in commands else None
        known.append(word if group is not None else "?")
        if group is None:
            break
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    line = f"{when} {os.getpid()} {' '.join(known)}\n".encode("ascii", "backslashreplace")
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        if os.fstat(fd).st_size > LOG_LIMIT:
            os.ftruncate(fd, 0)
        os.write(fd, line)
    except OSError:
        pass
    finally:
        os.close(fd)


def _stream(fd: int, writing: bool, spec: Any) -> TextIO:
    """A standard stream over `fd` with the client's encoding and error handling."""
    encoding, errors = [*spec, None, None][:2] if isinstance(spec, list) else [None, None]
    raw = io.FileIO(fd, "w" if writing else "r", closefd=False)
    buffered = io.BufferedWriter(raw) if writing else io.BufferedReader(raw)
    return io.TextIOWrapper(
        buffered,
        encoding=str(encoding) if encoding else "utf-8",
        errors=str(errors) if errors else "strict",
        line_buffering=os.isatty(fd),
    )


def _watch_client(conn: socket.socket) -> None:
    """The client killed (it sends nothing more and never closes early otherwise): the
    command dies with it, as it would have in the client's own process."""

    def watch() -> None:
        try:
            conn.settimeout(None)
            while conn.recv(1):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="client-watch").start()


def _run(argv: list[str]) -> int:
    from opsbook.cli import main

    sys.argv = [str(a) for a in argv]
    # The program's __main__ is its script, not this module run with -m: click names the
    # program in usage lines from it ("opsbook", not "python -m opsbook.cliserver...").
    script = types.ModuleType("__main__")
    script.__file__ = sys.argv[0]
    sys.modules["__main__"] = script
    try:
        main()
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    return 0
