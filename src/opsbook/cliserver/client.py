"""The `opsbook` program: a quick command runs in the warm server's child, the rest here.

Imports the standard library only until it knows the command runs here (`opsbook.cli`).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

from opsbook.cliserver import wire

TYPE_CHECKING = False  # no typing, pathlib or contextlib here: see wire
if TYPE_CHECKING:
    from types import FrameType
    from typing import NoReturn

SWITCH = "OPSBOOK_SERVER"  # "off" runs every command in the program itself
# The commands a person types to learn and to act at 3 a.m., each a few store queries: a
# group with None takes all its commands, else those named. Long runs (serve, runbook run,
# backup, drill, restore, deploy verify) gain nothing from a warm start and stay in process,
# where a signal reaches the command directly.
QUICK: dict[str, frozenset[str] | None] = {
    "status": None,
    "history": None,
    "incident": None,
    "oncall": None,
    "audit": None,
    "config": None,
    "runbook": frozenset({"list", "show", "suggest", "runs"}),
    "deploy": frozenset({"list"}),
    "backup": frozenset({"list"}),
    "drill": frozenset({"list"}),
    "maintenance": frozenset({"list"}),
    "notify": frozenset({"outbox"}),
    "store": frozenset({"status"}),
}
FORWARDED: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FORWARDED += (signal.SIGQUIT, signal.SIGWINCH, signal.SIGUSR1, signal.SIGUSR2)
CONNECT_TIMEOUT = 2.0  # seconds for the server to take the request; else it runs here
RETRY = 60.0  # seconds between attempts to start a server for one socket


def quick(argv: list[str]) -> bool:
    """Whether the command in `argv` (without the program's name) is one of QUICK; an
    option before it (--help, --version) is already quick in process."""
    words = wire.command_words(argv)
    if not words or words[0] not in QUICK:
        return False
    allowed = QUICK[words[0]]
    return allowed is None or (len(words) == 2 and words[1] in allowed)


def main() -> None:
    """Run the command: through the server when it is quick and a server answers."""
    if os.environ.get(SWITCH, "").lower() != "off" and quick(sys.argv[1:]):
        _through_server()
    _in_process()


def _in_process() -> NoReturn:
    from opsbook.cli import main as run

    run()
    raise SystemExit(0)


def _through_server() -> None:
    """Returns only when the command did not start in a server (it then runs here)."""
    path = wire.socket_path(os.environ)
    too_long = len(os.fsencode(path)) > wire.MAX_SOCKET_PATH
    if too_long or not wire.private_folder(os.path.dirname(path)):
        return
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(CONNECT_TIMEOUT)
        conn.connect(path)
    except OSError:
        conn.close()
        if _may_start(path):
            _start_server(path)
        return
    try:
        wire.send_request(conn, _request(), [0, 1, 2])
        reply = wire.receive_reply(conn)
    except (OSError, ValueError):
        conn.close()
        return
    if reply is not None and reply[0] == wire.REFUSED:
        conn.close()
        _start_server(path, replacing=True)  # the old one is stale: the next is served
        return
    if reply is None or reply[0] != wire.STARTED:
        conn.close()
        return
    conn.settimeout(None)
    _follow(conn, reply[1])


def _ignored() -> list[int]:
    """The signals this program's caller set to be ignored (nohup, a background job of a
    script): the command ignores them too, and they are not forwarded."""
    return [int(n) for n in (*FORWARDED, signal.SIGTSTP) if signal.getsignal(n) == signal.SIG_IGN]


def _limits() -> dict[str, list[int]]:
    import resource

    return {
        name: list(resource.getrlimit(getattr(resource, name)))
        for name in wire.LIMITS
        if hasattr(resource, name)
    }


def _request() -> dict[str, object]:
    umask = os.umask(0o022)
    os.umask(umask)
    streams = {"stdin": sys.stdin, "stdout": sys.stdout, "stderr": sys.stderr}
    return {
        "argv": sys.argv,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "umask": umask,
        "ignored": _ignored(),
        "limits": _limits(),
        "streams": {
            name: [getattr(s, "encoding", None), getattr(s, "errors", None)]
            for name, s in streams.items()
        },
    }


def _follow(conn: socket.socket, child: int) -> NoReturn:
    """Forward signals to the child until the server reports its exit, then exit the same
    way: with its code, or by its signal."""

    def forward(number: int, _frame: FrameType | None) -> None:
        try:  # noqa: SIM105 (contextlib is 8 ms of the start)
            os.kill(child, number)
        except OSError:
            pass

    def stop(_number: int, _frame: FrameType | None) -> None:
        # Ctrl-Z: the child is not in this terminal's process group, so stop it too.
        forward(signal.SIGSTOP, None)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)

    def resume(_number: int, _frame: FrameType | None) -> None:
        signal.signal(signal.SIGTSTP, stop)
        forward(signal.SIGCONT, None)

    ignored = _ignored()
    for number in FORWARDED:
        if number not in ignored:
            signal.signal(number, forward)
    if signal.SIGTSTP not in ignored:
        signal.signal(signal.SIGTSTP, stop)
        signal.signal(signal.SIGCONT, resume)
    try:
        reply = wire.receive_reply(conn)
    except OSError:
        reply = None
    if reply is None or reply[0] != wire.EXITED:
        _lost(child)
    status = reply[1]
    if status < 0:
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    os._exit(status & 0xFF)


def _lost(child: int) -> NoReturn:
    """The server went away while the command ran: wait for the command, say so."""
    while True:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        except PermissionError:
            break
        time.sleep(0.1)
    sys.stderr.write("opsbook: the command server went away; the exit status is unknown\n")
    os._exit(1)


def _may_start(path: str) -> bool:
    """Whether no server began for `path` in the last RETRY seconds: one that cannot start
    (its imports fail, its folder fills up) is tried again once a minute, not by every
    command, each paying a second of the machine's time for it."""
    try:
        return time.time() - os.stat(wire.beside(path, ".lock")).st_mtime > RETRY
    except OSError:
        return True


def _start_server(path: str, *, replacing: bool = False) -> None:
    """A server for the next quick command, detached from this terminal and session, with
    none of this command's environment beyond what its imports depend on, and none of its
    open files (a caller reading this command's output until it closes must not wait for
    the server too). `-P`: no folder the command ran in joins the server's imports."""
    import subprocess

    env = {**wire.import_env(os.environ), "PATH": os.environ.get("PATH", os.defpath)}
    if env.get("PYTHONPATH"):  # relative to this folder, not to the server's "/"
        parts = env["PYTHONPATH"].split(os.pathsep)
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in parts)
    try:  # noqa: SIM105 (contextlib is 8 ms of the start)
        subprocess.Popen(
            [sys.executable, "-P", "-m", "opsbook.cliserver.server", path]
            + (["--replacing"] if replacing else []),
            env=env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        pass
